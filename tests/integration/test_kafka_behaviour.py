"""Acceptance (issue 5), the pipeline halves in threads of the test process against a private Tansu broker:

- interleaved changes to one ticket and its comments from concurrent MySQL sessions all arrive (none stale);
- a poison change lands in the dead-letter topic with reason, tenant and position, later changes are applied,
  the count is reported, and replaying the dead letters after the fix applies it;
- a change over the broker's message limit is claim-checked and indexed, never lost;
- Debezium-format events (one ordered topic, re-keyed by ticket) give the same index as our own envelopes;
- a re-snapshot through Kafka (TRUNCATE, a table swap) removes the rows gone from the source.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka_support import kafka, tansu  # noqa: F401
from support import compare_index_with_db, source_position
from test_crash_safety import dump
from workload import DATA, Workload

from searchcore.dbconfig import MySQLSettings
from syncer.checkpoint import Checkpoint, CheckpointStore
from syncer.column_specs import table_specs
from syncer.debezium import debezium_from_envelope, rekey_debezium
from syncer.envelope import envelopes_for
from syncer.kafka_bus import KafkaSettings, ensure_topics
from syncer.kafka_indexer import KafkaIndexer, applied_watermarks
from syncer.kafka_replay import replay_dead_letters
from syncer.kafka_tailer import KafkaTailer
from syncer.load import load_corpora
from syncer.preflight import current_identity
from syncer.settings import SyncSettings
from syncer.source_mapping import load_source_mapping
from syncer.tailer import TailerConfig, tail

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATA / "medical_dialogue.csv").exists(), reason=f"real corpora not found in {DATA}"),
]
CLEAN = {"missing": [], "extra": [], "stale": []}


@contextmanager
def running(*targets: object) -> Iterator[threading.Event]:
    stop = threading.Event()
    threads = [threading.Thread(target=t, kwargs={"until": stop.is_set}, daemon=True) for t in targets]  # type: ignore
    for t in threads:
        t.start()
    try:
        yield stop
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)


def wait_marks(db: MySQLSettings, state: Path, partitions: int, timeout: float = 120) -> None:
    from searchcore.positions import BinlogPosition

    target = source_position(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        marks = applied_watermarks(state)
        if len(marks) == partitions and all(target <= BinlogPosition.from_json(m["position"]) for m in marks.values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"not indexed to {target}: {applied_watermarks(state)}")


def execute(db: MySQLSettings, sql: str, args: tuple[object, ...] = ()) -> None:
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def test_concurrent_sessions_poison_replay_and_oversized(fresh_db: MySQLSettings, tmp_path: Path,
                                                         kafka: KafkaSettings) -> None:  # noqa: F811
    load_corpora(fresh_db, DATA, limit_per_file=20)
    kafka = replace(kafka, max_message_bytes=100_000, claim_dir=tmp_path / "claims")
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), kafka)
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, kafka, member="solo")
    with running(tailer.run, indexer.run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        # 1. two sessions interleave commits on one ticket (subject) and its comments
        tenant, ticket = 1, 900_001
        execute(fresh_db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                          "VALUES (%s,%s,'C-1','开始','并发')", (tenant, ticket))

        def ticket_session() -> None:
            for i in range(150):
                execute(fresh_db, "UPDATE tickets SET subject=%s WHERE tenant_id=%s AND id=%s",
                        (f"第{i}次修改", tenant, ticket))

        def comment_session() -> None:
            for i in range(150):
                execute(fresh_db, "INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (%s,%s,%s,%s)",
                        (tenant, 800_000 + i, ticket, f"回复{i}"))
                if i % 3 == 0:
                    execute(fresh_db, "UPDATE ticket_comments SET body=%s WHERE tenant_id=%s AND id=%s",
                            (f"改过的回复{i}", tenant, 800_000 + i))

        sessions = [threading.Thread(target=ticket_session), threading.Thread(target=comment_session)]
        for s in sessions:
            s.start()
        for s in sessions:
            s.join()
        # 2. a poison change (a tag link to a tag that does not exist), then a normal change after it
        execute(fresh_db, "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (%s,%s,%s)",
                (tenant, ticket, 987_654))
        execute(fresh_db, "UPDATE tickets SET status='solved' WHERE tenant_id=%s AND id=%s", (tenant, ticket))
        # 3. a change far over the broker's message limit
        big = "超大工单正文" * 60_000
        execute(fresh_db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                          "VALUES (%s,%s,'BIG-1','超大',%s)", (tenant, 900_002, big))
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        # every change is there (the last committed subject, all 150 comments, the status after the poison)
        assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN
        assert list((tmp_path / "claims").glob("*.json")), "the big change was not claim-checked"
        assert indexer.counts["dead_lettered"] == 1
        letters = read_all(kafka, kafka.dlq_topic)
        assert len(letters) == 1
        letter = letters[0]
        assert "tags row 987654 of tenant 1 not found" in letter["reason"]
        assert letter["tenant"] == tenant and letter["position"].startswith("mysql-bin.")
        assert json.loads(letter["payload"])["after"]["tag_id"] == 987_654
        # 4. the fix (the tag exists now), then a replay of the dead letters applies the change
        execute(fresh_db, "INSERT INTO tags (tenant_id, id, name) VALUES (%s,%s,'补上的标签')", (tenant, 987_654))
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        problems = compare_index_with_db(fresh_db, settings.state_dir)
        assert [p.split(":")[:2] for p in problems["stale"]] == [["1", "900001"]]   # the tag is still missing
    assert replay_dead_letters(settings, kafka, idle_s=2.0) == {"replayed": 1, "failed": 0}
    assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN


@pytest.mark.parametrize("partitioner", ["tenant", "key"])
def test_resnapshot_through_kafka_removes_rows_gone_from_the_source(fresh_db: MySQLSettings, tmp_path: Path,
                                                                    kafka: KafkaSettings,  # noqa: F811
                                                                    partitioner: str) -> None:
    """TRUNCATE and a shadow-table swap that leaves tickets out make the tailer re-snapshot through Kafka; the
    sweep at the end of the snapshot removes the comments and tickets that are gone (and nothing else) — with
    either partitioner (by key, each partition's sweep covers the documents whose key maps to it)."""
    load_corpora(fresh_db, DATA, limit_per_file=20)
    kafka = replace(kafka, partitioner=partitioner)
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), kafka)
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, kafka, member="solo")
    with running(tailer.run, indexer.run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN
        execute(fresh_db, "TRUNCATE TABLE ticket_comments")
        execute(fresh_db, "INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) "
                          "SELECT tenant_id, 7000000 + id, id, '截断之后的回复' FROM tickets WHERE MOD(id, 7) = 0")
        execute(fresh_db, "CREATE TABLE _tickets_new LIKE tickets")
        execute(fresh_db, "INSERT INTO _tickets_new SELECT * FROM tickets WHERE MOD(id, 3) <> 0")
        execute(fresh_db, "RENAME TABLE tickets TO _tickets_old, _tickets_new TO tickets")
        execute(fresh_db, "UPDATE tickets SET subject='交换之后' WHERE MOD(id, 5) = 0")
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        problems = compare_index_with_db(fresh_db, settings.state_dir)
        assert problems == CLEAN, {k: v[:5] for k, v in problems.items()}
    assert indexer.counts["dead_lettered"] == 0


def read_all(kafka: KafkaSettings, topic: str) -> list[dict[str, object]]:  # noqa: F811
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=3000)
    out = [json.loads(r.value) for r in consumer]
    consumer.close()
    return out


def test_debezium_events_give_the_same_index(fresh_db: MySQLSettings, tmp_path: Path,
                                             kafka: KafkaSettings) -> None:  # noqa: F811
    start = source_position(fresh_db)
    work = Workload(fresh_db, list(range(1, 13)), seed=7)
    work.prepare()
    work.run(3_000)
    # ours: tailer -> topic -> indexer, streaming from the same start as the Debezium events
    ours = SyncSettings(source=fresh_db, state_dir=tmp_path / "ours")
    CheckpointStore(tmp_path / "tailer").save(Checkpoint(position=start, epoch=1, source=current_identity(fresh_db)))
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), kafka)
    # the same binlog as Debezium would publish it: one topic, one partition (binlog order)
    mapping = load_source_mapping()
    dbz_topic = f"dbz{kafka.topic}.{fresh_db.database}.all"
    theirs_kafka = replace(kafka, topic=kafka.topic + ".dbz", group=kafka.group + "-dbz")
    ensure_topics(theirs_kafka, (dbz_topic, 1))
    conn = pymysql.connect(**fresh_db.connect_kwargs())
    with conn.cursor() as cur:
        specs = {t: table_specs(cur, fresh_db.database, t, mapping.document.json_columns
                                if t == mapping.document.table else frozenset()) for t in mapping.tables()}
    conn.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks=-1)
    config = TailerConfig(source=fresh_db, tables=mapping.tables(),
                          json_columns={mapping.document.table: mapping.document.json_columns}, epoch=1,
                          replica_server_id=4_300_001)
    events = 0
    for txn in tail(config, start, blocking=False):
        for env in envelopes_for(txn.changes, server_id=1, db=fresh_db.database):
            value = debezium_from_envelope(env, specs[env.source.table], server_name="dbz")
            producer.send(dbz_topic, value=json.dumps(value, ensure_ascii=False).encode(), partition=0)
            events += 1
    producer.flush()
    producer.close()
    assert events >= 2_000
    theirs = SyncSettings(source=fresh_db, state_dir=tmp_path / "theirs")
    ix_ours = KafkaIndexer(ours, kafka, member="ours")
    ix_theirs = KafkaIndexer(theirs, theirs_kafka, member="theirs")

    def rekey(until: object) -> None:
        rekey_debezium(theirs, theirs_kafka, [dbz_topic], until=until)  # type: ignore[arg-type]

    with running(tailer.run, ix_ours.run, ix_theirs.run, rekey):
        wait_marks(fresh_db, ours.state_dir, kafka.partitions)
        deadline = time.monotonic() + 120
        while ix_theirs.counts["applied"] < events and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    assert ix_theirs.counts["dead_lettered"] == 0
    assert compare_index_with_db(fresh_db, ours.state_dir) == CLEAN
    assert compare_index_with_db(fresh_db, theirs.state_dir) == CLEAN
    assert dump(fresh_db, theirs.state_dir) == dump(fresh_db, ours.state_dir)
