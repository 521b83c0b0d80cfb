from conference.cli import main

main()
