"""Acceptance (issue 8): /metrics series (names, labels, moving with changes), /healthz, /readyz unready while
the sync is stalled (SIGSTOP of the real sync process while writes continue) and ready after it recovers;
freshness `wait_for=<gtid>` reflects a committed update, and returns within its bound flagged stale while the
sync is paused."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from fastapi.testclient import TestClient
from support import SyncProcess, wait_synced

from queryapi.app import create_app
from queryapi.auth import create_key
from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
from syncer.load import load_demo

pytestmark = pytest.mark.integration

SERIES = {
    "ticketsearch_binlog_position_bytes": {"which", "file"},
    "ticketsearch_binlog_file_number": {"which"},
    "ticketsearch_seconds_behind_source": set(),
    "ticketsearch_bytes_behind_source": set(),
    "ticketsearch_sync_stage_items_total": {"stage"},
    "ticketsearch_sync_batches_total": set(),
    "ticketsearch_deadletters_total": set(),
    "ticketsearch_deadletters_pending": set(),
    "ticketsearch_commit_to_searchable_seconds_bucket": {"tenant", "le"},
    "ticketsearch_commit_to_searchable_seconds_count": {"tenant"},
    "ticketsearch_http_request_duration_seconds_bucket": {"endpoint", "method", "status", "le"},
    "ticketsearch_sync_last_progress_timestamp_seconds": set(),
}
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in resp.text.splitlines():
        m = LINE.match(line)
        if line.startswith("#") or m is None:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def value(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lbl, v in metrics.get(name, []) if all(lbl.get(k) == w for k, w in labels.items()))


def commit_update(db: MySQLSettings, tenant: int, ticket: int, subject: str) -> str:
    """Update a ticket and return @@last_gtid of that transaction (what the helpdesk application does)."""
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE tickets SET subject=%s WHERE tenant_id=%s AND id=%s", (subject, tenant, ticket))
            conn.commit()
            cur.execute("SELECT @@last_gtid")
            row = cur.fetchone()
            assert row is not None and row[0]
            return str(row[0])
    finally:
        conn.close()


def poll(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def live(fresh_db: MySQLSettings, state_dir: Path) -> Iterator[tuple[SyncProcess, TestClient, str, int]]:
    load_demo(fresh_db)
    proc = SyncProcess(fresh_db, state_dir).start()
    wait_synced(fresh_db, state_dir, timeout=120, process=proc)
    key = create_key(fresh_db, 1, "agent")
    conn = pymysql.connect(**fresh_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT MIN(id) FROM tickets WHERE tenant_id=1")
        ticket = int(cur.fetchone()[0])
    conn.close()
    client = TestClient(create_app(ApiSettings(source=fresh_db, state_dir=state_dir, key_cache_seconds=0,
                                               stall_seconds=1.5, wait_for_max_s=1.5)))
    try:
        yield proc, client, key, ticket
    finally:
        if proc.proc is not None and proc.alive():
            os.kill(proc.proc.pid, signal.SIGCONT)
        proc.stop()


def hit_ids(client: TestClient, key: str, q: str, **params: Any) -> tuple[list[int], dict[str, Any]]:
    resp = client.get("/v1/tickets/search", params={"q": q, **params}, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return [h["ticket_id"] for h in body["hits"]], body


def test_metrics_health_readiness_and_freshness(live: tuple[SyncProcess, TestClient, str, int]) -> None:
    proc, client, key, ticket = live
    db = proc.db
    assert client.get("/healthz").json() == {"status": "alive"}
    poll(lambda: client.get("/readyz").status_code == 200, 15, "ready")
    hit_ids(client, key, "退款")
    first = scrape(client)
    for name, labels in SERIES.items():
        if "commit_to_searchable" in name:
            continue   # observed once changes stream (the snapshot is not a commit)
        assert name in first, f"{name} missing from /metrics"
        assert any(labels <= set(lbl) for lbl, _ in first[name]), (name, first[name])
    assert value(first, "ticketsearch_http_request_duration_seconds_count", endpoint="/v1/tickets/search",
                 status="200") >= 1

    # freshness: the update is searchable when the search returns
    gtid = commit_update(db, 1, ticket, "zebraquux 打印机 first")
    ids, body = hit_ids(client, key, "zebraquux", wait_for=gtid)
    assert ids == [ticket] and body["stale"] is False
    for n in range(20):
        commit_update(db, 1, ticket, f"zebraquux 打印机 update {n}")
    wait_synced(db, proc.state_dir, process=proc)
    second = scrape(client)
    for name, labels in SERIES.items():
        assert name in second and any(labels <= set(lbl) for lbl, _ in second[name]), name
    for stage in ("tailer", "indexer"):
        assert value(second, "ticketsearch_sync_stage_items_total", stage=stage) > \
            value(first, "ticketsearch_sync_stage_items_total", stage=stage)
    assert value(second, "ticketsearch_commit_to_searchable_seconds_count", tenant="1") >= \
        value(first, "ticketsearch_commit_to_searchable_seconds_count", tenant="1") + 1
    assert value(second, "ticketsearch_binlog_position_bytes", which="synced") != \
        value(first, "ticketsearch_binlog_position_bytes", which="synced")
    assert value(second, "ticketsearch_http_request_duration_seconds_count", endpoint="/v1/tickets/search",
                 status="200") > value(first, "ticketsearch_http_request_duration_seconds_count",
                                       endpoint="/v1/tickets/search", status="200")

    # pause the sync process while writes continue
    assert proc.proc is not None
    os.kill(proc.proc.pid, signal.SIGSTOP)
    try:
        gtid = commit_update(db, 1, ticket, "walrusplum 打印机 while paused")
        started = time.monotonic()
        ids, body = hit_ids(client, key, "walrusplum", wait_for=gtid)
        assert time.monotonic() - started < 1.5 + 1.0
        assert body["stale"] is True and ids == []
        for n in range(5):
            commit_update(db, 1, ticket, f"still writing {n}")
        poll(lambda: client.get("/readyz").status_code == 503, 15, "unready while stalled")
        resp = client.get("/readyz").json()
        assert resp["error"]["code"] == "not_ready" and resp["error"]["checks"]["sync"]["ok"] is False
        assert value(scrape(client), "ticketsearch_seconds_behind_source") > 0
    finally:
        os.kill(proc.proc.pid, signal.SIGCONT)
    poll(lambda: client.get("/readyz").status_code == 200, 30, "ready after recovery")
    wait_synced(db, proc.state_dir, process=proc)
    assert value(scrape(client), "ticketsearch_seconds_behind_source") == 0
    gtid = commit_update(db, 1, ticket, "walrusplum 打印机 after recovery")
    ids, body = hit_ids(client, key, "walrusplum", wait_for=gtid)
    assert ids == [ticket] and body["stale"] is False
