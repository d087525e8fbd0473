"""The Debezium re-keyer's pure parts: which changes would be wrongly stale because Debezium gave them a binlog
coordinate another change of the same row already holds (compressed transactions), and when a snapshot ends."""

from __future__ import annotations

from searchcore.positions import make_version
from syncer.debezium_rekey import SharedCoordinateGuard, _SnapshotTracker, row_identities
from syncer.events import Op, RowChange
from syncer.source_mapping import load_source_mapping

MAPPING = load_source_mapping()
FILE = "mysql-bin.000004"
TICKET = {"tenant_id": 7, "id": 42, "ticket_number": "T-42", "subject": "打印机", "description": "卡纸",
          "status": "open", "priority": "high", "category": None, "channel": "web", "requester_id": 5,
          "assignee_id": None, "order_number": None, "custom_fields": None,
          "created_at": "2024-01-01 10:00:00.000000", "updated_at": "2024-01-01 10:00:00.000000"}


def ticket_change(op: Op, before: dict | None, after: dict | None, pos: int, row: int) -> RowChange:  # type: ignore[type-arg]
    return RowChange("tickets", op, before, after, make_version(1, FILE, pos + row), FILE, pos + row, None, 0)


def admit(guard: SharedCoordinateGuard, ch: RowChange, pos: int, row: int) -> bool:
    return guard.admit(ch, pos, row, row_identities(ch, MAPPING))


def test_compressed_transaction_second_update_of_a_row_is_caught() -> None:
    """UPDATE ids 40..42 (rows 0..2), then UPDATE id 42 again in a second rows event of the same compressed
    transaction: Debezium reports pos 5000 row 0 for it, a version below the row-2 change already applied."""
    guard = SharedCoordinateGuard()
    first = [ticket_change(Op.UPDATE, {**TICKET, "id": i}, {**TICKET, "id": i, "status": "pending"}, 5000, i - 40)
             for i in (40, 41, 42)]
    assert all(admit(guard, ch, 5000, i) for i, ch in enumerate(first))
    again = ticket_change(Op.UPDATE, {**TICKET, "status": "pending"}, {**TICKET, "status": "solved"}, 5000, 0)
    assert not admit(guard, again, 5000, 0)


def test_same_row_index_same_row_other_values_is_caught_but_a_duplicate_passes() -> None:
    guard = SharedCoordinateGuard()
    a = ticket_change(Op.UPDATE, TICKET, {**TICKET, "status": "pending"}, 5000, 0)
    assert admit(guard, a, 5000, 0)
    assert admit(guard, a, 5000, 0)                       # Debezium re-sent it after a restart: harmless
    b = ticket_change(Op.UPDATE, {**TICKET, "status": "pending"}, {**TICKET, "status": "solved"}, 5000, 0)
    assert not admit(guard, b, 5000, 0)


def test_legitimate_shapes_pass() -> None:
    guard = SharedCoordinateGuard()
    # a primary-key change: Debezium writes a delete and a create at the same pos/row, for two different rows
    assert admit(guard, ticket_change(Op.DELETE, TICKET, None, 6000, 0), 6000, 0)
    assert admit(guard, ticket_change(Op.INSERT, None, {**TICKET, "id": 43}, 6000, 0), 6000, 0)
    # other rows at an already used row index (compressed, but no row loses: versions are per row)
    assert admit(guard, ticket_change(Op.UPDATE, {**TICKET, "id": 44}, {**TICKET, "id": 44, "status": "solved"},
                                      6000, 0), 6000, 0)
    # the same row later in the same event, and in the next event
    assert admit(guard, ticket_change(Op.UPDATE, TICKET, {**TICKET, "status": "solved"}, 6000, 3), 6000, 3)
    assert admit(guard, ticket_change(Op.UPDATE, TICKET, {**TICKET, "status": "closed"}, 6100, 0), 6100, 0)
    # snapshot reads all share one coordinate
    for i in range(3):
        assert admit(guard, ticket_change(Op.SNAPSHOT, None, {**TICKET, "id": i}, 7000, 0), 7000, 0)


def test_snapshot_end_is_its_last_event_or_the_first_streamed_one() -> None:
    track = _SnapshotTracker()
    read = ticket_change(Op.SNAPSHOT, None, TICKET, 7000, 0)
    assert track.observe("first", read, 7000) is None
    assert track.observe("true", read, 7000) is None
    streamed = ticket_change(Op.UPDATE, TICKET, {**TICKET, "status": "solved"}, 7100, 0)
    assert track.observe("false", streamed, 7100) == (FILE, 7000)
    assert track.observe("false", streamed, 7100) is None          # once
    incremental = ticket_change(Op.SNAPSHOT, None, TICKET, 7200, 0)
    assert track.observe("incremental", incremental, 7200) is None
    assert track.observe("false", streamed, 7300) is None          # an incremental snapshot sweeps nothing
