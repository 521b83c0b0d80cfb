#!/usr/bin/env bash
# Debian packages and local servers the tests use. Idempotent: installs only what is missing and
# starts only what is not answering.
set -euo pipefail

need_packages=()
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
command -v node >/dev/null 2>&1 || need_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || need_packages+=(npm)
command -v pg_ctlcluster >/dev/null 2>&1 || need_packages+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
command -v turnserver >/dev/null 2>&1 || need_packages+=(coturn)
command -v openssl >/dev/null 2>&1 || need_packages+=(openssl)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "Installing ${need_packages[*]} ..."
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "Starting PostgreSQL ..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis ..."
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
