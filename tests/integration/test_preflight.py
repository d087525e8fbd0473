"""Acceptance (issue 3, item 7): preflight refuses each wrong binlog setting with a message naming it; a
checkpoint whose binlog file was purged is reported with the command that re-snapshots, and that
command (`ticketsearch sync --resnapshot`, i.e. SyncService.request_resnapshot) recovers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest
from mariadb_fixture import free_port, start_private_mariadb, stop_private_mariadb
from support import execute_each as run

from searchcore.dbconfig import MySQLSettings
from syncer.preflight import RESNAPSHOT_COMMAND, CheckpointPurged, PreflightError, preflight
from syncer.service import SyncService
from syncer.settings import SyncSettings

pytestmark = pytest.mark.integration


@pytest.fixture()
def private_db(tmp_path: Path) -> Iterator[MySQLSettings]:
    datadir = tmp_path / "mdb" / "data"
    db = start_private_mariadb(datadir, free_port())
    try:
        yield db
    finally:
        stop_private_mariadb(datadir)



@pytest.mark.parametrize(("variable", "bad", "good"), [
    ("binlog_format", "MIXED", "ROW"),
    ("binlog_format", "STATEMENT", "ROW"),
    ("binlog_row_image", "MINIMAL", "FULL"),
    ("binlog_row_image", "NOBLOB", "FULL"),
    ("binlog_row_metadata", "MINIMAL", "FULL"),
    ("binlog_row_metadata", "NO_LOG", "FULL"),
])
def test_preflight_refuses_each_wrong_setting(private_db: MySQLSettings, variable: str, bad: str, good: str) -> None:
    preflight(private_db)
    run(private_db, f"SET GLOBAL {variable} = '{bad}'")
    try:
        with pytest.raises(PreflightError) as err:
            preflight(private_db)
        assert err.value.variable == variable and err.value.actual == bad
        assert variable in str(err.value) and f"SET GLOBAL {variable}=" in str(err.value)
    finally:
        run(private_db, f"SET GLOBAL {variable} = '{good}'")
    preflight(private_db)


def test_purged_checkpoint_names_the_resnapshot_command(private_db: MySQLSettings, tmp_path: Path) -> None:
    run(private_db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description)"
                    " VALUES (1, 1, 'T-1', 'jam', 'x')")
    settings = replace(SyncSettings(source=private_db, state_dir=tmp_path / "state"), tailer_process=False)
    service = SyncService(settings)
    try:
        service.ensure_snapshot()
        run(private_db, "UPDATE tickets SET subject='lost to streaming' WHERE id=1", "FLUSH BINARY LOGS",
            "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES (1, 2, 'T-2', 'b', 'y')",
            "FLUSH BINARY LOGS")
        conn = pymysql.connect(**private_db.connect_kwargs())
        with conn.cursor() as cur:    # InnoDB's binlog checkpoint may keep a file a moment: retry
            for _ in range(50):
                cur.execute("FLUSH BINARY LOGS")
                cur.execute("SHOW MASTER STATUS")
                row = cur.fetchone()
                assert row is not None
                cur.execute(f"PURGE BINARY LOGS TO '{row[0]}'")
                cur.execute("SHOW BINARY LOGS")
                if len(cur.fetchall()) == 1:
                    break
                time.sleep(0.2)
        conn.close()
        with pytest.raises(CheckpointPurged) as err:
            service.stream(until=lambda: False)
        assert RESNAPSHOT_COMMAND in str(err.value) and err.value.command == RESNAPSHOT_COMMAND
        service.request_resnapshot(reason="test")
        report = service.ensure_snapshot()
        assert report is not None and report.tickets == 2
        docs = {d.ticket_id: d for d in service.backend.all_documents(1)}
        assert docs[1].fields["subject"] == "lost to streaming" and 2 in docs
    finally:
        service.close()
