"""scripts/mariadb.sh against a real private MariaDB: binlog settings, replication user, idempotent start,
two instances side by side, clean stop and restart of an initialized datadir."""

from __future__ import annotations

import socket
from pathlib import Path

import pymysql
import pytest
from mariadb_fixture import (
    REPLICATION_PASSWORD,
    REPLICATION_USER,
    free_port,
    run_script,
    start_private_mariadb,
    stop_private_mariadb,
)

from searchcore.dbconfig import MySQLSettings

pytestmark = pytest.mark.integration


def _query(
    settings: MySQLSettings, sql: str, *, user: str | None = None, password: str | None = None
) -> list[tuple[object, ...]]:
    kwargs = settings.connect_kwargs(with_database=False)
    kwargs["ssl_disabled"] = True  # PyMySQL 1.2 builds a default SSL context per connect otherwise (~50 ms)
    if user is not None:
        kwargs["user"] = user
        kwargs["password"] = password or ""
    conn = pymysql.connect(**kwargs)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid(datadir: Path) -> str:
    out = run_script("status", datadir).stdout
    assert out.startswith("running "), out
    return out.split("pid=")[1].split()[0]


def test_start_configures_binlog_users_and_is_idempotent(tmp_path: Path) -> None:
    datadir = tmp_path / "one" / "data"
    port = free_port()
    settings = start_private_mariadb(datadir, port, server_id=1)
    try:
        [(fmt, image, metadata, server_id, log_bin)] = _query(
            settings,
            "SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id, @@log_bin",
        )
        assert (fmt, image, metadata, server_id, log_bin) == ("ROW", "FULL", "FULL", 1, 1)
        [(datadir_var, charset)] = _query(settings, "SELECT @@datadir, @@character_set_server")
        assert Path(str(datadir_var)).resolve() == datadir.resolve()
        assert charset == "utf8mb4"
        tables = {r[0] for r in _query(settings, "SHOW TABLES FROM helpdesk")}
        assert {"tenants", "users", "tickets", "ticket_comments", "tags", "ticket_tags", "api_keys"} <= tables

        status = _query(settings, "SHOW MASTER STATUS", user=REPLICATION_USER, password=REPLICATION_PASSWORD)
        assert len(status) == 1 and str(status[0][0]).startswith("mysql-bin.")
        logs = _query(settings, "SHOW BINARY LOGS", user=REPLICATION_USER, password=REPLICATION_PASSWORD)
        assert logs
        assert _query(
            settings,
            "SELECT COUNT(*) FROM helpdesk.tickets",
            user=REPLICATION_USER,
            password=REPLICATION_PASSWORD,
        ) == [(0,)]

        pid = _pid(datadir)
        again = run_script("start", datadir, port=port)
        assert "already running" in again.stdout
        assert _pid(datadir) == pid

        env = run_script("env", datadir).stdout
        assert f"export TICKETSEARCH_MYSQL_PORT={port}" in env.splitlines()
    finally:
        stop_private_mariadb(datadir)
    assert not _port_open(port)
    status_proc = run_script("status", datadir, check=False)
    assert status_proc.returncode == 3 and status_proc.stdout.startswith("stopped")
    assert not (datadir.parent / "mysqld.sock").exists()

    # An initialized datadir starts again without reinstalling, data kept.
    settings = start_private_mariadb(datadir, port)
    try:
        assert _query(settings, "SELECT COUNT(*) FROM helpdesk.tenants") == [(0,)]
    finally:
        stop_private_mariadb(datadir)


def test_two_instances_side_by_side(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "data", tmp_path / "b" / "data"
    port_a = free_port()
    s1 = start_private_mariadb(first, port_a, server_id=11)
    try:
        port_b = free_port()
        s2 = start_private_mariadb(second, port_b, server_id=12)
        try:
            assert _query(s1, "SELECT @@server_id") == [(11,)]
            assert _query(s2, "SELECT @@server_id") == [(12,)]
            _query(s1, "CREATE TABLE helpdesk.only_in_a (x INT)")
            assert _query(s2, "SHOW TABLES FROM helpdesk LIKE 'only_in_a'") == []
        finally:
            stop_private_mariadb(second)
        assert _query(s1, "SELECT 1") == [(1,)]  # stopping one leaves the other running
    finally:
        stop_private_mariadb(first)


def test_start_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        proc = run_script("start", tmp_path / "x" / "data", port=port, check=False)
    assert proc.returncode != 0
    assert f"port {port}" in proc.stderr


def test_stop_when_not_running_is_a_noop(tmp_path: Path) -> None:
    proc = run_script("stop", tmp_path / "never" / "data")
    assert "not running" in proc.stdout
