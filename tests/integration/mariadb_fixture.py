"""Start and stop private MariaDB instances for integration tests through scripts/mariadb.sh.

Input: a data directory (its parent holds the socket, pid file and error log, so give every instance
its own parent directory) and a TCP port. Output: ``MySQLSettings`` for root on 127.0.0.1:port, database
``helpdesk`` with the schema applied. Guarantee: never uses the machine's own MariaDB (3306); raises
``MariaDBScriptError`` carrying the command, exit code and output when the script fails.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from searchcore.dbconfig import MySQLSettings

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "scripts" / "mariadb.sh"
REPLICATION_USER = "ticketsearch"
REPLICATION_PASSWORD = "ticketsearch"


class MariaDBScriptError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.args_run = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"{' '.join(args)} exited with {returncode}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (never 3306)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 3306:
            return port


def run_script(
    command: str,
    datadir: Path,
    *,
    port: int | None = None,
    server_id: int | None = None,
    check: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/mariadb.sh COMMAND --datadir DATADIR [--port N] [--server-id N]``."""
    args = [str(SCRIPT), command, "--datadir", str(datadir)]
    if port is not None:
        args += ["--port", str(port)]
    if server_id is not None:
        args += ["--server-id", str(server_id)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise MariaDBScriptError(args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def start_private_mariadb(datadir: Path, port: int, server_id: int = 1) -> MySQLSettings:
    """Start (or find running) the instance of ``datadir`` on ``port``; return root settings."""
    run_script("start", Path(datadir), port=port, server_id=server_id)
    return MySQLSettings(host="127.0.0.1", port=port, user="root", password="", database="helpdesk")


def stop_private_mariadb(datadir: Path) -> None:
    """Shut the instance of ``datadir`` down cleanly and wait for its process to exit (no-op if stopped)."""
    run_script("stop", Path(datadir))
