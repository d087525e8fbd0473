"""Acceptance (issue 2): kill -9 of the sync service at seeded random moments — while streaming a mixed
stream of >= 20,000 changes, and during the initial snapshot — loses, regresses and resurrects nothing;
restarting from an older checkpoint (replay) leaves every tenant's index identical."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import pytest
from support import SyncProcess, checkpoint, compare_index_with_db, wait_synced
from workload import DATA, Workload

from searchcore.dbconfig import MySQLSettings
from syncer.load import load_corpora
from syncer.service import open_backend
from syncer.settings import SyncSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATA / "medical_dialogue.csv").exists(), reason=f"real corpora not found in {DATA}"),
]
SEED = int(os.environ.get("TICKETSEARCH_TEST_SEED", "20261203"))
CLEAN = {"missing": [], "extra": [], "stale": []}


def tenants_of(db: MySQLSettings) -> list[int]:
    import pymysql

    conn = pymysql.connect(**db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT tenant_id FROM tickets ORDER BY 1")
        out = [int(r[0]) for r in cur.fetchall()]
    conn.close()
    return out


def run_workload_in_background(work: Workload, total: int, rate: float | None = None,
                               ) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work.run(total, rate=rate)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def test_kill9_while_streaming_20000_changes(fresh_db: MySQLSettings, state_dir: Path) -> None:
    load_corpora(fresh_db, DATA, limit_per_file=300)
    sync = SyncProcess(fresh_db, state_dir).start()
    wait_synced(fresh_db, state_dir, process=sync)
    work = Workload(fresh_db, tenants_of(fresh_db)[:12], seed=SEED)
    work.prepare()
    thread, errors = run_workload_in_background(work, 20_000, rate=600)
    rng = random.Random(SEED)
    kills = []
    while thread.is_alive():
        # let the restarted service make progress, then kill it at a seeded random moment
        last = checkpoint(state_dir)
        deadline = time.monotonic() + 60
        while thread.is_alive() and checkpoint(state_dir) == last and time.monotonic() < deadline:
            time.sleep(0.02)
        delay = rng.uniform(0.05, 1.5)
        time.sleep(delay)
        if not thread.is_alive():
            break
        sync.kill9()
        kills.append((round(delay, 2), work.changes, str(checkpoint(state_dir))))
        sync.start()
    thread.join()
    assert not errors, errors
    print(f"\nseed {SEED}: {len(kills)} kill -9 points (delay s, changes written, checkpoint): {kills}")
    assert len(kills) >= 3, "the workload ended before enough kill points"
    assert len({k[2] for k in kills}) >= 3, "the checkpoint did not move between kills"
    wait_synced(fresh_db, state_dir, process=sync, timeout=300)
    sync.stop()
    assert work.changes >= 20_000
    assert compare_index_with_db(fresh_db, state_dir) == CLEAN


def test_kill9_during_initial_snapshot(fresh_db: MySQLSettings, state_dir: Path) -> None:
    load_corpora(fresh_db, DATA, limit_per_file=1500)
    sync = SyncProcess(fresh_db, state_dir, TICKETSEARCH_SNAPSHOT_CHUNK_ROWS="100").start()
    work = Workload(fresh_db, tenants_of(fresh_db), seed=SEED + 1)
    work.prepare()
    thread, errors = run_workload_in_background(work, 3_000)  # writes while the snapshot reads
    kills = 0
    deadline = time.monotonic() + 120
    while kills < 2 and time.monotonic() < deadline:
        path = state_dir / "checkpoint.json"
        data = json.loads(path.read_text()) if path.exists() else None
        snap = data and data.get("snapshot")
        if snap and (snap.get("after_id", 0) > 0 or snap.get("tenants_done")):
            sync.kill9()
            kills += 1
            print(f"\nkill -9 #{kills} during the snapshot at {snap}")
            assert json.loads((state_dir / "checkpoint.json").read_text())["position"] is None
            sync.start()
            time.sleep(0.5)
        time.sleep(0.05)
    assert kills == 2, "the snapshot finished before it could be killed twice"
    thread.join()
    assert not errors, errors
    wait_synced(fresh_db, state_dir, process=sync, timeout=300)
    sync.stop()
    assert compare_index_with_db(fresh_db, state_dir) == CLEAN


def dump(db: MySQLSettings, state_dir: Path) -> dict[int, dict[int, str]]:
    backend = open_backend(SyncSettings(source=db, state_dir=state_dir), writable=False)
    out = {t: {d.ticket_id: d.to_json() for d in backend.all_documents(t)} for t in backend.tenants()}
    backend.close()
    return out


def test_restart_from_older_checkpoint_leaves_index_identical(fresh_db: MySQLSettings, state_dir: Path) -> None:
    load_corpora(fresh_db, DATA, limit_per_file=200)
    sync = SyncProcess(fresh_db, state_dir).start()
    wait_synced(fresh_db, state_dir, process=sync)
    early = (state_dir / "checkpoint.json").read_text()      # the snapshot position
    work = Workload(fresh_db, tenants_of(fresh_db), seed=SEED + 2)
    work.prepare()
    work.run(4_000)
    wait_synced(fresh_db, state_dir, process=sync)
    sync.stop()
    before = dump(fresh_db, state_dir)
    assert compare_index_with_db(fresh_db, state_dir) == CLEAN
    (state_dir / "checkpoint.json").write_text(early)         # rewind: every change is applied again
    sync.start()
    wait_synced(fresh_db, state_dir, process=sync)
    sync.stop()
    assert "snapshot:" not in sync.log().split("--- start #2 ---")[1]  # it streamed, it did not re-snapshot
    after = dump(fresh_db, state_dir)
    assert after == before
