"""Acceptance (issue 5): binlog -> tailer -> Kafka (Tansu, 6 partitions) -> indexer group of 2 processes.

- a mixed stream of >= 50,000 changes (tickets, comments, tags) across >= 10 tenants ends with the index equal
  to MariaDB, while the tailer and, separately, an indexer are killed -9 at seeded random moments (two seeded
  runs: 50,000 and 20,000 changes);
- a rebalance while a member holds an uncommitted batch loses nothing (the member rewinds its partitions);
- replaying the whole topic from offset 0 (a new group) changes nothing: duplicates and stale messages are
  harmless and deleted tickets never come back.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from kafka_support import IndexerProcess, Pipeline, TailerProcess, explain_mismatch, kafka, tansu, wait_indexed  # noqa: F401
from support import compare_index_with_db
from test_crash_safety import dump, run_workload_in_background, tenants_of
from workload import DATA, Workload

from searchcore.dbconfig import MySQLSettings
from syncer.kafka_bus import KafkaSettings
from syncer.load import load_corpora

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATA / "medical_dialogue.csv").exists(), reason=f"real corpora not found in {DATA}"),
]
SEED = int(os.environ.get("TICKETSEARCH_TEST_SEED", "20261203"))
CLEAN = {"missing": [], "extra": [], "stale": []}
CHANGES = int(os.environ.get("TICKETSEARCH_KAFKA_TEST_CHANGES", "50000"))


def pipeline_for(db: MySQLSettings, tmp: Path, kafka: KafkaSettings,  # noqa: F811
                 members: int = 2) -> tuple[Pipeline, Path]:
    tailer_state, index_state = tmp / "tailer-state", tmp / "index-state"
    claims = str(tmp / "claims")
    tailer = TailerProcess(db, tailer_state, kafka, TICKETSEARCH_KAFKA_CLAIM_DIR=claims)
    indexers = [IndexerProcess(db, index_state, kafka, f"m{i}", TICKETSEARCH_KAFKA_CLAIM_DIR=claims)
                for i in range(members)]
    return Pipeline(tailer, indexers), index_state


def test_rebalance_while_a_batch_is_pending_loses_nothing(fresh_db: MySQLSettings, tmp_path: Path,
                                                          kafka: KafkaSettings) -> None:  # noqa: F811
    """A member that holds an uncommitted batch when a rebalance starts (here: a second member joins while the first
    batches for 3 s) gives the batch up; kafka-python keeps the fetch position of a partition assigned to the same
    member again, so unless the member rewinds, those records are skipped and the next commit passes them."""
    load_corpora(fresh_db, DATA, limit_per_file=30)
    tenants = tenants_of(fresh_db)
    tailer_state, index_state = tmp_path / "tailer-state", tmp_path / "index-state"
    tailer = TailerProcess(fresh_db, tailer_state, kafka)
    slow = IndexerProcess(fresh_db, index_state, replace(kafka, batch_max_wait_s=3.0), "m0",
                          TICKETSEARCH_KAFKA_BATCH_MAX_RECORDS="1000000")
    pipe = Pipeline(tailer, [slow]).start()
    wait_indexed(fresh_db, index_state, kafka, pipeline=pipe)
    work = Workload(fresh_db, tenants, seed=SEED + 7)
    work.prepare()
    thread, errors = run_workload_in_background(work, 4000, rate=800)
    time.sleep(1.5)
    joiner = IndexerProcess(fresh_db, index_state, kafka, "m1").start()   # the group rebalances
    pipe.indexers.append(joiner)
    thread.join()
    assert not errors, errors
    wait_indexed(fresh_db, index_state, kafka, pipeline=pipe, timeout=300)
    pipe.stop()
    revokes = [ln for ln in slow.log().splitlines() if "partitions revoked" in ln]
    # the situation under test happened: the first member gave up a non-empty batch when the group rebalanced
    assert any("rewound: {}" not in ln for ln in revokes), revokes
    problems = compare_index_with_db(fresh_db, index_state)
    assert problems == CLEAN, explain_mismatch(problems, kafka, index_state, [slow.log_path, joiner.log_path])


@pytest.mark.parametrize(("seed", "changes"), [(SEED, CHANGES), (SEED + 1, 20_000)], ids=["50k", "20k-second-seed"])
def test_changes_two_indexers_kill9_and_replay_from_zero(fresh_db: MySQLSettings, tmp_path: Path,
                                                         kafka: KafkaSettings, seed: int, changes: int,  # noqa: F811
                                                         ) -> None:
    load_corpora(fresh_db, DATA, limit_per_file=80)
    load_corpora(fresh_db, DATA, limit_per_file=80, tenant_id_offset=100)
    tenants = tenants_of(fresh_db)
    assert len(tenants) >= 10
    pipe, index_state = pipeline_for(fresh_db, tmp_path, kafka)
    pipe.start()
    wait_indexed(fresh_db, index_state, kafka, pipeline=pipe)
    work = Workload(fresh_db, tenants, seed=seed)
    work.prepare()
    thread, errors = run_workload_in_background(work, changes)
    rng = random.Random(seed)
    kills: list[tuple[str, float, int]] = []
    victims = ["tailer", "indexer", "tailer", "indexer"]
    while victims:   # seeded moments, while the workload writes (or the pipeline catches up)
        delay = rng.uniform(1.0, 6.0)
        time.sleep(delay)
        victim = victims.pop(0)
        proc = pipe.tailer if victim == "tailer" else pipe.indexers[rng.randrange(len(pipe.indexers))]
        proc.kill9()
        kills.append((victim, round(delay, 2), work.changes))
        proc.start()
    thread.join()
    assert not errors, errors
    print(f"\nseed {seed}: kill -9 points (victim, delay s, changes written): {kills}")
    wait_indexed(fresh_db, index_state, kafka, pipeline=pipe, timeout=600)
    assert work.changes >= changes
    problems = compare_index_with_db(fresh_db, index_state)
    logs = [pipe.tailer.log_path, *(ix.log_path for ix in pipe.indexers)]
    assert problems == CLEAN, explain_mismatch(problems, kafka, index_state, logs)
    pipe.stop()
    before = dump(fresh_db, index_state)

    # replay the whole topic from offset 0 with a new group over the same index: nothing changes
    replay = replace(kafka, group=kafka.group + "-replay")
    again = IndexerProcess(fresh_db, index_state, replay, "replay",
                           TICKETSEARCH_KAFKA_CLAIM_DIR=str(tmp_path / "claims")).start()
    deadline = time.monotonic() + 300
    status = index_state / "kafka" / "replay.json"
    while time.monotonic() < deadline:
        data = json.loads(status.read_text()) if status.exists() else {}
        if len(data.get("partitions", {})) == kafka.partitions:
            # every partition's last watermark (the tailer's final checkpoint) applied again: all read
            marks = {p: w["position"] for p, w in data["partitions"].items()}
            tailer_marks = json.loads((tmp_path / "tailer-state" / "checkpoint.json").read_text())["position"]
            if all(m["file"] == tailer_marks["file"] and m["offset"] >= tailer_marks["offset"] for m in marks.values()):
                break
        assert again.alive(), again.log()[-3000:]
        time.sleep(0.2)
    else:
        raise AssertionError(f"replay did not finish: {again.log()[-3000:]}")
    again.stop()
    assert dump(fresh_db, index_state) == before
    assert compare_index_with_db(fresh_db, index_state) == CLEAN
