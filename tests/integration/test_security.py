"""Acceptance (issue 8): tenant isolation by construction (hypothesis), ranking independent of other tenants,
credentials (keys: wrong/missing/expired/revoked/rotated/tampered; JWT) → 401/403, roles, tenant purge.

Real private MariaDB, the real sync service streaming, the real Tantivy indexes and the real HTTP app."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt
import pymysql
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import wait_synced

from queryapi.app import create_app
from queryapi.auth import create_key, revoke_key, rotate_key
from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
from syncer.load import ensure_schema
from syncer.purge import PurgeRefused, purge_tenant
from syncer.service import SyncService
from syncer.settings import SyncSettings

pytestmark = pytest.mark.integration

WORDS = ["打印机", "卡纸", "退款", "无法登录", "发票", "物流", "密码", "屏幕", "电池", "延迟"]
STATUSES = ["new", "open", "pending", "solved", "closed"]
PRIORITIES = ["low", "normal", "high", "urgent"]
JWT_KEY = "integration-jwt-secret-32-bytes-long!"
ISS = "https://idp.test"


def insert_tickets(db: MySQLSettings, tenant: int, ids: range, seed: int, chunk: int = 5000) -> None:
    rnd = random.Random(seed)
    rows = []
    for i in ids:
        words = rnd.sample(WORDS, 3)
        rows.append((tenant, i, f"T{tenant}-{i}", " ".join(words[:2]), f"{words[2]} 租户{tenant}的工单 {i}",
                     rnd.choice(STATUSES), rnd.choice(PRIORITIES), f"ORD-T{tenant}-{i}"))
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            for n in range(0, len(rows), chunk):
                cur.executemany("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, status,"
                                " priority, order_number) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", rows[n:n + chunk])
                conn.commit()
    finally:
        conn.close()


def sql(db: MySQLSettings, statement: str, args: tuple[Any, ...] = ()) -> Any:
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@dataclass
class Env:
    db: MySQLSettings
    state_dir: Path
    service: SyncService
    thread: threading.Thread
    client: TestClient

    def sync(self) -> None:
        wait_synced(self.db, self.state_dir, timeout=180)
        assert self.thread.is_alive()

    def get(self, path: str, key: str | None, **params: Any) -> Any:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return self.client.get(path, params=params, headers=headers)

    def stop(self) -> None:
        self.service.stop_event.set()
        self.thread.join(timeout=60)
        self.service.close()


def start_env(db: MySQLSettings, state_dir: Path) -> Env:
    service = SyncService(replace(SyncSettings(source=db, state_dir=state_dir), tailer_process=False))
    service.ensure_snapshot()
    thread = threading.Thread(target=service.stream, daemon=True)
    thread.start()
    app = create_app(ApiSettings(source=db, state_dir=state_dir, key_cache_seconds=0, jwt_issuer=ISS,
                                 jwt_key=JWT_KEY))
    return Env(db, state_dir, service, thread, TestClient(app))


@pytest.fixture(scope="module")
def env(mariadb: MySQLSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Tenants 1 and 2 with the same ticket ids (1..60) and the same words; tenant 3 for the ranking test."""
    db = replace(mariadb, database="security_isolation")
    ensure_schema(db)
    insert_tickets(db, 1, range(1, 61), seed=1)
    insert_tickets(db, 2, range(1, 61), seed=2)
    insert_tickets(db, 3, range(1, 41), seed=3)
    e = start_env(db, tmp_path_factory.mktemp("security-state"))
    e.sync()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def keys(env: Env) -> dict[str, str]:
    return {"a": create_key(env.db, 1, "agent"), "b": create_key(env.db, 2, "agent"),
            "admin_a": create_key(env.db, 1, "admin"), "platform": create_key(env.db, 1, "admin", platform_admin=True)}


queries = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(STATUSES)).map(lambda t: f"{t[0]} status:{t[1]}"),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda t: f"{t[0]} -{t[1]}"),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda t: f"{t[0]} OR {t[1]}"),
    st.sampled_from(PRIORITIES).map(lambda p: f"priority>={p}"),
    st.integers(1, 70).map(lambda i: f"T1-{i}"),
    st.integers(1, 70).map(lambda i: f"ORD-T2-{i}"),
    st.text(alphabet="打印机退款 -\":()ORAND", max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=queries, sort=st.sampled_from(["relevance", "created", "updated", "priority"]),
       order=st.sampled_from(["asc", "desc"]), limit=st.integers(1, 7), tenant=st.sampled_from([1, 2]),
       facets=st.sampled_from(["", "status", "status,priority,tags"]))
def test_no_result_ever_belongs_to_another_tenant(env: Env, keys: dict[str, str], q: str, sort: str, order: str,
                                                  limit: int, tenant: int, facets: str) -> None:
    mine, other = (keys["a"], keys["b"]) if tenant == 1 else (keys["b"], keys["a"])
    params: dict[str, Any] = {"q": q, "sort": sort, "order": order, "limit": limit, "facets": facets}
    cursor = None
    for _page in range(3):
        resp = env.get("/v1/tickets/search", mine, **params, **({"cursor": cursor} if cursor else {}))
        assert resp.status_code < 500, resp.text
        if resp.status_code != 200:
            assert resp.json()["error"]["code"]
            return
        body = resp.json()
        for hit in body["hits"]:
            assert hit["order_number"] == f"ORD-T{tenant}-{hit['ticket_id']}", hit
            assert hit["ticket_number"].startswith(f"T{tenant}-")
        cursor = body["next_cursor"]
        if cursor is None:
            return
        # the same cursor with the other tenant's key: 4xx, never data
        stolen = env.get("/v1/tickets/search", other, **params, cursor=cursor)
        assert 400 <= stolen.status_code < 500 and stolen.json()["error"]["code"], stolen.text


def test_ticket_ids_of_another_tenant_are_not_reachable(env: Env, keys: dict[str, str]) -> None:
    insert_tickets(env.db, 1, range(500, 501), seed=9)   # exists in tenant 1 only
    env.sync()
    assert env.get("/v1/tickets/500/explain", keys["a"], q="打印机").status_code == 200
    resp = env.get("/v1/tickets/500/explain", keys["b"], q="打印机")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    # a tenant parameter is ignored: the tenant comes from the credential only
    body = env.get("/v1/tickets/search", keys["b"], q="ORD-T1-500", tenant_id=1, tenant=1).json()
    assert body["hits"] == []
    status = env.get("/v1/status", keys["b"], tenant_id=1).json()
    assert [t["tenant_id"] for t in status["tenants"]] == [2]


def test_ranking_of_a_tenant_is_unchanged_by_another_tenants_bulk_load(env: Env, keys: dict[str, str]) -> None:
    key3 = create_key(env.db, 3, "agent")
    before = env.get("/v1/tickets/search", key3, q="打印机 卡纸", limit=20).json()
    assert before["hits"]
    insert_tickets(env.db, 4, range(1, 50_001), seed=4)    # 50,000 tickets with the same words
    env.sync()
    key4 = create_key(env.db, 4, "agent")
    assert env.get("/v1/status", key4).json()["tenants"][0]["documents"] == 50_000
    after = env.get("/v1/tickets/search", key3, q="打印机 卡纸", limit=20).json()
    assert [(h["ticket_id"], h["score"]) for h in after["hits"]] == [(h["ticket_id"], h["score"])
                                                                     for h in before["hits"]]
    assert after["total"] == before["total"]


def jwt_for(tenant: int, role: str, *, key: str = JWT_KEY, iss: str = ISS, exp_in: int = 60) -> str:
    return jwt.encode({"iss": iss, "exp": int(time.time()) + exp_in, "tenant_id": tenant, "role": role}, key)


def test_credentials_and_roles(env: Env, keys: dict[str, str]) -> None:
    def code(key: str | None, path: str = "/v1/tickets/search", **params: Any) -> tuple[int, str | None]:
        resp = env.get(path, key, **({"q": "退款"} if path.endswith("search") else {}), **params)
        return resp.status_code, (resp.json().get("error") or {}).get("code")

    assert code(None) == (401, "unauthenticated")
    assert code("tsk_wrong")[0] == 401
    good = keys["a"]
    assert code(good)[0] == 200
    assert code(good[:-1] + ("A" if good[-1] != "A" else "B"))[0] == 401          # tampered key
    assert code(create_key(env.db, 1, "agent", expires_in_s=-1)) == (401, "expired_credentials")
    short = create_key(env.db, 1, "agent", expires_in_s=1.0)
    assert code(short)[0] == 200
    time.sleep(1.1)
    assert code(short) == (401, "expired_credentials")
    revoked = create_key(env.db, 1, "agent")
    assert revoke_key(env.db, revoked)
    assert code(revoked) == (401, "revoked_credentials")
    old = create_key(env.db, 1, "agent")
    new = rotate_key(env.db, old, grace_s=30)
    assert code(old)[0] == 200 and code(new)[0] == 200                                 # grace period
    newer = rotate_key(env.db, new, grace_s=0)
    assert code(new) == (401, "expired_credentials") and code(newer)[0] == 200
    # JWT on the same header
    assert code(jwt_for(1, "agent"))[0] == 200
    assert code(jwt_for(1, "agent", exp_in=-10)) == (401, "expired_credentials")
    assert code(jwt_for(1, "agent", iss="https://other"))[0] == 401
    assert code(jwt_for(1, "agent", key="not-the-configured-key-32-bytes!!"))[0] == 401
    head, _, sig = jwt_for(1, "agent").split(".")
    other_payload = jwt_for(2, "platform_admin").split(".")[1]
    assert code(f"{head}.{other_payload}.{sig}")[0] == 401
    # roles: agents cannot call admin endpoints; admins only their tenant; platform admins every tenant
    assert code(good, "/v1/admin/sync") == (403, "forbidden")
    assert code(jwt_for(1, "agent"), "/v1/admin/sync") == (403, "forbidden")
    own = env.get("/v1/admin/sync", keys["admin_a"]).json()
    assert [t["tenant_id"] for t in own["tenants"]] == [1]
    assert [t["tenant_id"] for t in env.get("/v1/admin/sync", jwt_for(2, "admin")).json()["tenants"]] == [2]
    every = {t["tenant_id"] for t in env.get("/v1/admin/sync", keys["platform"]).json()["tenants"]}
    assert {1, 2, 3} <= every
    assert {1, 2, 3} <= {t["tenant_id"] for t in env.get("/v1/admin/sync", jwt_for(9, "platform_admin"))
                         .json()["tenants"]}


def test_purge_leaves_nothing_of_the_tenant(fresh_db: MySQLSettings, state_dir: Path) -> None:
    insert_tickets(fresh_db, 7, range(1, 31), seed=7)
    insert_tickets(fresh_db, 8, range(1, 31), seed=8)
    e = start_env(fresh_db, state_dir)
    try:
        key7, key8 = create_key(fresh_db, 7, "admin"), create_key(fresh_db, 8, "agent")
        assert e.get("/v1/tickets/search", key7, q="打印机").json()["hits"]
        (state_dir / "synonyms").mkdir(exist_ok=True)
        (state_dir / "synonyms" / "7.json").write_text('{"version": "1", "groups": [["打印机", "复印机"]]}')
        with pytest.raises(PurgeRefused):
            purge_tenant(SyncSettings(source=fresh_db, state_dir=state_dir), 7)
        sql(fresh_db, "DELETE FROM tickets WHERE tenant_id=7")
        e.sync()
    finally:
        e.stop()
    report = purge_tenant(SyncSettings(source=fresh_db, state_dir=state_dir), 7)
    assert report.api_keys == 1 and "index/tenants/7" in report.removed_paths
    assert not (state_dir / "index" / "tenants" / "7").exists()
    assert not (state_dir / "synonyms" / "7.json").exists()
    assert sql(fresh_db, "SELECT COUNT(*) FROM api_keys WHERE tenant_id=7")[0][0] == 0
    leftovers = [p for p in state_dir.rglob("*") if p.name in ("7", "7.json") or "tenants/7/" in str(p)]
    assert leftovers == []
    client = TestClient(create_app(ApiSettings(source=fresh_db, state_dir=state_dir, key_cache_seconds=0,
                                               jwt_issuer=ISS, jwt_key=JWT_KEY)))
    h7 = {"Authorization": f"Bearer {key7}"}
    assert client.get("/v1/tickets/search", params={"q": "打印机"}, headers=h7).status_code == 401
    resp = client.get("/v1/tickets/search", params={"q": "打印机"},
                      headers={"Authorization": f"Bearer {jwt_for(7, 'admin')}"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "tenant_purged"
    ok = client.get("/v1/tickets/search", params={"q": "打印机"}, headers={"Authorization": f"Bearer {key8}"})
    assert ok.status_code == 200 and ok.json()["hits"]
