# Shared by scripts/serve and scripts/test: a project virtualenv, reinstalled only when
# pyproject.toml changes. $1 names the extras to install ("" or "test").
ensure_venv() {
  local extras=$1 python=${PYTHON:-python3}
  local spec="." stamp
  [ -n "$extras" ] && spec=".[$extras]"
  stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras:-base}"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e "$spec"
    touch "$stamp"
  fi
}
