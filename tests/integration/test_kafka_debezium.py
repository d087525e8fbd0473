"""Acceptance (issue 5), the Debezium drop-in against a private Tansu broker, with events shaped as the MySQL
connector writes them under the documented settings (column.propagate.source.type: BIGINT UNSIGNED wrapped,
BIT(n) in ceil(n/8) bytes, DATETIME by precision, FLOAT as float32, ...):

- streamed Debezium events, re-keyed by ticket, give the same index as our own tailer's envelopes;
- a Debezium snapshot, then a second one after rows vanished without events (offsets lost, when_needed), end
  with a sweep: the rows gone from the source leave the index;
- a change over the broker's limit is claim-checked by the re-keyer, never lost;
- a compressed transaction (one `pos` for all its events) would make a later change of a row look stale: it is
  dead-lettered with reason and position instead, and the dead-letter replay brings the row up to date.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest
from kafka import KafkaProducer
from kafka_support import CLEAN, execute, kafka, read_all, running, tansu, wait_marks  # noqa: F401
from support import compare_index_with_db, source_position
from test_crash_safety import dump
from workload import DATA, Workload

from searchcore.dbconfig import MySQLSettings
from searchcore.values import ColumnSpec
from syncer.checkpoint import Checkpoint, CheckpointStore
from syncer.column_specs import table_specs
from syncer.debezium import SourceColumn, debezium_from_envelope
from syncer.debezium_rekey import rekey_debezium
from syncer.envelope import Envelope, envelopes_for
from syncer.kafka_bus import KafkaSettings, ensure_topics
from syncer.kafka_indexer import KafkaIndexer
from syncer.kafka_replay import replay_dead_letters
from syncer.kafka_tailer import KafkaTailer
from syncer.load import load_corpora
from syncer.preflight import current_identity
from syncer.settings import SyncSettings
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import load_source_mapping
from syncer.tailer import TailerConfig, tail

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATA / "medical_dialogue.csv").exists(), reason=f"real corpora not found in {DATA}"),
]
MAPPING = load_source_mapping()


class DebeziumSide:
    """What a Debezium MySQL connector would publish for this database: one topic, one partition."""

    def __init__(self, db: MySQLSettings, settings: KafkaSettings, topic: str) -> None:
        self.db, self.topic = db, topic
        ensure_topics(settings, (topic, 1))
        self.producer = KafkaProducer(bootstrap_servers=settings.bootstrap, acks=-1, max_request_size=4_000_000)
        self.specs: dict[str, dict[str, ColumnSpec]] = {}
        self.columns: dict[str, dict[str, SourceColumn]] = {}
        conn = pymysql.connect(**db.connect_kwargs())
        with conn.cursor() as cur:
            for t in MAPPING.tables():
                json_cols = MAPPING.document.json_columns if t == MAPPING.document.table else frozenset()
                self.specs[t] = table_specs(cur, db.database, t, json_cols)
                cur.execute("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION,"
                            " NUMERIC_SCALE, DATETIME_PRECISION FROM information_schema.COLUMNS"
                            " WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", (db.database, t))
                self.columns[t] = {
                    name: SourceColumn(dtype.upper() + (" UNSIGNED" if "unsigned" in ctype.lower() else ""),
                                       next((int(x) for x in (chars, dtp, prec) if x is not None), None),
                                       None if scale is None else int(scale))
                    for name, dtype, ctype, chars, prec, scale, dtp in cur.fetchall()}
        conn.close()

    def send(self, envs: Sequence[Envelope], *, snapshot: str | None = None, last: bool = False) -> int:
        for i, env in enumerate(envs):
            marker = "last" if last and i == len(envs) - 1 else snapshot
            value = debezium_from_envelope(env, self.specs[env.source.table], server_name="dbz",
                                           columns=self.columns[env.source.table], snapshot=marker)
            self.producer.send(self.topic, value=json.dumps(value, ensure_ascii=False).encode(), partition=0)
        self.producer.flush()
        return len(envs)

    def snapshot(self) -> int:
        """A blocking snapshot: every row as an `r` event at the snapshot position, the last one marked."""
        with ConsistentSnapshot(self.db, MAPPING, 1) as cs:
            changes = [ch for t in cs.tenants() for chunk in cs.chunks(t, 0, 1000) for ch in chunk.changes]
        return self.send(envelopes_for(changes, server_id=1, db=self.db.database), snapshot="true", last=True)

    def close(self) -> None:
        self.producer.close()


def wait_until(check: object, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = check()  # type: ignore[operator]
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def binlog_envelopes(db: MySQLSettings, start: object) -> list[Envelope]:
    config = TailerConfig(source=db, tables=MAPPING.tables(),
                          json_columns={MAPPING.document.table: MAPPING.document.json_columns}, epoch=1,
                          replica_server_id=4_300_002)
    return [env for txn in tail(config, start, blocking=False)  # type: ignore[arg-type]
            for env in envelopes_for(txn.changes, server_id=1, db=db.database)]


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
    theirs_kafka = replace(kafka, topic=kafka.topic + ".dbz", group=kafka.group + "-dbz")
    dbz = DebeziumSide(fresh_db, theirs_kafka, f"dbz{kafka.topic}.{fresh_db.database}.all")
    events = dbz.send(binlog_envelopes(fresh_db, start))
    dbz.close()
    assert events >= 2_000
    theirs = SyncSettings(source=fresh_db, state_dir=tmp_path / "theirs")
    ix_ours = KafkaIndexer(ours, kafka, member="ours")
    ix_theirs = KafkaIndexer(theirs, theirs_kafka, member="theirs")

    def rekey(until: object) -> None:
        rekey_debezium(theirs, theirs_kafka, [dbz.topic], until=until)  # type: ignore[arg-type]

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


def test_debezium_snapshots_sweep_claim_check_and_compressed_transaction(fresh_db: MySQLSettings, tmp_path: Path,
                                                                         kafka: KafkaSettings) -> None:  # noqa: F811
    load_corpora(fresh_db, DATA, limit_per_file=10)
    kafka = replace(kafka, max_message_bytes=100_000, claim_dir=tmp_path / "claims")
    dbz = DebeziumSide(fresh_db, kafka, f"dbz{kafka.topic}.{fresh_db.database}.all")
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, kafka, member="solo")

    def rekey(until: object) -> None:
        rekey_debezium(settings, kafka, [dbz.topic], until=until)  # type: ignore[arg-type]

    def problems() -> dict[str, list[str]]:
        return compare_index_with_db(fresh_db, settings.state_dir)

    with running(indexer.run, rekey):
        assert dbz.snapshot() > 100
        assert wait_until(lambda: problems() == CLEAN), problems()
        # rows vanish while the connector is down and its offsets are lost: it takes a new snapshot
        for sql in ("DELETE FROM ticket_comments WHERE MOD(ticket_id, 5) = 0",
                    "DELETE FROM ticket_tags WHERE MOD(ticket_id, 5) = 0", "DELETE FROM tickets WHERE MOD(id, 5) = 0",
                    "DELETE FROM ticket_comments WHERE MOD(id, 3) = 0"):
            execute(fresh_db, sql)
        gone = problems()
        assert gone["extra"] and gone["stale"], "the deletions should not be in the index before the re-snapshot"
        dbz.snapshot()
        assert wait_until(lambda: problems() == CLEAN), {k: v[:5] for k, v in problems().items()}

        conn = pymysql.connect(**fresh_db.connect_kwargs())
        with conn.cursor() as cur:
            cur.execute("SELECT tenant_id, id FROM tickets ORDER BY tenant_id, id LIMIT 3")
            (tenant, a), (_, b), (_, c) = cur.fetchall()
        conn.close()
        start = source_position(fresh_db)
        execute(fresh_db, "UPDATE tickets SET description=REPEAT('很长的描述', 20000) WHERE tenant_id=%s AND id=%s",
                (tenant, a))   # ~300 KB: over the 100 KB message limit
        dbz.send(binlog_envelopes(fresh_db, start))
        assert wait_until(lambda: problems() == CLEAN), problems()
        assert list((tmp_path / "claims").glob("*.json")), "the big change was not claim-checked"

        # one transaction, two rows events; compressed, Debezium reports the first one's pos for both
        start = source_position(fresh_db)
        conn = pymysql.connect(**fresh_db.connect_kwargs())
        with conn.cursor() as cur:
            cur.execute("UPDATE tickets SET status='pending', subject=CONCAT(subject, '·') "
                        "WHERE tenant_id=%s AND id IN (%s, %s, %s)", (tenant, a, b, c))
            cur.execute("UPDATE tickets SET status='solved' WHERE tenant_id=%s AND id=%s", (tenant, c))
        conn.commit()
        conn.close()
        envs = binlog_envelopes(fresh_db, start)
        assert len(envs) == 4 and len({e.source.pos for e in envs}) >= 2 and envs[-1].source.row == 0  # >= 2 events
        shared = envs[0].source.pos
        dbz.send([replace(e, source=replace(e.source, pos=shared)) for e in envs])
        letters = wait_until(lambda: read_all(kafka, kafka.dlq_topic))
        assert isinstance(letters, list) and len(letters) == 1, letters
        letter = letters[0]
        assert "binlog_transaction_compression" in str(letter["reason"])
        where = f"{envs[0].source.file}:{shared}"
        assert (letter["tenant"], letter["ticket"], letter["position"]) == (tenant, c, where)
        assert json.loads(str(letter["payload"]))["payload"]["after"]["status"] == "solved"   # the original event
        stale = wait_until(lambda: [p.split(":")[:2] for p in problems()["stale"]] == [[str(tenant), str(c)]])
        assert stale, problems()                   # a and b applied; c waits for the replay
    dbz.close()
    assert replay_dead_letters(settings, kafka, idle_s=2.0) == {"replayed": 1, "failed": 0}
    assert problems() == CLEAN


def test_rekeyer_dead_letters_garbage_and_goes_on(fresh_db: MySQLSettings, tmp_path: Path,
                                                  kafka: KafkaSettings) -> None:  # noqa: F811
    """Events that break the decoder anywhere (here a non-numeric server id) are dead-lettered by the re-keyer,
    never a crash loop; the next event is re-keyed."""
    golden = json.loads((Path(__file__).resolve().parents[1] / "golden" / "kafka" /
                         "debezium_connector_update.json").read_text(encoding="utf-8"))
    bad = json.loads(json.dumps(golden))
    bad["payload"]["source"]["server_id"] = "abc"
    topic = f"dbz{kafka.topic}.garbage"
    ensure_topics(kafka, (topic, 1))
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks=-1)
    for event in (bad, {"payload": {"after": [1]}}, golden):
        producer.send(topic, value=json.dumps(event, ensure_ascii=False).encode(), partition=0)
    producer.flush()
    producer.close()
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "rekey")

    def rekey(until: object) -> None:
        rekey_debezium(settings, kafka, [topic], until=until)  # type: ignore[arg-type]

    def republished() -> list[dict[str, object]]:
        return [r for r in read_all(kafka, kafka.topic) if r.get("op") == "u"]

    with running(rekey):
        assert wait_until(republished), "the valid event after the garbage was not re-keyed"
    letters = read_all(kafka, kafka.dlq_topic)
    assert [str(x["reason"]).split(":")[0] for x in letters] == ["unreadable Debezium event"] * 2, letters
    changes = republished()
    assert len(changes) == 1 and changes[0]["after"]["id"] == 42      # type: ignore[index]
