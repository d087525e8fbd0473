"""Pure logic of versions, documents and the row → document transform (no services)."""

from __future__ import annotations

import pytest

from searchcore.documents import Part, StoredTicket
from searchcore.positions import (
    MAX_OFFSET,
    BinlogPosition,
    PositionError,
    file_sequence,
    make_version,
    split_version,
)
from syncer.assemble import TICKET_SLOT, PoisonChange, merge, route
from syncer.events import Op, RowChange
from syncer.source_mapping import SourceMappingError, load_source_mapping, parse_source_mapping

MAPPING = load_source_mapping()


def test_versions_are_monotonic_across_files_and_epochs() -> None:
    a = make_version(1, "mysql-bin.000001", 10_000)
    b = make_version(1, "mysql-bin.000001", 10_001)
    c = make_version(1, "mysql-bin.000002", 4)
    d = make_version(2, "mysql-bin.000001", 4)  # a new epoch outranks everything older
    assert a < b < c < d
    assert split_version(c) == (1, 2, 4)
    assert d < 2**63


def test_version_limits_are_refused_with_the_position() -> None:
    with pytest.raises(PositionError) as err:
        make_version(1, "mysql-bin.000001", MAX_OFFSET + 1)
    assert err.value.file == "mysql-bin.000001"
    with pytest.raises(PositionError):
        file_sequence("binlog-without-number")


def test_positions_order_by_file_sequence_not_text() -> None:
    assert BinlogPosition("mysql-bin.000009", 900) < BinlogPosition("mysql-bin.000010", 4)
    pos = BinlogPosition("b.000003", 7, "0-1-5")
    assert BinlogPosition.from_json(pos.to_json()) == pos


def ticket_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "tenant_id": 3, "id": 42, "ticket_number": "T-42", "subject": "打印机卡纸", "description": "每天卡纸",
        "status": "open", "priority": "high", "category": None, "channel": "web", "requester_id": 1,
        "assignee_id": None, "order_number": None, "custom_fields": None, "created_at": "2024-01-01 00:00:00.000000",
        "updated_at": "2024-01-01 00:00:00.000000",
    }
    row.update(over)
    return row


def change(table: str, op: Op, before: dict[str, object] | None, after: dict[str, object] | None,
           version: int) -> RowChange:
    return RowChange(table, op, before, after, version, "mysql-bin.000001", version)


def no_lookup(table: str, tenant: int, key: object) -> object:
    return {"tags": {7: "加急"}}.get(table, {}).get(int(str(key)))  # type: ignore[call-overload]


def apply(doc: StoredTicket | None, *changes: RowChange) -> StoredTicket:
    out = doc
    for ch in changes:
        for dc in route(ch, MAPPING, no_lookup):
            out = merge(out, [dc], dc.tenant_id, dc.ticket_id)
    assert out is not None
    return out


def test_rows_of_every_table_route_to_their_ticket_document() -> None:
    t = change("tickets", Op.INSERT, None, ticket_row(), 10)
    c = change("ticket_comments", Op.INSERT, None, {"tenant_id": 3, "id": 5, "ticket_id": 42, "body": "已处理",
                                                    "author_id": 1, "is_public": 1, "created_at": None}, 11)
    g = change("ticket_tags", Op.INSERT, None, {"tenant_id": 3, "ticket_id": 42, "tag_id": 7}, 12)
    doc = apply(None, t, c, g)
    assert doc.visible and doc.fields["body"] == "每天卡纸" and doc.version == 12
    assert [r["text"] for _, r in doc.live_children("comments")] == ["已处理"]
    assert [r["value"] for _, r in doc.live_children("tags")] == ["加急"]
    assert route(change("users", Op.INSERT, None, {"tenant_id": 3, "id": 1}, 13), MAPPING, no_lookup) == []


def test_older_changes_never_overwrite_newer_and_replays_change_nothing() -> None:
    new = change("tickets", Op.UPDATE, ticket_row(), ticket_row(subject="新标题"), 20)
    old = change("tickets", Op.UPDATE, ticket_row(), ticket_row(subject="旧标题"), 15)
    doc = apply(None, change("tickets", Op.INSERT, None, ticket_row(), 10), new)
    assert apply(doc, old).fields["subject"] == "新标题"
    assert apply(doc, new) == doc  # the same change again: identical


def test_a_replayed_insert_does_not_resurrect_a_deleted_ticket() -> None:
    ins = change("tickets", Op.INSERT, None, ticket_row(), 10)
    dele = change("tickets", Op.DELETE, ticket_row(), None, 30)
    doc = apply(None, ins, dele)
    assert not doc.visible and doc.ticket is not None and doc.ticket.version == 30
    assert not apply(doc, ins).visible


def test_moving_a_comment_removes_it_from_the_old_ticket() -> None:
    before = {"tenant_id": 3, "id": 5, "ticket_id": 42, "body": "x", "author_id": 1, "is_public": 1,
              "created_at": None}
    after = dict(before, ticket_id=43)
    dcs = route(change("ticket_comments", Op.UPDATE, before, after, 40), MAPPING, no_lookup)
    moved = [(d.ticket_id, d.child, d.part.row is None) for d in dcs]
    assert moved == [(42, "comments", True), (43, "comments", False)]


def test_a_ticket_primary_key_change_tombstones_the_old_document() -> None:
    dcs = route(change("tickets", Op.UPDATE, ticket_row(), ticket_row(id=43), 50), MAPPING, no_lookup)
    moved = [(d.ticket_id, d.child, d.part.row is None) for d in dcs]
    assert moved == [(42, TICKET_SLOT, True), (43, TICKET_SLOT, False)]


def test_poison_rows_name_the_problem() -> None:
    with pytest.raises(PoisonChange) as err:
        route(change("ticket_tags", Op.INSERT, None, {"tenant_id": 3, "ticket_id": 42, "tag_id": 999}, 60),
              MAPPING, no_lookup)
    assert "999" in err.value.reason and err.value.table == "ticket_tags"
    with pytest.raises(PoisonChange):
        route(change("tickets", Op.INSERT, None, {"tenant_id": 3, "id": "abc"}, 61), MAPPING, no_lookup)
    with pytest.raises(PoisonChange) as big:  # BIGINT UNSIGNED ids beyond the index's i64: dead letter, not a crash
        route(change("tickets", Op.INSERT, None, ticket_row(id=2**63), 62), MAPPING, no_lookup)
    assert "64-bit" in big.value.reason
    with pytest.raises(PoisonChange):
        route(change("tickets", Op.INSERT, None, ticket_row(assignee_id=2**63 + 5), 63), MAPPING, no_lookup)


def test_stored_ticket_json_round_trip() -> None:
    doc = StoredTicket(3, 42, Part(10, {"subject": "😀 帳號"}), {"comments": {"5": Part(11, None)}})
    assert StoredTicket.from_json(doc.to_json()) == doc


def test_source_mapping_errors_name_file_and_key() -> None:
    with pytest.raises(SourceMappingError) as err:
        parse_source_mapping({"document": {"table": "t", "tenant_column": "a", "id_column": "b",
                                           "fields": {"subject": "s", "bogus": "x"}}}, "my.toml")
    assert "my.toml" in str(err.value) and "bogus" in str(err.value)
    with pytest.raises(SourceMappingError):
        parse_source_mapping({}, "empty.toml")


def test_parts_older_than_a_snapshot_become_tombstones_at_its_version() -> None:
    floor = make_version(2, "mysql-bin.000001", 500)
    old, newer = floor - 100, floor + 7
    doc = StoredTicket(3, 9, Part(floor, {"subject": "kept"}), {
        "comments": {"1": Part(old, {"text": "gone"}), "2": Part(floor, {"text": "kept"}), "3": Part(old, None),
                     "4": Part(newer, {"text": "later"})},
        "tags": {"5": Part(old, {"value": "gone"})},
    })
    swept = doc.without_parts_older_than(floor)
    assert swept.ticket == Part(floor, {"subject": "kept"})
    assert swept.children["comments"] == {"1": Part(floor, None), "2": Part(floor, {"text": "kept"}),
                                          "3": Part(old, None), "4": Part(newer, {"text": "later"})}
    assert swept.children["tags"] == {"5": Part(floor, None)}
    assert [k for k, _ in swept.live_children("comments")] == ["2", "4"]
    # a ticket row older than the snapshot is gone too; a document with nothing older is returned as is
    assert not StoredTicket(3, 10, Part(old, {"subject": "x"})).without_parts_older_than(floor).visible
    assert swept.without_parts_older_than(floor) is swept      # idempotent: a replayed sweep changes nothing
    untouched = StoredTicket(3, 11, Part(newer, {"subject": "y"}), {"comments": {"1": Part(old, None)}})
    assert untouched.without_parts_older_than(floor) is untouched
