"""Replay of the Kafka dead-letter topic (`ticketsearch index --replay-deadletters`).

Input: the dead-letter topic (records written by syncer.kafka_indexer with the original payload), the settings
of the indexer group, the source (for a consistent re-read of each replayed ticket).
Output: the letters re-applied through the normal versioned path; letters that fail again are dead-lettered
again, marked with this run; {"replayed": n, "failed": m}.
Guarantee: a replayed letter is older than the later changes of its document, so each replayed ticket is then
refreshed from a consistent read of the source (rows at that read's version): the fix reaches the index even
though the letter alone would be rejected as stale. Offsets of the replay group are committed per partition
after its letters are applied.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata

from syncer.kafka_bus import KafkaSettings, dead_letter_payload
from syncer.kafka_dead_letters import release_held
from syncer.kafka_indexer import KafkaIndexer
from syncer.kafka_members import exclusive, release
from syncer.settings import SyncSettings

log = logging.getLogger(__name__)


def replay_dead_letters(settings: SyncSettings, kafka: KafkaSettings, *, idle_s: float = 3.0) -> dict[str, int]:
    """Re-apply every dead letter through the normal versioned path, then refresh each affected ticket document
    from a consistent read of the source at its current position P (rows at the version of P): a dead letter
    is older than the document's later changes, so on its own it would be rejected as stale. Letters that fail
    again are dead-lettered again, marked with this run so the run stops there."""
    lock = exclusive(settings.state_dir, "replay the dead letters")
    try:
        return _replay(settings, kafka, idle_s)
    finally:
        release(lock)


def _replay(settings: SyncSettings, kafka: KafkaSettings, idle_s: float) -> dict[str, int]:
    run = uuid.uuid4().hex
    indexer = KafkaIndexer(settings, kafka, member=f"dlq-replay-{run[:8]}")
    indexer.replay_run = run
    indexer.lookups.load_all()
    consumer = KafkaConsumer(kafka.dlq_topic, bootstrap_servers=kafka.bootstrap,
                             group_id=f"{kafka.group}.dlq-replay", enable_auto_commit=False,
                             allow_auto_create_topics=False,
                             auto_offset_reset="earliest", session_timeout_ms=kafka.session_timeout_ms,
                             heartbeat_interval_ms=kafka.heartbeat_interval_ms)
    result = {"replayed": 0, "failed": 0}
    refresh: set[tuple[int, int]] = set()
    try:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < idle_s:
            got = consumer.poll(timeout_ms=200)
            if not got:
                if not consumer.assignment():
                    idle_since = time.monotonic()     # still joining the group: not idle yet
                continue
            idle_since = time.monotonic()
            for tp, records in got.items():
                for r in records:
                    letter = json.loads(r.value)
                    if letter.get("replay_run") == run:
                        continue
                    payload = dead_letter_payload(letter)
                    before = indexer.counts["dead_lettered"]
                    fake = type("R", (), {"topic": letter["topic"], "partition": letter["partition"],
                                          "offset": letter["offset"], "value": payload,
                                          "key": None if letter["key"] is None else letter["key"].encode()})
                    indexer.apply_records([fake])
                    failed = indexer.counts["dead_lettered"] > before
                    result["failed" if failed else "replayed"] += 1
                    key = letter.get("key") or ""
                    if not failed and ":ticket:" in key:
                        tenant, _, ticket = key.split(":")
                        refresh.add((int(tenant), int(ticket)))
                consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)})
            indexer.publisher.flush()
        release_held(settings.state_dir, refresh)     # before the refresh: one that is rejected again holds again
        _refresh_from_source(indexer, sorted(refresh))
    finally:
        consumer.close(autocommit=False)
        indexer.close()
    return result


def _refresh_from_source(indexer: KafkaIndexer, tickets: list[tuple[int, int]]) -> None:
    from syncer.snapshot import ConsistentSnapshot

    if not tickets:
        return
    with ConsistentSnapshot(indexer.settings.source, indexer.mapping, indexer.epoch) as cs:
        for tenant, ticket in tickets:
            for chunk in cs.chunks(tenant, ticket - 1, 1):
                doc = indexer.mapping.document
                rows = [c for c in chunk.changes if c.after is not None and int(c.after.get(
                    doc.id_column if c.table == doc.table else _parent(indexer, c.table), -1)) == ticket]
                indexer._apply_with_retries(rows)
                log.info("refreshed ticket %d from the source at %s", ticket, cs.position,
                         extra={"tenant": tenant, "position": str(cs.position)})
                break


def _parent(indexer: KafkaIndexer, table: str) -> str:
    child = indexer.mapping.child_for_table(table)
    return child.parent_column if child is not None else "__none__"


def list_dead_letters(kafka: KafkaSettings, *, idle_s: float = 3.0) -> list[dict[str, object]]:
    """Every letter in the dead-letter topic, oldest first, without its payload (read-only: no group offsets)."""
    consumer = KafkaConsumer(kafka.dlq_topic, bootstrap_servers=kafka.bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest", allow_auto_create_topics=False,
                             consumer_timeout_ms=int(idle_s * 1000))
    try:
        out = []
        for r in consumer:
            letter = json.loads(r.value)
            out.append({"dlq_offset": r.offset, **{k: letter.get(k) for k in (
                "reason", "tenant", "ticket", "position", "key", "replay_run")},
                "source": {"topic": letter.get("topic"), "partition": letter.get("partition"),
                           "offset": letter.get("offset")}})
        return out
    finally:
        consumer.close(autocommit=False)
