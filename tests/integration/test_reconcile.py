"""Acceptance 4 (issue 7): rows deleted while the sync service was stopped, with no binlog record of it
(sql_log_bin=0), are gone after a reindex; reconcile finds a deliberately corrupted index range (missing, extra
and stale documents) and `--repair` re-syncs only the drifted tickets; the CLI talks to the running service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reindex_support import execute, insert_tickets
from support import PROJECT, SyncProcess, compare_index_with_db, env_for, wait_synced

from searchcore.dbconfig import MySQLSettings
from searchcore.documents import Part
from syncer.service import open_backend
from syncer.settings import SyncSettings

pytestmark = pytest.mark.integration
CLEAN = {"missing": [], "extra": [], "stale": []}
T = 3


def cli(db: MySQLSettings, state_dir: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-m", "ticketsearch.cli", *args], cwd=PROJECT, env=env_for(db, state_dir),
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout[proc.stdout.find("{"):]
    return proc.returncode, json.loads(out) if out.strip() else {}


def test_deleted_while_stopped_gone_after_reindex_and_reconcile_repairs_a_corrupted_range(
        fresh_db: MySQLSettings, state_dir: Path) -> None:
    insert_tickets(fresh_db, T, [(i, f"发票问题 {i}", f"需要开具增值税发票 订单{i}") for i in range(1, 801)],
                   comments_every=3)
    sync = SyncProcess(fresh_db, state_dir).start()
    wait_synced(fresh_db, state_dir, process=sync)
    sync.stop()
    execute(fresh_db, "DELETE FROM ticket_comments WHERE tenant_id=%s AND ticket_id BETWEEN 50 AND 69", (T,),
            log_bin=False)
    gone = execute(fresh_db, "DELETE FROM tickets WHERE tenant_id=%s AND id BETWEEN 50 AND 69", (T,), log_bin=False)
    assert gone == 20
    sync.start()
    wait_synced(fresh_db, state_dir, process=sync)
    assert len(compare_index_with_db(fresh_db, state_dir)["extra"]) == 20      # invisible to the binlog
    code, found = cli(fresh_db, state_dir, "reconcile", "--tenant", str(T))
    assert code == 1 and found["tenants"][0]["extra"] == 20, found
    code, job = cli(fresh_db, state_dir, "reindex", "--tenant", str(T), "--quiet")
    assert code == 0 and job["phase"] == "done", job
    wait_synced(fresh_db, state_dir, process=sync)
    assert compare_index_with_db(fresh_db, state_dir) == CLEAN

    sync.stop()     # corrupt a range of the new generation behind the service's back
    backend = open_backend(SyncSettings(source=fresh_db, state_dir=state_dir), writable=True)
    docs = backend.load(T, list(range(300, 331)))
    bad = [docs[i].with_ticket(Part(docs[i].version, None)) for i in range(300, 310)]                # missing
    bad += [docs[i].with_ticket(Part(docs[i].version, {**docs[i].fields, "subject": "篡改"})) for i in range(310, 320)]
    bad += [docs[330].with_ticket(Part(docs[330].version, docs[330].fields)).__class__(
        T, 5000 + k, Part(docs[330].version, docs[330].fields), {}) for k in range(5)]                 # extra
    backend.write(T, bad, None, force=True)
    backend.close()
    sync.start()
    wait_synced(fresh_db, state_dir, process=sync)
    problems = compare_index_with_db(fresh_db, state_dir)
    assert (len(problems["missing"]), len(problems["stale"]), len(problems["extra"])) == (10, 10, 5)
    code, found = cli(fresh_db, state_dir, "reconcile", "--tenant", str(T))
    report = found["tenants"][0]
    assert code == 1 and (report["missing"], report["stale"], report["extra"]) == (10, 10, 5), report
    assert len(report["drifted_ranges"]) == 1 and report["ranges_checked"] >= 1
    code, fixed = cli(fresh_db, state_dir, "reconcile", "--tenant", str(T), "--repair")
    assert code == 0 and fixed["tenants"][0]["repaired"] == 25, fixed
    code, again = cli(fresh_db, state_dir, "reconcile")
    assert code == 0 and again["clean"], again
    sync.stop()
    assert compare_index_with_db(fresh_db, state_dir) == CLEAN
