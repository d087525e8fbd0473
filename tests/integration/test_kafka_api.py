"""The API on the distributed pipeline's index folder (`ticketsearch serve` beside `ticketsearch index` members):
readiness, sync state, snapshot status and read-your-writes come from the indexer group's applied watermarks
(there is no sync service checkpoint there), so /readyz is ready once the group has caught up, `wait_for=<gtid>`
returns fresh as soon as the change is applied, and /v1/status reports the applied position."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kafka_support import kafka, running, tansu, wait_marks  # noqa: F401
from test_ops import commit_update

from queryapi.app import create_app
from queryapi.auth import create_key
from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
from syncer.kafka_bus import KafkaSettings
from syncer.kafka_indexer import KafkaIndexer
from syncer.kafka_tailer import KafkaTailer
from syncer.load import load_demo
from syncer.settings import SyncSettings

pytestmark = [pytest.mark.integration]


def test_api_freshness_and_readiness_on_the_kafka_pipeline(fresh_db: MySQLSettings, tmp_path: Path,
                                                           kafka: KafkaSettings) -> None:  # noqa: F811
    load_demo(fresh_db)
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), kafka)
    key = create_key(fresh_db, 1, "agent")
    client = TestClient(create_app(ApiSettings(source=fresh_db, state_dir=settings.state_dir, key_cache_seconds=0,
                                               wait_for_max_s=5.0)))
    headers = {"Authorization": f"Bearer {key}"}
    # a member, but nothing published yet (its own group: leaving mid-join would hold up the real group's join)
    with running(KafkaIndexer(settings, replace(kafka, group=kafka.group + "-early"), member="early").run):
        deadline = time.monotonic() + 30
        while not (settings.state_dir / "metrics" / "kafka-early.json").exists():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        early = client.get("/readyz")
        assert early.status_code == 503 and "no complete synced position" in early.text, early.text
    with running(tailer.run, KafkaIndexer(settings, kafka, member="a").run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        deadline = time.monotonic() + 30
        while (ready := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.3)
        status = client.get("/v1/status", headers=headers).json()
        assert status["snapshot"] is None and status["synced_to"] is not None, status
        gtid = commit_update(fresh_db, 1, 1, "zebraquux 卡夫卡")
        body = client.get("/v1/tickets/search", params={"q": "zebraquux", "wait_for": gtid}, headers=headers).json()
        assert body["stale"] is False and [h["ticket_id"] for h in body["hits"]] == [1], body
    # the members stopped, a change is not applied: wait_for says stale at the bound
    gtid = commit_update(fresh_db, 1, 1, "notyetapplied")
    body = client.get("/v1/tickets/search", params={"q": "notyetapplied", "wait_for": gtid},
                      headers=headers).json()
    assert body["stale"] is True and body["hits"] == []
