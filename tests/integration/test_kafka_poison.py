"""Poison on the change topic never stops the indexer group (issue 5: "poison -> dead-letter topic ... the group
goes on"): malformed control records and Debezium-shaped events that break the decoder in unexpected ways are
dead-lettered with their reason and the following changes are applied; a dead letter too large for the broker
(JSON escaping doubles a payload full of quotes) keeps its payload in the claim directory and replays from it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka_support import kafka, kafka_env, read_all, running, tansu  # noqa: F401
from support import PROJECT, env_for

from searchcore.dbconfig import MySQLSettings
from syncer.envelope import SWEEP_KEY, WATERMARK_KEY
from syncer.kafka_bus import KafkaSettings, dead_letter_payload, ensure_topics, partition_for
from syncer.kafka_indexer import KafkaIndexer
from syncer.kafka_members import IndexerMembersRunning
from syncer.kafka_replay import replay_dead_letters
from syncer.settings import SyncSettings

pytestmark = [pytest.mark.integration]
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "kafka"


def debezium_like(after: object, created_at: object) -> bytes:
    return json.dumps({
        "schema": {"type": "struct", "fields": [
            {"field": "after", "type": "struct", "fields": [
                {"field": "created_at", "type": "int64", "name": "io.debezium.time.Timestamp"}]}]},
        "payload": {"op": "c", "before": None, "after": after if after is not None else {"created_at": created_at},
                    "source": {"connector": "mysql", "file": "mysql-bin.000001", "pos": 4, "row": 0,
                               "table": "tickets", "server_id": 1}}}).encode()


def test_malformed_records_are_dead_lettered_and_the_group_goes_on(fresh_db: MySQLSettings, tmp_path: Path,
                                                                   kafka: KafkaSettings) -> None:  # noqa: F811
    kafka = replace(kafka, max_message_bytes=100_000, claim_dir=tmp_path / "claims")
    ensure_topics(kafka)
    part = partition_for("7:ticket:42", kafka.partitions, kafka.partitioner)
    quotes = b'{"op": "' + b'"' * 90_000 + b'"}'          # ~90 KB, ~180 KB once escaped inside a dead letter
    poison = [
        (WATERMARK_KEY, b'{"schema_version":1,"op":"m","position":"bogus","observed_ms":1}', "bad watermark"),
        (WATERMARK_KEY, b'{"schema_version":1,"op":"m","position":5,"observed_ms":1}', "bad watermark"),
        (SWEEP_KEY, b'{"schema_version":1,"op":"sweep","floor":1,"position":"x","partitions":6}', "bad sweep"),
        (b"7:ticket:41", debezium_like([1], None), "undecodable change"),
        (b"7:ticket:41", debezium_like(None, 10**20), "undecodable change"),
        (b"7:ticket:43", quotes, "undecodable change"),
    ]
    golden = json.loads((GOLDEN / "envelope_ticket_insert.json").read_text(encoding="utf-8"))
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks=-1)
    for key, value, _ in poison:
        producer.send(kafka.topic, key=key, value=value, partition=part)
    producer.send(kafka.topic, key=b"7:ticket:42", value=json.dumps(golden["value"]).encode(), partition=part)
    producer.flush()
    producer.close()
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, kafka, member="solo")
    with running(indexer.run):
        deadline = time.monotonic() + 90
        while indexer.counts["applied"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert indexer.counts["applied"] == 1, indexer.counts           # the change after the poison
        time.sleep(0.5)
        # the replay and an offline reconcile need the index writers: refused at once while a member runs
        with pytest.raises(IndexerMembersRunning, match="stop them, then replay the dead letters"):
            replay_dead_letters(settings, kafka, idle_s=1.0)
        out = subprocess.run([sys.executable, "-m", "ticketsearch.cli", "reconcile"], cwd=PROJECT,
                             env=env_for(fresh_db, settings.state_dir), capture_output=True, text=True, timeout=120)
        assert out.returncode == 1 and "stop them, then reconcile" in out.stderr, out.stderr[-1500:]
    assert indexer.counts["dead_lettered"] == len(poison)
    letters = read_all(kafka, kafka.dlq_topic)
    assert [str(letter["reason"]).split(":")[0] for letter in letters] == [p[2] for p in poison]
    assert all(letter["partition"] == part and letter["offset"] == i for i, letter in enumerate(letters))
    assert (letters[3]["tenant"], letters[3]["ticket"]) == (7, 41)   # whose, from the key
    big = letters[-1]
    assert big["payload"] is None and big["payload_claim"], "the oversized dead letter was not claim-checked"
    assert dead_letter_payload(big) == quotes
    assert all(dead_letter_payload(letter) == p[1] for letter, p in zip(letters, poison, strict=True))
    from syncer.service import open_backend

    backend = open_backend(settings, writable=False)
    assert [d.ticket_id for d in backend.all_documents(7)] == [42]
    backend.close()
    # stopped: the replay runs (the letters stay poison: each is dead-lettered again, reasons kept)
    result = replay_dead_letters(settings, kafka, idle_s=2.0)
    assert result == {"replayed": 0, "failed": len(poison)}, result
    again = read_all(kafka, kafka.dlq_topic)[len(poison):]
    assert [str(x["reason"]).split(":")[0] for x in again] == [p[2] for p in poison]
    listed = subprocess.run([sys.executable, "-m", "ticketsearch.cli", "deadletters", "list"], cwd=PROJECT,
                            env=env_for(fresh_db, settings.state_dir, **kafka_env(kafka)), capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-1500:]
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [str(r["reason"]).split(":")[0] for r in rows] == [p[2] for p in poison] * 2
    assert kafka.dlq_topic in listed.stderr
    embedded = subprocess.run([sys.executable, "-m", "ticketsearch.cli", "sync", "--snapshot-only"], cwd=PROJECT,
                              env=env_for(fresh_db, settings.state_dir), capture_output=True, text=True, timeout=120)
    assert embedded.returncode == 1 and "belongs to a Kafka indexer group" in embedded.stderr, embedded.stderr[-1500:]
    assert not (settings.state_dir / "checkpoint.json").exists()


def test_a_retried_batch_dead_letters_its_poison_once(fresh_db: MySQLSettings, tmp_path: Path,
                                                       kafka: KafkaSettings,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch holding a poison change (a tag link to a tag that does not exist) fails twice for a transient
    reason after the poison was found: the dead letter is sent once, when the batch finally succeeds."""
    from searchcore.positions import make_version
    from syncer.envelope import envelopes_for
    from syncer.events import Op, RowChange
    from syncer.indexer import Indexer

    ensure_topics(kafka)
    link = RowChange("ticket_tags", Op.INSERT, None, {"tenant_id": 7, "ticket_id": 42, "tag_id": 999_999},
                     make_version(1, "mysql-bin.000001", 500), "mysql-bin.000001", 500, None, 0)
    golden = json.loads((GOLDEN / "envelope_ticket_insert.json").read_text(encoding="utf-8"))
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks=-1)
    part = partition_for("7:ticket:42", kafka.partitions, kafka.partitioner)
    producer.send(kafka.topic, key=b"7:ticket:42", value=json.dumps(golden["value"]).encode(), partition=part)
    (env,) = envelopes_for([link], server_id=1, db=fresh_db.database)
    producer.send(kafka.topic, key=b"7:ticket:42", value=env.encode(), partition=part)
    producer.flush()
    producer.close()
    real_apply, calls = Indexer.apply, []

    def flaky_apply(self: Indexer, changes: object, position: object) -> object:
        report = real_apply(self, changes, position)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("transient: writer busy")
        return report

    monkeypatch.setattr(Indexer, "apply", flaky_apply)
    indexer = KafkaIndexer(SyncSettings(source=fresh_db, state_dir=tmp_path / "index"), kafka, member="solo")
    with running(indexer.run):
        deadline = time.monotonic() + 60
        while indexer.counts["applied"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    assert indexer.counts["retries"] == 2 and indexer.counts["dead_lettered"] == 1, indexer.counts
    letters = read_all(kafka, kafka.dlq_topic)
    assert len(letters) == 1 and (letters[0]["tenant"], letters[0]["ticket"]) == (7, 42), letters
