"""Acceptance (issue 2): live changes to tickets, comments and tags become visible through the HTTP API;
tenants with equal ticket ids never collide; keys are tenant-bound; bad queries get 4xx JSON."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import compare_index_with_db, execute, wait_synced

from queryapi.app import create_app
from queryapi.auth import create_key
from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
from syncer.load import load_demo
from syncer.service import SyncService
from syncer.settings import SyncSettings

pytestmark = pytest.mark.integration



class Running:
    """The sync service streaming in a background thread of this process, plus an API client."""

    def __init__(self, db: MySQLSettings, state_dir: Path, **overrides: Any) -> None:
        self.db = db
        self.state_dir = state_dir
        self.settings = replace(SyncSettings(source=db, state_dir=state_dir), tailer_process=False, **overrides)
        self.service = SyncService(self.settings)
        self.service.ensure_snapshot()
        self.thread = threading.Thread(target=self.service.stream, daemon=True)
        self.thread.start()
        self.client = TestClient(create_app(ApiSettings(source=db, state_dir=state_dir, key_cache_seconds=0)))

    def sync(self) -> None:
        wait_synced(self.db, self.state_dir)
        assert self.thread.is_alive(), "stream thread died"

    def stop(self) -> None:
        self.service.stop_event.set()
        self.thread.join(timeout=30)
        self.service.close()


@pytest.fixture()
def running(fresh_db: MySQLSettings, state_dir: Path) -> Iterator[Running]:
    load_demo(fresh_db)
    r = Running(fresh_db, state_dir)
    yield r
    r.stop()


def search(r: Running, key: str, q: str, **params: Any) -> dict[str, Any]:
    resp = r.client.get("/v1/tickets/search", params={"q": q, **params}, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def ids(result: dict[str, Any]) -> list[int]:
    return [h["ticket_id"] for h in result["hits"]]


def test_ticket_insert_update_delete_visible_through_api(running: Running) -> None:
    db = running.db
    key = create_key(db, 1, "agent")
    execute(db, ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, status, priority) "
                 "VALUES (1, 5001, 'T-1-5001', %s, %s, 'new', 'high')",
                 ("彩色激光打印机频繁卡纸", "财务部的彩色激光打印机每天卡纸十几次，影响报销单打印。")))
    running.sync()
    hit = search(running, key, "激光打印机 卡纸")
    assert ids(hit)[0] == 5001
    assert any("<em>" in h["fragment"] for h in hit["hits"][0]["highlights"])

    execute(db, ("UPDATE tickets SET subject=%s, description=%s, status='solved' WHERE tenant_id=1 AND id=5001",
                 ("扫描仪驱动无法安装", "换了新电脑以后扫描仪驱动装不上。")))
    running.sync()
    assert 5001 not in ids(search(running, key, "激光打印机 卡纸"))
    updated = search(running, key, "扫描仪驱动")
    assert ids(updated)[0] == 5001 and updated["hits"][0]["status"] == "solved"

    execute(db, "DELETE FROM tickets WHERE tenant_id=1 AND id=5001")
    running.sync()
    assert 5001 not in ids(search(running, key, "扫描仪驱动"))


def test_comment_changes_and_last_comment_deletion(running: Running) -> None:
    db = running.db
    key = create_key(db, 1, "agent")
    execute(db, ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES "
                 "(1, 6001, 'T-1-6001', '发票抬头错误', '开票时公司名称写错了，需要重开')"),
            "INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) "
            "VALUES (1, 7001, 6001, '请提供正确的纳税人识别号')")
    running.sync()
    assert ids(search(running, key, "纳税人识别号"))[0] == 6001

    execute(db, "UPDATE ticket_comments SET body='已作废原发票并重新开具电子发票' WHERE tenant_id=1 AND id=7001")
    running.sync()
    assert 6001 not in ids(search(running, key, "纳税人识别号"))  # the old comment text is gone
    found = search(running, key, "作废原发票")
    assert 6001 in ids(found)[:3]
    hit = next(h for h in found["hits"] if h["ticket_id"] == 6001)
    assert any(h["field"] == "comments" and h.get("comment") == "7001" for h in hit["highlights"])

    execute(db, "DELETE FROM ticket_comments WHERE tenant_id=1 AND id=7001")  # the ticket's last comment
    running.sync()
    assert 6001 not in ids(search(running, key, "作废"))  # only the deleted comment had this word
    assert 6001 in ids(search(running, key, "公司名称写错"))[:3]  # the ticket itself remains
    doc = next(h for h in search(running, key, "公司名称写错")["hits"] if h["ticket_id"] == 6001)
    assert doc["comment_count"] == 0


def test_tag_change(running: Running) -> None:
    db = running.db
    key = create_key(db, 1, "agent")
    execute(db, "INSERT INTO tags (tenant_id, id, name) VALUES (1, 900, '加急处理')",
            "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (1, 1, 900)")
    running.sync()
    first = running.client.get("/v1/tickets/search", params={"q": "T-1-000001"},
                               headers={"Authorization": f"Bearer {key}"}).json()
    assert first["hits"][0]["ticket_id"] == 1
    assert "加急处理" in first["hits"][0]["tags"]
    execute(db, "DELETE FROM ticket_tags WHERE tenant_id=1 AND ticket_id=1 AND tag_id=900")
    running.sync()
    again = search(running, key, "T-1-000001")
    assert "加急处理" not in again["hits"][0]["tags"]
    assert compare_index_with_db(db, running.state_dir) == {"missing": [], "extra": [], "stale": []}


def test_equal_ids_in_two_tenants_never_collide(running: Running) -> None:
    db = running.db
    key1, key2 = create_key(db, 1, "agent"), create_key(db, 2, "agent")
    execute(db,
            ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES "
             "(1, 8001, 'A-8001', '企鹅牌电动牙刷充电座冒烟', '充电座插上电源后冒烟')"),
            ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES "
             "(2, 8001, 'B-8001', '冰箱冷藏室结霜严重', '新买的冰箱冷藏室后壁结霜')"))
    running.sync()
    assert ids(search(running, key1, "电动牙刷充电座")) == [8001]
    assert ids(search(running, key2, "电动牙刷充电座")) == []
    assert ids(search(running, key2, "冷藏室结霜")) == [8001]
    assert ids(search(running, key1, "冷藏室结霜")) == []
    execute(db, "DELETE FROM tickets WHERE tenant_id=2 AND id=8001")
    running.sync()
    assert ids(search(running, key1, "电动牙刷充电座")) == [8001]  # tenant 1's twin untouched
    assert ids(search(running, key2, "冷藏室结霜")) == []


def test_auth_and_bad_queries(running: Running) -> None:
    key = create_key(running.db, 1, "agent")
    c = running.client
    assert c.get("/v1/tickets/search", params={"q": "退款"}).status_code == 401
    bad = c.get("/v1/tickets/search", params={"q": "退款"}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
    h = {"Authorization": f"Bearer {key}"}
    for params, code in (({"q": ""}, "empty_query"), ({"q": "   "}, "empty_query"),
                         ({"q": "退" * 501}, "query_too_long"), ({"q": "退款", "offset": 5000}, "offset_too_deep"),
                         ({"q": "退款", "limit": 0}, "invalid_request"),
                         ({"q": "退款", "limit": "x"}, "invalid_request"),
                         ({"q": "assignee:99999999999999999999999"}, "query_syntax"),
                         ({"q": "requester:9223372036854775808"}, "query_syntax")):
        resp = c.get("/v1/tickets/search", params=params, headers=h)
        assert 400 <= resp.status_code < 500, (params, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == code
    huge = c.get("/v1/tickets/9223372036854775808/explain", params={"q": "退款"}, headers=h)
    assert huge.status_code == 404 and huge.json()["error"]["code"] == "not_found"
    big_custom = c.get("/v1/tickets/search", params={"q": "cf.quantity:99999999999999999999999"}, headers=h)
    assert big_custom.status_code == 200
    status = c.get("/v1/status", headers=h).json()
    assert [t["tenant_id"] for t in status["tenants"]] == [1]
    assert status["tenants"][0]["documents"] == 20


def test_pasted_identifiers_find_their_ticket_first(running: Running) -> None:
    key = create_key(running.db, 1, "agent")
    execute(running.db, ("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, order_number) "
                         "VALUES (1, 4093, 'T-1-004093', '快递丢件', '包裹显示已签收但没收到', 'ORD-2023-646212')"))
    running.sync()
    pasted = ("4093", "#4093", "#004093", "T-1-004093", "ORD-2023-646212",
              "ＯＲＤ－２０２３－６４６２１２", "Ｔ－１－００４０９３")  # full-width, as pasted from some IMEs
    for q in pasted:
        assert ids(search(running, key, q))[:1] == [4093], q
