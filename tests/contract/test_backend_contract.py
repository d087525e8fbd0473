"""The search-backend contract, run against every backend (embedded always; Elasticsearch when configured).

Input: a SearchBackend fixture. Output: assertions on the interface only (writes, versions, tombstones,
tenants, queries, pagination); facets, sort and cursors where the backend offers them.
Guarantee checked: no regression (older versions are stale), no resurrection (tombstones win over replayed
inserts), tenant isolation (equal ticket ids never collide), replay from an earlier checkpoint is a no-op.
"""

from __future__ import annotations

from typing import Any

import pytest

from searchcore.backend import SearchBackend, SearchRequest, UnknownTenant
from searchcore.documents import Part, StoredTicket
from searchcore.positions import BinlogPosition
from searchcore.query import And, Compare, Exact, FieldTerm, Not, Sort, Text

T1, T2, SHARED = 901, 903, 902   # SHARED sits in the shared index on Elasticsearch


def ticket(tenant: int, ticket_id: int, version: int, subject: str | None, **fields: Any) -> StoredTicket:
    if subject is None:
        return StoredTicket(tenant, ticket_id, Part(version, None))
    row = {"subject": subject, "body": fields.pop("body", ""), "status": fields.pop("status", "open"),
           "priority": fields.pop("priority", "normal"), "ticket_number": f"T-{ticket_id}",
           "created_at": "2024-01-01 00:00:00", "updated_at": fields.pop("updated_at", "2024-01-02 00:00:00")}
    row.update(fields)
    return StoredTicket(tenant, ticket_id, Part(version, row))


def _visible(doc: StoredTicket | None) -> bool:
    """`get` returns the stored document, a tombstone included; a deleted ticket is not visible."""
    return doc is not None and doc.visible


def pos(offset: int) -> BinlogPosition:
    return BinlogPosition("mysql-bin.000001", offset)


@pytest.mark.parametrize("tenant", [T1, SHARED])
def test_write_get_load_and_state(backend: SearchBackend, tenant: int) -> None:
    out = backend.write(tenant, [ticket(tenant, 1, 100, "打印机卡纸")], pos(120))
    assert (out.written, out.stale) == (1, 0)
    got = backend.get(tenant, 1)
    assert got is not None and got.fields["subject"] == "打印机卡纸" and got.version == 100
    assert backend.load(tenant, [1, 2])[1].version == 100
    state = backend.state(tenant)
    assert state.documents == 1 and state.applied == pos(120) and state.mapping_version == 1 and state.analyzer
    assert tenant in backend.tenants()


def test_an_older_version_is_stale_an_equal_one_overwrites(backend: SearchBackend) -> None:
    backend.write(T1, [ticket(T1, 1, 200, "new subject")], pos(200))
    out = backend.write(T1, [ticket(T1, 1, 100, "old subject"), ticket(T1, 2, 150, "another")], pos(210))
    assert (out.written, out.stale) == (1, 1)
    got = backend.get(T1, 1)
    assert got is not None and got.fields["subject"] == "new subject"
    again = backend.write(T1, [ticket(T1, 1, 200, "new subject")], pos(220))  # idempotent re-send
    assert (again.written, again.stale) == (1, 0)
    got = backend.get(T1, 1)
    assert got is not None and got.fields["subject"] == "new subject" and got.version == 200


@pytest.mark.parametrize("tenant", [T1, SHARED])
def test_a_deleted_ticket_cannot_be_resurrected_by_a_replay(backend: SearchBackend, tenant: int) -> None:
    backend.write(tenant, [ticket(tenant, 7, 100, "退款 申请")], pos(100))
    backend.write(tenant, [ticket(tenant, 7, 300, None)], pos(300))
    assert not _visible(backend.get(tenant, 7))
    assert backend.search(tenant, SearchRequest("退款")).total == 0
    tomb = backend.load(tenant, [7])[7]
    assert not tomb.visible and tomb.version == 300
    replay = backend.write(tenant, [ticket(tenant, 7, 100, "退款 申请")], pos(100))
    assert (replay.written, replay.stale) == (0, 1)
    replay = backend.write(tenant, [ticket(tenant, 7, 250, "退款 申请")], pos(250))
    assert (replay.written, replay.stale) == (0, 1)
    assert not _visible(backend.get(tenant, 7))
    assert backend.search(tenant, SearchRequest("退款")).total == 0
    assert backend.state(tenant).documents == 0


def test_tenants_with_equal_ticket_ids_never_collide(backend: SearchBackend) -> None:
    backend.write(T1, [ticket(T1, 5, 100, "printer jam")], pos(100))
    backend.write(T2, [ticket(T2, 5, 100, "refund request")], pos(100))
    backend.write(SHARED, [ticket(SHARED, 5, 100, "refund printer")], pos(100))
    g1, g2 = backend.get(T1, 5), backend.get(T2, 5)
    assert g1 is not None and g1.fields["subject"] == "printer jam"
    assert g2 is not None and g2.fields["subject"] == "refund request"
    assert backend.search(T1, SearchRequest("refund")).total == 0
    assert [h.ticket_id for h in backend.search(T2, SearchRequest("refund")).hits] == [5]
    assert backend.search(SHARED, SearchRequest("refund")).total == 1
    assert backend.state(T1).documents == 1 and backend.state(SHARED).documents == 1


def test_unknown_tenant_is_an_error_not_an_empty_answer(backend: SearchBackend) -> None:
    with pytest.raises(UnknownTenant):
        backend.search(999_999, SearchRequest("x"))
    with pytest.raises(UnknownTenant):
        backend.state(999_999)


def test_text_query_finds_ranks_and_highlights_on_the_original_text(backend: SearchBackend) -> None:
    backend.write(T1, [
        ticket(T1, 1, 100, "打印机卡纸了", body="办公室的打印机总是卡纸"),
        ticket(T1, 2, 101, "无法登录", body="密码错误"),
        ticket(T1, 3, 102, "发票", body="打印机 驱动"),
    ], pos(110))
    result = backend.search(T1, SearchRequest("打印机 卡纸"))
    assert [h.ticket_id for h in result.hits][:1] == [1]
    assert 2 not in [h.ticket_id for h in result.hits]
    subject = [h.fragment for h in result.hits[0].highlights if h.field == "subject"]
    assert subject and subject[0].startswith("<em>打印机") and "卡纸</em>" in subject[0]
    exact = backend.search(T1, SearchRequest(query=Exact("T-2", "ticket_number")))
    assert exact.hits and exact.hits[0].ticket_id == 2


def test_offset_pagination_is_disjoint_and_complete(backend: SearchBackend) -> None:
    backend.write(T1, [ticket(T1, i, 100 + i, f"printer issue {i}") for i in range(1, 6)], pos(200))
    first = backend.search(T1, SearchRequest("printer", limit=2, offset=0))
    second = backend.search(T1, SearchRequest("printer", limit=2, offset=2))
    third = backend.search(T1, SearchRequest("printer", limit=2, offset=4))
    ids = [h.ticket_id for r in (first, second, third) for h in r.hits]
    assert first.total == 5 and sorted(ids) == [1, 2, 3, 4, 5]


def test_replaying_from_an_earlier_checkpoint_leaves_the_index_identical(backend: SearchBackend) -> None:
    log = [
        [ticket(T1, 1, 100, "a first")], [ticket(T1, 2, 110, "b first")], [ticket(T1, 1, 120, "a second")],
        [ticket(T1, 2, 130, None)], [ticket(T1, 3, 140, "c first")],
    ]
    for i, batch in enumerate(log):
        backend.write(T1, batch, pos(1000 + i))
    before = {t: backend.load(T1, [t]).get(t) for t in (1, 2, 3)}
    for i, batch in enumerate(log[1:], start=1):
        backend.write(T1, batch, pos(1000 + i))
    after = {t: backend.load(T1, [t]).get(t) for t in (1, 2, 3)}
    assert before == after
    assert backend.state(T1).documents == 2


def test_facets_sort_and_cursor_pagination(backend: SearchBackend) -> None:
    backend.write(T1, [ticket(T1, i, 100 + i, f"printer {i}", status="open" if i % 2 else "closed",
                              priority="high" if i < 3 else "low", updated_at=f"2024-02-0{i} 00:00:00")
                       for i in range(1, 6)], pos(300))
    request = SearchRequest("printer", limit=2, facets=("status", "priority"), sort=Sort("updated", "desc"))
    page = backend.search(T1, request)
    assert {f.value: f.count for f in page.facets["status"]} == {"open": 3, "closed": 2}
    assert {f.value: f.count for f in page.facets["priority"]} == {"high": 2, "low": 3}
    seen = [h.ticket_id for h in page.hits]
    while page.next_cursor is not None:
        page = backend.search(T1, SearchRequest("printer", limit=2, sort=request.sort, after=page.next_cursor))
        seen.extend(h.ticket_id for h in page.hits)
    assert seen == [5, 4, 3, 2, 1]


def test_filters_and_negation_from_the_query_model(backend: SearchBackend) -> None:
    backend.write(T1, [ticket(T1, 1, 101, "printer jam", status="open", priority="high"),
                       ticket(T1, 2, 102, "printer toner", status="closed", priority="low"),
                       ticket(T1, 3, 103, "printer driver", status="open", priority="low")], pos(400))
    tree = And((Text("printer"), FieldTerm("status", "open"), Not(Text("jam"))))
    assert [h.ticket_id for h in backend.search(T1, SearchRequest(query=tree)).hits] == [3]
    tree = And((Text("printer"), Compare("priority", ">=", "high")))
    assert [h.ticket_id for h in backend.search(T1, SearchRequest(query=tree)).hits] == [1]
