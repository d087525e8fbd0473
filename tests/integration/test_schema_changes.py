"""Acceptance (issue 3, items 2-4): schema changes while streaming and primary-key changes.

ALTER ... ADD COLUMN AFTER while the syncer lags decodes every row with its own layout; TRUNCATE of the
comments table empties the comments of the affected documents; DROP COLUMN stops the field being
indexed for new writes; DROP TABLE and replays of a dropped table's events do not crash; a gh-ost style
shadow-table swap leaves each ticket indexed once and never indexes shadow rows; an UPDATE of a
ticket's primary key removes the old document and creates the new one with its comments."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support import compare_index_with_db, wait_synced
from support import execute as sql

from searchcore.dbconfig import MySQLSettings
from syncer.events import Op
from syncer.schema_events import DDLKind
from syncer.service import SyncService, open_backend
from syncer.settings import SyncSettings
from syncer.tailer import TailerConfig, current_position, tail

pytestmark = pytest.mark.integration



def ticket(tenant: int, tid: int, subject: str, category: str = "billing") -> tuple[str, Any]:
    return ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, category)"
            " VALUES (%s, %s, %s, %s, %s, %s)", (tenant, tid, f"T-{tid}", subject, f"body of {subject}", category))


def comment(tenant: int, cid: int, tid: int, body: str) -> tuple[str, Any]:
    return ("INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (%s, %s, %s, %s)",
            (tenant, cid, tid, body))


class Service:
    """The sync service streaming in a thread of this process."""

    def __init__(self, db: MySQLSettings, state_dir: Path) -> None:
        self.db = db
        self.state_dir = state_dir
        self.service = SyncService(replace(SyncSettings(source=db, state_dir=state_dir), tailer_process=False))
        self.service.ensure_snapshot()
        self.thread: threading.Thread | None = None

    def start(self) -> Service:
        self.thread = threading.Thread(target=self.service.stream, daemon=True)
        self.thread.start()
        return self

    def sync(self) -> None:
        wait_synced(self.db, self.state_dir, timeout=60)
        assert self.thread is not None and self.thread.is_alive(), "stream thread died"

    def docs(self, tenant: int) -> dict[int, Any]:
        backend = open_backend(self.service.settings, writable=False)
        try:
            return {d.ticket_id: d for d in backend.all_documents(tenant)}
        finally:
            backend.close()

    def stop(self) -> None:
        self.service.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.service.close()


@pytest.fixture()
def seeded(fresh_db: MySQLSettings) -> MySQLSettings:
    sql(fresh_db, "INSERT INTO tenants (id, slug, name) VALUES (1, 'one', 'One'), (2, 'two', 'Two')",
        ticket(1, 1, "printer jam"), ticket(1, 2, "login fails"), ticket(2, 1, "other tenant"),
        comment(1, 10, 1, "first reply"), comment(1, 11, 1, "second reply"), comment(1, 12, 2, "reply on two"),
        comment(2, 10, 1, "tenant two reply"))
    return fresh_db


@pytest.fixture()
def service(seeded: MySQLSettings, state_dir: Path) -> Iterator[Service]:
    s = Service(seeded, state_dir)
    yield s
    s.stop()


def test_add_column_after_while_lagging_keeps_each_rows_layout(seeded: MySQLSettings, service: Service) -> None:
    start = current_position(seeded)
    sql(seeded, ticket(1, 3, "before alter"),
        ("UPDATE tickets SET subject='jam fixed' WHERE tenant_id=1 AND id=1", None))
    sql(seeded, "ALTER TABLE tickets ADD COLUMN c VARCHAR(20) NULL AFTER subject")
    sql(seeded, ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, c, description)"
                 " VALUES (1, 4, 'T-4', 'after alter', 'cval', 'body after')", None),
        ("UPDATE tickets SET subject='before alter, updated' WHERE tenant_id=1 AND id=3", None))
    config = TailerConfig(source=seeded, tables=frozenset({"tickets"}), json_columns={}, epoch=1)
    txns = list(tail(config, start, blocking=False))
    rows = [(c.op, c.after) for t in txns for c in t.changes if c.table == "tickets"]
    assert [r[1]["id"] for r in rows if r[1]] == [3, 1, 4, 3]
    before, after = rows[:2], rows[2:]
    for _, row in before:
        assert row is not None and "c" not in row
    assert rows[0][1] is not None and rows[0][1]["subject"] == "before alter"
    assert rows[0][1]["description"] == "body of before alter"
    first_after = after[0][1]
    assert first_after is not None
    assert first_after == {**first_after, "c": "cval", "subject": "after alter", "description": "body after"}
    assert after[1][1] is not None and after[1][1]["c"] is None and after[1][1]["subject"] == "before alter, updated"
    assert any(ch.kind == DDLKind.ALTER for t in txns for ch in t.schema_changes)
    # the service, started only now, catches up across the ALTER
    service.start().sync()
    assert compare_index_with_db(seeded, service.state_dir) == {"missing": [], "extra": [], "stale": []}


def test_truncate_comments_empties_comments_of_affected_documents(seeded: MySQLSettings, service: Service) -> None:
    service.start().sync()
    assert [k for k, _ in service.docs(1)[1].live_children("comments")] == ["10", "11"]
    sql(seeded, "TRUNCATE TABLE ticket_comments")
    sql(seeded, comment(1, 20, 2, "after truncate"))
    service.sync()
    docs = service.docs(1)
    assert docs[1].live_children("comments") == []
    assert [r["text"] for _, r in docs[2].live_children("comments")] == ["after truncate"]
    assert service.docs(2)[1].live_children("comments") == []
    assert compare_index_with_db(seeded, service.state_dir) == {"missing": [], "extra": [], "stale": []}


def test_drop_column_stops_the_field_for_new_writes(seeded: MySQLSettings, service: Service) -> None:
    service.start().sync()
    assert service.docs(1)[1].fields["category"] == "billing"
    sql(seeded, "ALTER TABLE tickets DROP COLUMN category")
    sql(seeded, ("UPDATE tickets SET subject='after drop' WHERE tenant_id=1 AND id=1", None))
    service.sync()
    doc = service.docs(1)[1]
    assert doc.fields["subject"] == "after drop" and "category" not in doc.fields
    assert service.service.deadletters.entries(include_replayed=True) == []


def test_drop_table_and_replaying_its_events(seeded: MySQLSettings, service: Service) -> None:
    start = current_position(seeded)
    sql(seeded, comment(1, 30, 2, "soon dropped"))
    sql(seeded, "DROP TABLE ticket_comments")
    config = TailerConfig(source=seeded, tables=frozenset({"ticket_comments"}), json_columns={}, epoch=1)
    txns = list(tail(config, start, blocking=False))      # the table no longer exists: decoded from the binlog
    inserted = [c.after for t in txns for c in t.changes if c.op == Op.INSERT]
    assert inserted and inserted[0] is not None and inserted[0]["body"] == "soon dropped"
    assert [ch.kind for t in txns for ch in t.schema_changes] == [DDLKind.DROP]
    service.start().sync()                                # replays the insert, then re-snapshots: no crash
    assert all(d.live_children("comments") == [] for d in service.docs(1).values())
    assert sorted(service.docs(1)) == [1, 2]


def test_shadow_table_swap_indexes_each_ticket_once(seeded: MySQLSettings, service: Service) -> None:
    service.start().sync()
    sql(seeded, "CREATE TABLE _tickets_gho LIKE tickets", "ALTER TABLE _tickets_gho ADD COLUMN extra INT NULL")
    sql(seeded, ("INSERT INTO _tickets_gho (tenant_id, id, ticket_number, subject, description, status, priority,"
                 " category, channel, requester_id, assignee_id, order_number, custom_fields, created_at, updated_at)"
                 " SELECT tenant_id, id, ticket_number, subject, description, status, priority, category, channel,"
                 " requester_id, assignee_id, order_number, custom_fields, created_at, updated_at FROM tickets", None))
    sql(seeded, ("INSERT INTO _tickets_gho (tenant_id, id, ticket_number, subject, description)"
                 " VALUES (1, 99, 'T-99', 'shadow only', 'never a ticket')", None))
    sql(seeded, ("UPDATE tickets SET subject='edited during copy' WHERE tenant_id=1 AND id=2", None),
        ("UPDATE _tickets_gho SET subject='edited during copy' WHERE tenant_id=1 AND id=2", None))
    service.sync()
    assert 99 not in service.docs(1)
    sql(seeded, "DELETE FROM _tickets_gho WHERE id = 99")
    sql(seeded, "RENAME TABLE tickets TO _tickets_del, _tickets_gho TO tickets")
    sql(seeded, ("UPDATE tickets SET subject='after swap', extra=1 WHERE tenant_id=1 AND id=1", None))
    service.sync()
    docs = service.docs(1)
    assert sorted(docs) == [1, 2]
    assert docs[1].fields["subject"] == "after swap" and docs[2].fields["subject"] == "edited during copy"
    assert compare_index_with_db(seeded, service.state_dir) == {"missing": [], "extra": [], "stale": []}


def test_primary_key_change_moves_document_and_comments(seeded: MySQLSettings, service: Service) -> None:
    service.start().sync()
    sql(seeded, ("UPDATE tickets SET id = 500, ticket_number = 'T-500' WHERE tenant_id = 1 AND id = 1", None),
        ("UPDATE ticket_comments SET ticket_id = 500 WHERE tenant_id = 1 AND ticket_id = 1", None))
    service.sync()
    docs = service.docs(1)
    assert 1 not in docs
    assert docs[500].fields["subject"] == "printer jam" and docs[500].fields["ticket_number"] == "T-500"
    assert [r["text"] for _, r in docs[500].live_children("comments")] == ["first reply", "second reply"]
    assert compare_index_with_db(seeded, service.state_dir) == {"missing": [], "extra": [], "stale": []}
