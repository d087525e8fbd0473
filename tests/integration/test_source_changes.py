"""Acceptance (issue 3, items 5-6): the replication connection killed server-side and MariaDB restarted
mid-stream — every committed transaction is emitted exactly once (checked against the server's own
GTIDs), positions strictly increasing; RESET MASTER while the product runs — a new version epoch, the
tenants re-snapshotted, later changes reach the index. Each test runs its own private MariaDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest
from mariadb_fixture import free_port, start_private_mariadb, stop_private_mariadb
from support import compare_index_with_db, source_position
from support import execute_each as run

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import split_version
from syncer.checkpoint import CheckpointStore
from syncer.events import Transaction
from syncer.service import SyncService, open_backend
from syncer.settings import SyncSettings
from syncer.tailer import TailerConfig, current_position, tail_forever

pytestmark = pytest.mark.integration


@pytest.fixture()
def private_db(tmp_path: Path) -> Iterator[tuple[MySQLSettings, Path]]:
    datadir = tmp_path / "mdb" / "data"
    db = start_private_mariadb(datadir, free_port())
    try:
        yield db, datadir
    finally:
        stop_private_mariadb(datadir)



def server_gtids(db: MySQLSettings, table: str) -> list[str]:
    """GTIDs of the transactions that wrote rows of `table`, from the server's own binlog listing."""
    conn = pymysql.connect(**db.connect_kwargs())
    out: list[str] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            for (name, *_rest) in cur.fetchall():
                cur.execute(f"SHOW BINLOG EVENTS IN '{name}'")
                gtid = None
                for row in cur.fetchall():
                    kind, info = str(row[2]), str(row[5])
                    if kind == "Gtid":
                        gtid = info.split("GTID ")[-1].split()[0]
                    elif (kind == "Table_map" and f".{table})" in info and gtid is not None
                          and (not out or out[-1] != gtid)):
                        out.append(gtid)
    finally:
        conn.close()
    return out


def test_killed_connection_and_server_restart_emit_each_transaction_once(
        private_db: tuple[MySQLSettings, Path]) -> None:
    db, datadir = private_db
    run(db, "CREATE TABLE seqlog (n INT PRIMARY KEY, pad VARCHAR(200))")
    start = current_position(db)
    config = TailerConfig(source=db, tables=frozenset({"seqlog"}), json_columns={}, epoch=1, heartbeat_s=1.0,
                          reconnect_max_s=0.5)
    got: list[Transaction] = []
    stop = threading.Event()
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            for txn in tail_forever(config, start, should_stop=stop.is_set):
                got.append(txn)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    n = 0

    def write(count: int) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            run(db, f"INSERT INTO seqlog VALUES ({n}, REPEAT('x', 150))")

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 60
        while sum(len(t.changes) for t in got) < count and time.monotonic() < deadline:
            assert not failure, failure
            time.sleep(0.05)

    write(200)
    wait_for(100)
    conn = pymysql.connect(**db.connect_kwargs())
    with conn.cursor() as cur:     # kill the replication connection server-side
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
        dumps = [r[0] for r in cur.fetchall()]
        assert dumps
        for pid in dumps:
            cur.execute(f"KILL {int(pid)}")
    conn.close()
    write(200)
    wait_for(300)
    stop_private_mariadb(datadir)  # restart the server mid-stream
    time.sleep(1.0)
    start_private_mariadb(datadir, db.port)
    write(200)
    wait_for(600)
    stop.set()
    thread.join(timeout=30)
    assert not failure, failure

    values = [c.after["n"] for t in got for c in t.changes if c.after is not None]
    assert values == list(range(1, 601))                       # each committed row exactly once, in order
    ends = [t.end for t in got]
    assert all(a < b for a, b in zip(ends, ends[1:], strict=False)), "positions must strictly increase"
    emitted = [t.end.gtid for t in got if t.changes]
    assert emitted == server_gtids(db, "seqlog")               # the server's own list of transactions
    assert len({e.file for e in ends}) >= 2                     # the restart rotated the binlog


def wait_until(predicate: object, timeout: float = 90.0, what: object = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not reached: {what() if callable(what) else what}")


def test_reset_master_starts_new_epoch_and_resnapshots(private_db: tuple[MySQLSettings, Path], tmp_path: Path) -> None:
    db, _ = private_db
    state = tmp_path / "state"
    run(db, "INSERT INTO tenants (id, slug, name) VALUES (1, 'a', 'A'), (2, 'b', 'B')",
        "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES"
        " (1, 1, 'T-1', 'printer jam', 'x'), (1, 2, 'T-2', 'login', 'y'), (2, 1, 'T-1', 'other', 'z')",
        "INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (1, 1, 1, 'reply')")
    service = SyncService(replace(SyncSettings(source=db, state_dir=state), tailer_process=False))
    service.ensure_snapshot()
    thread = threading.Thread(target=service.stream, daemon=True)
    thread.start()
    store = CheckpointStore(state)
    try:
        run(db, "UPDATE tickets SET subject='printer jam again' WHERE tenant_id=1 AND id=1")
        target = source_position(db)
        wait_until(lambda: (c := store.load()) is not None and c.position is not None and target <= c.position,
                   what=lambda: (store.load(), target))
        assert store.load().epoch == 1  # type: ignore[union-attr]
        run(db, "RESET MASTER")
        run(db, "UPDATE tickets SET subject='after reset' WHERE tenant_id=1 AND id=2",
            "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES (2, 7, 'T-7', 'new', 'n')",
            "DELETE FROM ticket_comments WHERE tenant_id=1 AND id=1")

        def caught_up() -> bool:
            c = store.load()
            return (c is not None and c.epoch == 2 and c.position is not None
                    and source_position(db) <= c.position)

        wait_until(caught_up, what=lambda: (store.load(), source_position(db)))
        assert thread.is_alive()
        run(db, "UPDATE tickets SET subject='later write' WHERE tenant_id=2 AND id=1")
        wait_until(lambda: (c := store.load()) is not None and c.position is not None
                   and source_position(db) <= c.position)
    finally:
        service.stop_event.set()
        thread.join(timeout=30)
        service.close()
    assert compare_index_with_db(db, state) == {"missing": [], "extra": [], "stale": []}
    backend = open_backend(SyncSettings(source=db, state_dir=state), writable=False)
    try:
        for tenant in (1, 2):
            for doc in backend.all_documents(tenant):
                assert split_version(doc.version)[0] == 2, (tenant, doc.ticket_id)   # re-snapshotted in epoch 2
        assert backend.all_documents(2)[0].fields["subject"] in ("later write", "new")
    finally:
        backend.close()
