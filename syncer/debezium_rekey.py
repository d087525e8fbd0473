"""Debezium re-keyer: Debezium MySQL connector topics -> our change topic, keyed by ticket document.

Input: one or more Debezium topics (the documented settings, docs/kafka.md: the helpdesk tables routed to one
topic of one partition, so the events arrive in binlog order), the indexer group's KafkaSettings, the version
epoch of this binlog history.
Output: for each row event, our envelope (syncer.envelope, version from the event's file/pos/row) under each
document key it feeds, claim-checked when over the message limit; a sweep in every partition after each
(re-)snapshot, so rows gone from the source leave the index as with our own tailer; a watermark per partition
after each batch (so `index --lag` works); dead letters, with the original Debezium payload, reason and
position, for events that cannot be applied correctly (truncate, DDL, undecodable, or a change whose binlog
coordinate another change of the same row already took: Debezium reports one `pos` for every event of a
compressed transaction, binlog_transaction_compression=ON, so the later change would look stale).
Guarantee: source offsets are committed only after everything republished from them is acknowledged
(acks=all): a crash republishes, never skips; republishing is harmless (versions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from searchcore.positions import BinlogPosition, make_version
from syncer.assemble import PoisonChange, route
from syncer.debezium import change_from_debezium
from syncer.envelope import (
    SWEEP_KEY,
    WATERMARK_KEY,
    Envelope,
    SourceInfo,
    Sweep,
    Watermark,
    document_keys,
    key_tenant,
    no_lookup,
    parse_json,
)
from syncer.events import Op, RowChange
from syncer.source_mapping import SourceMapping

log = logging.getLogger(__name__)
SNAPSHOT_MARKERS = frozenset({"true", "first", "first_in_data_collection", "last_in_data_collection", "last"})
COMPRESSED_REASON = ("binlog coordinate {coord} already taken by another change of the same row: Debezium reports "
                     "one position for a whole compressed transaction (binlog_transaction_compression=ON), so "
                     "this change would look stale; turn compression off, then replay the dead letters")


def row_identities(change: RowChange, mapping: SourceMapping) -> set[str]:
    """The versioned things a change writes: document parts (tenant, ticket, slot, row key) for rows that feed
    documents, else its lookup keys."""
    try:
        routed = route(change, mapping, no_lookup)
    except PoisonChange:
        return set()
    if routed:
        return {f"{dc.tenant_id}:{dc.ticket_id}:{dc.child}:{dc.key}" for dc in routed}
    return set(document_keys(change, mapping))


@dataclass
class SharedCoordinateGuard:
    """Within one binlog coordinate (file, pos), remembers for each row identity the highest row index and the
    change seen there. A change of the same row at a lower index, or at the same index with other values, would
    get a version not above the one already applied: in a correct binlog that cannot happen (every rows event
    has its own position), so the stream is from a compressed transaction. Duplicates pass."""

    at: tuple[str, int] | None = None
    seen: dict[str, tuple[int, str]] = field(default_factory=dict)

    def admit(self, change: RowChange, pos: int, row: int, identities: set[str]) -> bool:
        if change.op is Op.SNAPSHOT:
            return True       # snapshot reads share one coordinate by design, one row each
        if self.at != (change.file, pos):
            self.at, self.seen = (change.file, pos), {}
        fingerprint = hashlib.sha1(json.dumps([change.table, change.op.value, change.before, change.after],
                                              sort_keys=True, default=str).encode()).hexdigest()
        for ident in identities:
            prior = self.seen.get(ident)
            if prior is not None and (row < prior[0] or (row == prior[0] and fingerprint != prior[1])):
                return False
        for ident in identities:
            self.seen[ident] = (row, fingerprint)
        return True


@dataclass
class _SnapshotTracker:
    """Where the current Debezium snapshot reads from; its sweep is due after its `last` event, or when
    streaming events follow its reads without one (the last read went to a table routed elsewhere)."""

    at: tuple[str, int] | None = None

    def observe(self, marker: str, change: RowChange, pos: int) -> tuple[str, int] | None:
        """The snapshot whose sweep is due before (streaming) or after (`last`) this event, if any."""
        if change.op is Op.SNAPSHOT and marker in SNAPSHOT_MARKERS:
            self.at = (change.file, pos)
            return None
        if change.op is not Op.SNAPSHOT and self.at is not None:
            done, self.at = self.at, None
            return done
        return None


def rekey_debezium(settings: Any, kafka: Any, source_topics: list[str], *, epoch: int = 1,
                   until: Callable[[], bool] | None = None) -> int:
    """Consume Debezium topics and republish their events as our envelopes under their document key(s) on
    the change topic (acks=all); source offsets are committed only after the republished events are
    acknowledged. Returns the number of messages published."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from syncer.kafka_bus import Publisher, dead_letter_value, ensure_topics
    from syncer.source_mapping import load_source_mapping

    mapping = load_source_mapping(settings.source_mapping_path)
    claim_dir = kafka.claim_dir or settings.state_dir / "claims"
    ensure_topics(kafka)
    publisher = Publisher(kafka, client_id="ticketsearch-debezium-rekey")
    consumer = KafkaConsumer(*source_topics, bootstrap_servers=kafka.bootstrap, group_id=f"{kafka.group}.rekey",
                             enable_auto_commit=False, auto_offset_reset="earliest", allow_auto_create_topics=False,
                             session_timeout_ms=kafka.session_timeout_ms,
                             heartbeat_interval_ms=kafka.heartbeat_interval_ms)
    guard, snapshots = SharedCoordinateGuard(), _SnapshotTracker()
    moved = dead = 0

    def dead_letter(r: Any, reason: str, keys: list[str], position: str | None) -> None:
        nonlocal dead
        for key in keys or ["debezium:unroutable"]:
            dead += 1
            tenant = key_tenant(key)
            ticket = int(key.rsplit(":", 1)[1]) if ":ticket:" in key else None
            log.warning("dead-lettered (%d so far): %s", dead, reason, extra={"tenant": tenant, "position": position})
            publisher.send(kafka.dlq_topic, "" if tenant is None else str(tenant), dead_letter_value(
                payload=r.value, reason=reason, tenant=tenant, ticket=ticket, position=position, topic=r.topic,
                partition=r.partition, offset=r.offset, key=key.encode(), max_bytes=kafka.max_message_bytes,
                claim_dir=claim_dir), partition=0, position=position)

    def control(key: bytes, value: bytes, position: str) -> None:
        for p in range(publisher.partitions(kafka.topic)):
            publisher.send(kafka.topic, key.decode(), value, partition=p, position=position)

    def sweep(at: tuple[str, int]) -> None:
        position = BinlogPosition(at[0], at[1])
        parts = publisher.partitions(kafka.topic)
        control(SWEEP_KEY, Sweep(make_version(epoch, at[0], at[1]), position, parts, kafka.partitioner).encode(),
                str(position))
        log.info("Debezium snapshot at %s done: sweep sent", position,
                 extra={"tenant": None, "position": str(position)})

    try:
        while not (until is not None and until()):
            got = consumer.poll(timeout_ms=200, max_records=5000)
            offsets, last = {}, None
            for tp, records in got.items():
                for r in records:
                    if r.value is None:
                        continue        # a tombstone: the delete event before it did the work
                    last = _republish(r, epoch, mapping, guard, snapshots, publisher, kafka, claim_dir,
                                      dead_letter, sweep) or last
                    moved += 1
                offsets[TopicPartition(tp.topic, tp.partition)] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
            if offsets:
                if last is not None:
                    control(WATERMARK_KEY, Watermark(last[0], last[1]).encode(), str(last[0]))
                publisher.flush()
                consumer.commit(offsets)
            elif until is None:
                time.sleep(0.05)
    finally:
        consumer.close(autocommit=False)
        publisher.close()
    return moved


def _republish(r: Any, epoch: int, mapping: SourceMapping, guard: SharedCoordinateGuard,
               snapshots: _SnapshotTracker, publisher: Any, kafka: Any, claim_dir: Any,
               dead_letter: Callable[[Any, str, list[str], str | None], None],
               sweep: Callable[[tuple[str, int]], None]) -> tuple[BinlogPosition, int] | None:
    """One Debezium event: its envelopes published (or dead-lettered); the source position it reached."""
    from syncer.kafka_bus import claim_check

    try:
        data = parse_json(r.value)
        change = change_from_debezium(data, epoch=epoch)
        inner = data.get("payload")
        src: Mapping[str, Any] = (inner if isinstance(inner, dict) else data)["source"]
        pos, row = int(src["pos"]), int(src.get("row") or 0)
        server_id, db = int(src.get("server_id") or 0), str(src.get("db") or "")
        keys = document_keys(change, mapping)
    except Exception as exc:  # noqa: BLE001 - any malformed event is poison: dead-lettered, never a crash loop
        dead_letter(r, f"unreadable Debezium event: {type(exc).__name__}: {exc}", [], None)
        return None
    position = f"{change.file}:{pos + row}"
    due = snapshots.observe(str(src.get("snapshot") or "false"), change, pos)
    if due is not None:
        sweep(due)              # streaming follows a snapshot that had no `last` event on this topic
    if not guard.admit(change, pos, row, row_identities(change, mapping)):
        dead_letter(r, COMPRESSED_REASON.format(coord=position), keys, position)
    else:
        source = SourceInfo(server_id=server_id, file=change.file, pos=pos, row=row,
                            gtid=change.gtid, db=db, table=change.table,
                            snapshot=change.op is Op.SNAPSHOT)
        env = Envelope(change.op, change.before, change.after, change.ts_ms, source, change.version)
        value = env.encode()
        if len(value) > kafka.max_message_bytes:
            value = claim_check(env, value, claim_dir).encode()
        for key in keys:
            publisher.send(kafka.topic, key, value, position=position)
    if str(src.get("snapshot")) == "last" and change.op is Op.SNAPSHOT:
        snapshots.at = None
        sweep((change.file, pos))
    return BinlogPosition(change.file, pos + row + 1), change.ts_ms
