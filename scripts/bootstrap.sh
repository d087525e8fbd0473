#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine: MariaDB server binaries (Debian package),
# a virtual environment in .venv with the pinned Python packages (pyproject.toml). Idempotent.
# `--test` also installs what only the test suite needs (docker-compose to validate docker-compose.yml,
# Chromium and CJK fonts for the browser tests).
set -euo pipefail
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT"

need_apt=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v mariadb-install-db >/dev/null 2>&1 || [ -x /usr/bin/mariadb-install-db ] || need_apt+=(mariadb-server)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${1:-}" = "--test" ]; then
  command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
  # Browser tests (tests/browser): Debian's Chromium, driven by pip's playwright (which never downloads a
  # browser), and CJK fonts so Chinese text renders (no tofu) in the screenshots.
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1   # pip's playwright drives /usr/bin/chromium; it never fetches one
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the pinned Python packages into .venv (first run: a minute or two)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v -i "warning" || true
  .venv/bin/python -c 'import tantivy, rjieba, pymysqlreplication, fastapi' # fail loudly if the install failed
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/python --version), $(mariadbd --version 2>/dev/null | head -1 || /usr/sbin/mariadbd --version | head -1))"
