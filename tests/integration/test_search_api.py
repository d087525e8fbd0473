"""Acceptance (issue 4) through the real pipeline and HTTP: MariaDB → syncer → Tantivy → FastAPI.

Query language with positions in 400 JSON; sort + signed cursors over 40 tickets sharing one timestamp while two
are updated in MariaDB; facets; exact hits (ticket number, order number, requester email) first; per-comment
highlights; /v1/analyze and /v1/tickets/{id}/explain; query-time synonyms live at once; deep offsets → 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sync_live import Running, execute

from analyzers.synonyms import SynonymSet, SynonymStore
from queryapi.auth import create_key
from searchcore.dbconfig import MySQLSettings

pytestmark = pytest.mark.integration
TS = "2024-05-01 08:00:00.000"


@pytest.fixture()
def running(fresh_db: MySQLSettings, state_dir: Path) -> Iterator[Running]:
    execute(fresh_db, ("INSERT INTO users (tenant_id, id, kind, name, email, phone) VALUES "
                       "(1, 1, 'agent', '王工', 'wang@example.com', NULL), "
                       "(1, 2, 'requester', '李雷', 'li.lei@example.com', '138-1234-5678')", None))
    rows = []
    for i in range(1, 41):
        rows.append((1, i, f"T-{i:05d}", f"打印机卡纸 第{i}台", "办公室的激光打印机一直卡纸", "open",
                     ["low", "normal", "high", "urgent"][i % 4], 1 if i % 2 else None, 2 if i == 7 else None,
                     f"A2024-{i:05d}", TS, TS))
    execute(fresh_db, ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, status, priority, "
                       "assignee_id, requester_id, order_number, created_at, updated_at) VALUES "
                       + ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(rows)),
                       [v for r in rows for v in r]),
            ("INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES "
             "(1, 1, 5, '您好，请稍等'), (1, 2, 5, '已更换硒鼓😀，ＰＡＹＰＡＬ退款已处理'), (1, 3, 5, '谢谢')", None))
    r = Running(fresh_db, state_dir)
    r.sync()
    yield r
    r.stop()


def get(r: Running, key: str, path: str, status: int = 200, **params: Any) -> dict[str, Any]:
    resp = r.client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == status, resp.text
    return dict(resp.json())


def test_query_language_errors_are_400_with_position(running: Running) -> None:
    key = create_key(running.db, 1, "agent")
    err = get(running, key, "/v1/tickets/search", 400, q='打印机 (status:open')["error"]
    assert err["code"] == "query_syntax" and err["position"] == 4 and err["problem"] == "unclosed_paren"
    err = get(running, key, "/v1/tickets/search", 400, q="priority>=huge")["error"]
    assert (err["position"], err["problem"]) == (10, "invalid_value")
    err = get(running, key, "/v1/tickets/search", 400, q="打印机", offset=5000)["error"]
    assert err["code"] == "offset_too_deep" and "cursor" in err["message"]
    bad = get(running, key, "/v1/tickets/search", 400, q="x", cursor="garbage.sig")
    assert bad["error"]["code"] == "invalid_cursor"
    assert get(running, key, "/v1/tickets/search", 400, q="x", facets="nope")["error"]["code"] == "unknown_facet"


def test_cursor_pages_while_two_tickets_are_updated(running: Running) -> None:
    key = create_key(running.db, 1, "agent")
    seen: list[int] = []
    cursor = None
    page = 0
    while True:
        params: dict[str, Any] = {"q": "打印机", "sort": "created", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = get(running, key, "/v1/tickets/search", **params)
        seen.extend(h["ticket_id"] for h in body["hits"])
        page += 1
        if page == 2:
            execute(running.db, "UPDATE tickets SET status='solved', subject='打印机卡纸 已修复' WHERE tenant_id=1 "
                                "AND id IN (3, 33)")
            running.sync()
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == list(range(1, 41)) and seen == sorted(seen)
    other = get(running, key, "/v1/tickets/search", 400, q="卡纸", sort="created",
                cursor=get(running, key, "/v1/tickets/search", q="打印机", sort="created", limit=5)["next_cursor"])
    assert other["error"]["code"] == "cursor_mismatch"


def test_facets_filters_exact_hits_and_comment_highlights(running: Running) -> None:
    key = create_key(running.db, 1, "agent")
    body = get(running, key, "/v1/tickets/search", q="打印机 priority>=high", facets="status,priority,assignee")
    assert body["total"] == 20
    assert {f["value"]: f["count"] for f in body["facets"]["priority"]} == {"high": 10, "urgent": 10}
    assert {f["value"]: f["count"] for f in body["facets"]["assignee_id"]} == {"1": 10}
    assert get(running, key, "/v1/tickets/search", q="T-00012")["hits"][0]["ticket_id"] == 12
    assert get(running, key, "/v1/tickets/search", q="A2024-00031")["hits"][0]["ticket_id"] == 31
    assert get(running, key, "/v1/tickets/search", q="li.lei@example.com")["hits"][0]["ticket_id"] == 7
    assert [h["ticket_id"] for h in get(running, key, "/v1/tickets/search", q="requester:138-1234-5678")["hits"]] == [7]
    hit = get(running, key, "/v1/tickets/search", q="paypal 硒鼓 has:comments")["hits"][0]
    assert hit["ticket_id"] == 5
    assert hit["highlights"] == [{"field": "comments", "comment": "2",
                                  "fragment": "已更换<em>硒鼓</em>😀，<em>ＰＡＹＰＡＬ</em>退款已处理"}]


def test_analyze_explain_and_live_synonyms(running: Running) -> None:
    key = create_key(running.db, 1, "agent")
    an = get(running, key, "/v1/analyze", text="帳號ＰａｙＰａｌ", mode="index")
    assert [(t["term"], t["original"], t["start"], t["end"]) for t in an["tokens"]] == [
        ("账号", "帳號", 0, 2), ("paypal", "ＰａｙＰａｌ", 2, 8)]
    assert {t["origin"] for t in an["tokens"]} <= {"builtin-dictionary", "segmenter", "user-dictionary"}
    ex = get(running, key, "/v1/tickets/5/explain", q="硒鼓 打印机")
    assert ex["matched"] and ex["score"] > 0 and ex["explanation"] is not None
    assert {f["field"] for f in ex["fields"]} == {"subject", "body", "comments"}
    assert ex["field_boosts"]["subject"] > ex["field_boosts"]["body"] > ex["field_boosts"]["comments"]
    assert get(running, key, "/v1/tickets/999/explain", 404, q="x")["error"]["code"] == "not_found"
    assert get(running, key, "/v1/tickets/search", q="碳粉盒")["total"] == 0
    SynonymStore(running.state_dir / "synonyms").put(1, SynonymSet("1", (("碳粉盒", "硒鼓"),)))
    body = get(running, key, "/v1/tickets/search", q="碳粉盒")
    assert [h["ticket_id"] for h in body["hits"]] == [5]
    assert body["hits"][0]["highlights"][0]["fragment"].startswith("已更换<em>硒鼓</em>")
    other = create_key(running.db, 2, "agent")
    assert get(running, other, "/v1/tickets/search", q="碳粉盒")["total"] == 0
