"""Acceptance (issue 2, item 6): a row the indexer rejects lands in the dead-letter store with reason,
tenant and position, the pipeline goes on, and `ticketsearch deadletters replay` applies it after the
cause is fixed (served by the running service, which owns the index writers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
from support import PROJECT, SyncProcess, env_for, wait_synced
from workload import real_texts

from searchcore.dbconfig import MySQLSettings
from syncer.load import load_demo
from syncer.service import open_backend
from syncer.settings import SyncSettings

pytestmark = pytest.mark.integration


def cli(db: MySQLSettings, state_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ticketsearch.cli", *args], cwd=PROJECT, capture_output=True,
                          text=True, env=env_for(db, state_dir, **env), timeout=180)


def execute(db: MySQLSettings, sql: str, args: tuple[object, ...] = ()) -> None:
    conn = pymysql.connect(**db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute(sql, args)
    conn.close()


def visible(db: MySQLSettings, state_dir: Path, tenant: int, ticket: int) -> bool:
    backend = open_backend(SyncSettings(source=db, state_dir=state_dir), writable=False)
    doc = backend.get(tenant, ticket)
    backend.close()
    return doc is not None and doc.visible


def test_rejected_rows_are_dead_lettered_and_replayed_after_the_fix(fresh_db: MySQLSettings, state_dir: Path) -> None:
    db = fresh_db
    load_demo(db)
    sync = SyncProcess(db, state_dir, TICKETSEARCH_MAX_DOCUMENT_BYTES="20000").start()
    wait_synced(db, state_dir, process=sync)
    long_text = "".join(ask for _title, ask, _answer in real_texts(400))[:30_000]  # real text, ~90 KB as UTF-8
    execute(db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES (1, 9100, 'T-9100',"
                " '超长工单', %s)", (long_text,))
    execute(db, "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (1, 1, 777777)")  # no such tag
    execute(db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES (1, 9101, 'T-9101',"
                " '正常工单', '后面的变更照常同步')")
    wait_synced(db, state_dir, process=sync)
    assert visible(db, state_dir, 1, 9101), "the pipeline went on after the poison rows"
    assert not visible(db, state_dir, 1, 9100)

    listed = cli(db, state_dir, "deadletters", "list")
    assert listed.returncode == 0, listed.stderr
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == 2
    big = next(x for x in letters if x["ticket"] == 9100)
    assert big["tenant"] == 1 and big["table"] == "tickets" and "max_document_bytes" in big["reason"]
    assert big["position"].startswith("mysql-bin.")
    tag = next(x for x in letters if x["table"] == "ticket_tags")
    assert "777777" in tag["reason"] and tag["tenant"] == 1

    # fix both causes: a larger limit (service restarted with it) and the missing tag row
    sync.stop()
    sync.env["TICKETSEARCH_MAX_DOCUMENT_BYTES"] = "400000"
    sync.start()
    execute(db, "INSERT INTO tags (tenant_id, id, name) VALUES (1, 777777, '补录标签')")
    wait_synced(db, state_dir, process=sync)
    replay = cli(db, state_dir, "deadletters", "replay")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    result = json.loads(replay.stdout.strip().splitlines()[-1])
    assert (result["replayed"], result["failed"], result["failures"]) == (2, 0, [])
    assert result["served_by_running_service"]  # the running service owns the writers and served the request
    assert visible(db, state_dir, 1, 9100)
    backend = open_backend(SyncSettings(source=db, state_dir=state_dir), writable=False)
    doc = backend.get(1, 1)
    assert doc is not None and "补录标签" in [r["value"] for _, r in doc.live_children("tags")]
    backend.close()
    assert cli(db, state_dir, "deadletters", "list").stdout.strip() == ""  # nothing pending
    sync.stop()


def test_admin_api_lists_and_replays_the_tenants_dead_letters(fresh_db: MySQLSettings, state_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from queryapi.app import create_app
    from queryapi.auth import create_key
    from queryapi.settings import ApiSettings

    db = fresh_db
    load_demo(db)
    sync = SyncProcess(db, state_dir).start()
    wait_synced(db, state_dir, process=sync)
    execute(db, "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (1, 2, 888888)")  # no such tag
    execute(db, "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (2, 2, 999999)")  # other tenant
    wait_synced(db, state_dir, process=sync)
    client = TestClient(create_app(ApiSettings(source=db, state_dir=state_dir, key_cache_seconds=0)))
    admin = {"Authorization": f"Bearer {create_key(db, 1, 'admin')}"}
    agent = {"Authorization": f"Bearer {create_key(db, 1, 'agent')}"}
    assert client.get("/v1/admin/deadletters", headers=agent).status_code == 403
    listed = client.get("/v1/admin/deadletters", headers=admin).json()
    assert listed["pending"] == 1 and "888888" in listed["deadletters"][0]["reason"]  # only its own tenant's
    execute(db, "INSERT INTO tags (tenant_id, id, name) VALUES (1, 888888, '补录标签')")
    wait_synced(db, state_dir, process=sync)
    replayed = client.post("/v1/admin/deadletters/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["replayed"], replayed.json()["failed"]) == (1, 0)
    assert client.get("/v1/admin/deadletters", headers=admin).json()["pending"] == 0
    tenant2 = client.get("/v1/admin/deadletters", headers={"Authorization": f"Bearer {create_key(db, 2, 'admin')}"})
    assert tenant2.json()["pending"] == 1  # tenant 2's dead letter was not touched
    backend = open_backend(SyncSettings(source=db, state_dir=state_dir), writable=False)
    doc = backend.get(1, 2)
    assert doc is not None and "补录标签" in [r["value"] for _, r in doc.live_children("tags")]
    backend.close()
    sync.stop()
