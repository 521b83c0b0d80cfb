#!/usr/bin/env bash
# vdirsyncer and khal, the calendar clients the tests subscribe to our feeds with, in a virtualenv of
# their own (.venv-calendar-tools) so their dependencies never meet the project's pins. Every
# package is pinned, dependencies included, so each machine gets the same clients. Idempotent:
# builds the virtualenv only when it is missing, broken or the pins below change. Prints nothing
# on success; on failure, prints the installer's output.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

venv=.venv-calendar-tools
python=${PYTHON:-python3}
pins=(
  khal==0.14.1
  vdirsyncer==0.21.0
  aiohappyeyeballs==2.7.1
  aiohttp==3.14.5
  aiosignal==1.4.0
  aiostream==0.7.2
  attrs==26.1.0
  certifi==2026.10.18
  charset-normalizer==3.5.2
  click==8.5.1
  click-log==0.4.0
  configobj==5.0.9
  frozenlist==1.8.0
  icalendar==7.3.0
  idna==3.20
  multidict==7.2.1
  propcache==0.5.4
  python-dateutil==4.0.0
  pytz==2026.6
  pyxdg==0.28
  requests==2.34.2
  tenacity==9.2.1
  typing_extensions==4.16.0
  tzdata==2026.6
  tzlocal==5.4.5
  urllib3==2.8.0
  urwid==5.1.0
  wcwidth==0.9.4
  yarl==1.25.1
)
stamp="$venv/.installed-$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-16)"

if [ -f "$stamp" ] && [ -x "$venv/bin/khal" ] && [ -x "$venv/bin/vdirsyncer" ] \
  && "$venv/bin/python" -c '' >/dev/null 2>&1; then
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() {
  echo "calendar-tools: $1" >&2
  cat "$log" >&2
  exit 1
}

if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # Debian's own python3 ships virtualenv support as a separate package.
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv; } \
    >"$log" 2>&1 || fail "could not install python3-venv"
fi

rm -rf "$venv"
"$python" -m venv "$venv" >"$log" 2>&1 || fail "could not create $venv with $python"
"$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check "${pins[@]}" >"$log" 2>&1 \
  || fail "pip install into $venv failed"
"$venv/bin/python" -m pip check --disable-pip-version-check >"$log" 2>&1 || fail "inconsistent packages in $venv"
"$venv/bin/khal" --version >"$log" 2>&1 || fail "khal does not start"
"$venv/bin/vdirsyncer" --version >"$log" 2>&1 || fail "vdirsyncer does not start"
touch "$stamp"
