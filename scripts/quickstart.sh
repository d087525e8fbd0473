#!/usr/bin/env bash
# Start the product on the embedded default: install, start a private MariaDB (binlog on), load sample
# tickets (the real corpora when ../shared/data is beside the project, else our demo sample), create an
# API key, then run snapshot + streaming sync + the query API in one service (Ctrl-C stops it).
set -euo pipefail
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT"
bash scripts/bootstrap.sh
bash scripts/mariadb.sh start
eval "$(bash scripts/mariadb.sh env)"
export TICKETSEARCH_STATE_DIR="${TICKETSEARCH_STATE_DIR:-$PROJECT/.state}"
TS=.venv/bin/ticketsearch
PORT="${TICKETSEARCH_API_PORT:-8080}"

tickets=$(.venv/bin/python - <<'PY'
import os, pymysql
from searchcore.dbconfig import MySQLSettings
c = pymysql.connect(**MySQLSettings.from_env(os.environ).connect_kwargs())
with c.cursor() as cur:
    cur.execute("SELECT COUNT(*) FROM tickets")
    print(cur.fetchone()[0])
PY
)
if [ "$tickets" = "0" ]; then
  if [ -f ../shared/data/tickets/medical_dialogue.csv ] && [ "${TICKETSEARCH_DEMO:-}" != "1" ]; then
    echo "loading the real corpora from ../shared/data/tickets ..."
    $TS load --data-dir ../shared/data/tickets
  else
    echo "loading the demo sample ..."
    $TS load --demo
  fi
fi
tenant=$(.venv/bin/python - <<'PY'
import os, pymysql
from searchcore.dbconfig import MySQLSettings
c = pymysql.connect(**MySQLSettings.from_env(os.environ).connect_kwargs())
with c.cursor() as cur:
    # the tenant where the example query (退款, refund) finds the most tickets, so the printed curl shows hits
    cur.execute("SELECT tenant_id FROM tickets WHERE description LIKE '%退款%' GROUP BY tenant_id"
                " ORDER BY COUNT(*) DESC, tenant_id LIMIT 1")
    row = cur.fetchone()
    if row is None:
        cur.execute("SELECT MIN(tenant_id) FROM tickets")
        row = cur.fetchone()
    print(row[0])
PY
)
key_file="$TICKETSEARCH_STATE_DIR/quickstart-key-$tenant"
if [ -s "$key_file" ]; then
  key=$(cat "$key_file")   # reuse the key of an earlier run instead of piling up keys
else
  mkdir -p "$TICKETSEARCH_STATE_DIR"
  key=$($TS keys create --tenant "$tenant" --label quickstart)
  (umask 077; printf '%s\n' "$key" > "$key_file")
fi
cat <<MSG

ticket search is starting: the API comes up first, then the initial snapshot runs (about a minute for the
real corpora; /v1/status shows its progress), then streaming. Try, in another terminal:

  curl -s -H 'Authorization: Bearer $key' 'http://127.0.0.1:$PORT/v1/tickets/search?q=%E9%80%80%E6%AC%BE' | python3 -m json.tool
  curl -s -H 'Authorization: Bearer $key' 'http://127.0.0.1:$PORT/v1/status' | python3 -m json.tool

(tenant $tenant; the query above is 退款 = refund). Stop with Ctrl-C; bash scripts/mariadb.sh stop stops MariaDB.

MSG
exec $TS run --port "$PORT"
