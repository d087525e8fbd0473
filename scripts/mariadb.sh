#!/usr/bin/env bash
# Private MariaDB instance for development, tests and benchmarks.
#
# Input:  a command (start | stop | status | env) and options, as flags or environment variables:
#           --datadir DIR    TICKETSEARCH_MARIADB_DATADIR   default $PROJECT/.mariadb/data
#           --port N         TICKETSEARCH_MYSQL_PORT        default 3407
#           --server-id N    TICKETSEARCH_MARIADB_SERVER_ID default 1
# Output: start  - a mariadbd listening on 127.0.0.1:PORT with binlog ROW / FULL row image / FULL row
#                  metadata, database `helpdesk` with syncer/sql/helpdesk.sql applied, root with an empty
#                  password over TCP, and the replication user ticketsearch/ticketsearch.
#         stop   - the instance shut down cleanly (waits for its process to exit).
#         status - "running pid=.. port=.. datadir=.." (exit 0) or "stopped datadir=.." (exit 3).
#         env    - `export TICKETSEARCH_MYSQL_...=` lines for the instance.
# Guarantee: never reads /etc/mysql (mariadbd --no-defaults), never touches the machine's own MariaDB
# (port 3306, /run/mysqld); every file it writes lives in DATADIR and its parent directory (socket, pid
# file, error log). `start` on a running instance is a no-op. Several instances run side by side when
# their datadirs have different parent directories and their ports differ.
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATADIR="${TICKETSEARCH_MARIADB_DATADIR:-$PROJECT/.mariadb/data}"
PORT="${TICKETSEARCH_MYSQL_PORT:-3407}"
SERVER_ID="${TICKETSEARCH_MARIADB_SERVER_ID:-1}"
START_TIMEOUT=30
STOP_TIMEOUT=60
SCHEMA="$PROJECT/syncer/sql/helpdesk.sql"

usage() {
  echo "usage: $0 start|stop|status|env [--datadir DIR] [--port N] [--server-id N]" >&2
  exit 2
}

die() {
  echo "mariadb.sh: $*" >&2
  exit 1
}

[[ $# -ge 1 ]] || usage
CMD="$1"
shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --datadir) [[ $# -ge 2 ]] || usage; DATADIR="$2"; shift 2 ;;
    --datadir=*) DATADIR="${1#*=}"; shift ;;
    --port) [[ $# -ge 2 ]] || usage; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --server-id) [[ $# -ge 2 ]] || usage; SERVER_ID="$2"; shift 2 ;;
    --server-id=*) SERVER_ID="${1#*=}"; shift ;;
    -h|--help) usage ;;
    *) echo "mariadb.sh: unknown option '$1'" >&2; usage ;;
  esac
done

[[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "--port must be 1..65535, got '$PORT'"
[[ "$SERVER_ID" =~ ^[0-9]+$ ]] && ((SERVER_ID >= 1)) || die "--server-id must be a positive integer, got '$SERVER_ID'"
[[ "$PORT" != 3306 ]] || die "port 3306 belongs to the machine's own MariaDB; choose another --port"

mkdir -p "$(dirname "$DATADIR")"
DATADIR="$(cd "$(dirname "$DATADIR")" && pwd)/$(basename "$DATADIR")"
RUNDIR="$(dirname "$DATADIR")"
SOCKET="$RUNDIR/mysqld.sock"
PIDFILE="$RUNDIR/mysqld.pid"
ERRLOG="$RUNDIR/mysqld.err"
PORTFILE="$RUNDIR/mysqld.port"

# Binaries live in /usr/sbin, which a non-root PATH may lack.
find_bin() {
  local name="$1" dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
    if [[ -x "$dir/$name" ]]; then echo "$dir/$name"; return 0; fi
  done
  return 1
}

ensure_installed() {
  if find_bin mariadbd >/dev/null && find_bin mariadb-install-db >/dev/null \
      && find_bin mariadb >/dev/null && find_bin mariadb-admin >/dev/null; then
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || die "mariadbd is not installed and installing it needs root: apt-get install -y mariadb-server"
  echo "mariadb.sh: installing mariadb-server (Debian package, ~30 s)" >&2
  # The package's postinst may start the system service on 3306; this script never uses it.
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server >&2
  find_bin mariadbd >/dev/null || die "apt-get installed mariadb-server but mariadbd is still not found"
}

# Prints the pid of this datadir's running server, or nothing.
running_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(tr -dc '0-9' <"$PIDFILE")"
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # A recycled pid or another instance sharing this run directory is not ours.
  if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--datadir=$DATADIR"; then
    echo "$pid"
  elif tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'mariadbd\|mysqld'; then
    die "$PIDFILE belongs to a mariadbd with another datadir (pid $pid); give each instance its own parent directory"
  fi
}

recorded_port() {
  if [[ -f "$PORTFILE" ]]; then tr -dc '0-9' <"$PORTFILE"; else echo "$PORT"; fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

client() {
  "$(find_bin mariadb)" --no-defaults --protocol=TCP -h127.0.0.1 -P"$PORT" -uroot "$@"
}

ping_server() {
  "$(find_bin mariadb-admin)" --no-defaults --protocol=TCP -h127.0.0.1 -P"$PORT" -uroot \
    --connect-timeout=2 ping >/dev/null 2>&1
}

show_log_tail() {
  echo "---- last lines of $ERRLOG ----" >&2
  tail -n 40 "$ERRLOG" >&2 2>/dev/null || echo "(no error log)" >&2
}

initialize_datadir() {
  [[ -d "$DATADIR/mysql" ]] && return 0
  echo "mariadb.sh: initializing $DATADIR" >&2
  mkdir -p "$DATADIR"
  local args=(--no-defaults --datadir="$DATADIR" --auth-root-authentication-method=normal --skip-test-db)
  [[ "$(id -u)" == 0 ]] && args+=(--user=root)
  if ! "$(find_bin mariadb-install-db)" "${args[@]}" >"$RUNDIR/install-db.log" 2>&1; then
    cat "$RUNDIR/install-db.log" >&2
    rm -rf "$DATADIR"
    die "mariadb-install-db failed for $DATADIR (log above)"
  fi
}

post_start_setup() {
  # Idempotent: database, schema, replication user. mariadb-install-db (auth normal) already creates
  # root@127.0.0.1 without a password; the explicit account keeps TCP login working if that changes.
  client <<SQL || die "post-start setup failed on 127.0.0.1:$PORT"
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS helpdesk CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'ticketsearch'@'%' IDENTIFIED BY 'ticketsearch';
-- REPLICATION SLAVE: binlog dump. BINLOG MONITOR (REPLICATION CLIENT is its alias since 10.5):
-- SHOW MASTER STATUS / SHOW BINARY LOGS. SELECT: table metadata and snapshots.
GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'ticketsearch'@'%';
GRANT SELECT ON helpdesk.* TO 'ticketsearch'@'%';
SQL
  client helpdesk <"$SCHEMA" || die "loading $SCHEMA into helpdesk failed"
}

cmd_start() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    echo "mariadb.sh: already running (pid $pid, port $(recorded_port), datadir $DATADIR)"
    return 0
  fi
  if port_in_use "$PORT"; then
    die "port $PORT on 127.0.0.1 is already in use by another process; choose another --port"
  fi
  ensure_installed
  initialize_datadir
  rm -f "$SOCKET" "$PIDFILE"
  local args=(
    --no-defaults  # must be first: otherwise /etc/mysql/my.cnf and conf.d are read
    --datadir="$DATADIR"
    --port="$PORT"
    --bind-address=127.0.0.1
    --socket="$SOCKET"
    --pid-file="$PIDFILE"
    --log-error="$ERRLOG"
    --log-bin="$DATADIR/mysql-bin"
    --binlog-format=ROW
    --binlog-row-image=FULL
    --binlog-row-metadata=FULL
    --server-id="$SERVER_ID"
    --innodb-buffer-pool-size=256M
    # Test speedup: the redo log is written at each commit but fsynced once a second, not per commit
    # (tests and the loader commit many small transactions; measured here: 2,000 single-row commits take
    # 0.93 s with 1, 0.31-0.38 s with 2). A killed mariadbd loses nothing (the OS has the writes); only
    # a machine crash could lose the last second. Production keeps 1.
    --innodb-flush-log-at-trx-commit=2
    --character-set-server=utf8mb4
    --collation-server=utf8mb4_unicode_ci
    --max-allowed-packet=64M
  )
  [[ "$(id -u)" == 0 ]] && args+=(--user=root)
  local mariadbd
  mariadbd="$(find_bin mariadbd)"
  setsid nohup "$mariadbd" "${args[@]}" </dev/null >>"$RUNDIR/mysqld.stdout" 2>&1 &
  local child=$!
  echo "$PORT" >"$PORTFILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until ping_server; do
    if ! kill -0 "$child" 2>/dev/null; then
      show_log_tail
      die "mariadbd exited during startup (datadir $DATADIR, port $PORT)"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      kill -TERM "$child" 2>/dev/null || true
      die "mariadbd did not answer ping on 127.0.0.1:$PORT within ${START_TIMEOUT}s"
    fi
    sleep 0.1
  done
  post_start_setup
  echo "mariadb.sh: started (pid $child, port $PORT, server_id $SERVER_ID, datadir $DATADIR)"
}

cmd_stop() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    echo "mariadb.sh: not running (datadir $DATADIR)"
    return 0
  fi
  # Clean shutdown over the instance's own socket (no port needed); SIGTERM is the same clean shutdown.
  "$(find_bin mariadb-admin)" --no-defaults --socket="$SOCKET" -uroot shutdown >/dev/null 2>&1 \
    || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      show_log_tail
      die "mariadbd (pid $pid) did not exit within ${STOP_TIMEOUT}s"
    fi
    sleep 0.1
  done
  rm -f "$PORTFILE"
  echo "mariadb.sh: stopped (pid $pid, datadir $DATADIR)"
}

cmd_status() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    echo "running pid=$pid port=$(recorded_port) datadir=$DATADIR"
    return 0
  fi
  echo "stopped port=$PORT datadir=$DATADIR"
  return 3
}

cmd_env() {
  local port
  if [[ -n "$(running_pid)" ]]; then port="$(recorded_port)"; else port="$PORT"; fi
  echo "export TICKETSEARCH_MYSQL_HOST=127.0.0.1"
  echo "export TICKETSEARCH_MYSQL_PORT=$port"
  echo "export TICKETSEARCH_MYSQL_USER=root"
  echo "export TICKETSEARCH_MYSQL_PASSWORD="
  echo "export TICKETSEARCH_MYSQL_DATABASE=helpdesk"
}

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
