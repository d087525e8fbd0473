"""The service as an operator runs it: one sync service per state folder (a second is refused with a clear
message and the first keeps streaming), `ticketsearch run` serves the API during the snapshot, reports each
tenant's applied position after it, and stops its API child on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pymysql
import pytest
from mariadb_fixture import free_port
from support import PROJECT, SyncProcess, env_for, wait_synced

from queryapi.auth import create_key
from searchcore.dbconfig import MySQLSettings
from syncer.load import load_demo

pytestmark = pytest.mark.integration


def test_a_second_sync_on_the_same_state_is_refused(fresh_db: MySQLSettings, state_dir: Path) -> None:
    load_demo(fresh_db)
    first = SyncProcess(fresh_db, state_dir).start()
    wait_synced(fresh_db, state_dir, process=first)
    second = subprocess.run([sys.executable, "-m", "ticketsearch.cli", "sync"], cwd=PROJECT, capture_output=True,
                            text=True, env=env_for(fresh_db, state_dir), timeout=120)
    assert second.returncode == 1
    assert "already owns" in second.stderr and str(first.proc.pid if first.proc else "") in second.stderr
    assert "Traceback" not in second.stderr
    conn = pymysql.connect(**fresh_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("UPDATE tickets SET subject='第二个同步进程被拒绝后仍在同步' WHERE tenant_id=1 AND id=1")
    conn.close()
    wait_synced(fresh_db, state_dir, process=first)  # the first one was not disturbed
    first.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_serves_during_snapshot_reports_applied_and_stops_on_sigterm(fresh_db: MySQLSettings,
                                                                          state_dir: Path) -> None:
    load_demo(fresh_db)
    key = create_key(fresh_db, 1, "agent")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ticketsearch.cli", "run", "--port", str(port)], cwd=PROJECT,
                            env=env_for(fresh_db, state_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            if _listening(port):
                resp = httpx.get(f"http://127.0.0.1:{port}/v1/status", headers={"Authorization": f"bearer {key}"})
                assert resp.status_code == 200, resp.text  # lower-case scheme accepted
                status = resp.json()
                if status["synced_to"] is None:
                    assert status["snapshot"]["running"] is True  # the snapshot says it is loading
                elif status["tenants"][0]["documents"] == 20:
                    assert status["snapshot"] is None
                    break
            time.sleep(0.2)
        assert status is not None and status["tenants"][0]["applied"] is not None, status
        missing = httpx.get(f"http://127.0.0.1:{port}/v1/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 15
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _listening(port), "the API child outlived the service"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
