#!/usr/bin/env bash
# The whole test suite: installs what it needs, then pytest. The integration tests start their own
# private MariaDB instances through scripts/mariadb.sh (never the machine's own server).
set -euo pipefail
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT"
bash scripts/bootstrap.sh --test
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest -q -rs -p no:cacheprovider --durations=30 "$@" tests
