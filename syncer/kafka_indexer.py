"""Indexer group member: consumes the change topic and applies it to the embedded search backend.

Input: the change topic (our envelopes, claim checks, watermarks, snapshot sweeps, or Debezium-format events
already keyed by ticket: syncer.debezium), KafkaSettings and SyncSettings (index root, source for lookups).
Output: ticket documents in the per-tenant indexes; failed changes in the dead-letter topic; a status file
per member (<state_dir>/kafka/<member>.json) with, per owned partition, the binlog watermark applied.
Guarantee: offsets are committed manually, only after the backend write of everything before them has been
confirmed and dead letters are acknowledged (at-least-once; duplicates are harmless: versions). Batches are
cut by size and time. Each outcome is classified: ok; stale (an older version: success); retryable (backend,
lock or source errors: retried with exponential backoff, then applied change by change so only the failing
ones are dead-lettered); poison (undecodable, unroutable, oversized): dead-lettered with the original
payload, reason, tenant and source position, and the group goes on. Documents are built by read-modify-write
of the stored document (syncer.indexer): safe because the tenant partitioner puts every change of a tenant in
one partition, so exactly one member writes each tenant's index; on a rebalance the member drops its
uncommitted records, rewinds their partitions to the first of them (kafka-python keeps a re-assigned
partition's position) and closes its index writers before the new owner opens them. Kafka failures (a broker
restart) rewind the batch and go on; a re-created topic is read from its beginning. Dead letters:
syncer.kafka_dead_letters; snapshot sweeps: syncer.kafka_sweep; lag: syncer.kafka_lag.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition
from syncer.deadletters import DeadLetterStore
from syncer.debezium import change_from_debezium, is_debezium
from syncer.envelope import (
    SWEEP_KEY,
    WATERMARK_KEY,
    Envelope,
    EnvelopeError,
    Sweep,
    Watermark,
    key_tenant,
    key_ticket,
    parse_json,
)
from syncer.events import RowChange
from syncer.indexer import Indexer
from syncer.kafka_bus import (
    KafkaSettings,
    Publisher,
    PublishFailed,
    dead_letter_value,
    ensure_topics,
    resolve_claim,
)
from syncer.kafka_dead_letters import DeadLetterBuffer, Origin, held_tickets, hold_ticket
from syncer.kafka_lag import group_position
from syncer.kafka_members import join_members
from syncer.kafka_sweep import apply_sweep
from syncer.lookups import LookupDirectory
from syncer.metrics import SyncMetrics
from syncer.settings import SyncSettings
from syncer.source_mapping import load_source_mapping

log = logging.getLogger(__name__)
RETRY_ATTEMPTS = 6
TOPIC_CHECK_S = 30.0     # how often a member checks that the change topic was not re-created


@dataclass
class _Batch:
    records: list[Any] = field(default_factory=list)
    started: float = 0.0


class KafkaIndexer(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, settings: SyncSettings, kafka: KafkaSettings, *, member: str | None = None,
                 epoch: int = 1) -> None:
        self.settings = settings
        self.kafka = kafka
        self.epoch = epoch                       # version epoch of Debezium-format events
        self.member = member or f"{socket.gethostname()}-{os.getpid()}"
        self.mapping = load_source_mapping(settings.source_mapping_path)
        self.lookups = LookupDirectory(self.mapping, settings.source)
        self.dlq = DeadLetterBuffer(self)
        self.publisher = Publisher(kafka, client_id=f"ticketsearch-indexer-{self.member}", delivery_timeout_ms=45_000)
        self.backend: EmbeddedBackend | None = None
        self.status_path = settings.state_dir / "kafka" / f"{self.member}.json"
        self.watermarks: dict[int, dict[str, Any]] = {}
        self.counts = {"applied": 0, "stale": 0, "written": 0, "dead_lettered": 0, "retries": 0, "batches": 0}
        self._batch = _Batch()
        self.consumer: KafkaConsumer | None = None
        self.replay_run: str | None = None       # set while replaying dead letters
        self.topic_id: str | None = None
        self._member_lock: int | None = None
        self.partitions_total = kafka.partitions
        self._group_pos: tuple[float, BinlogPosition | None] = (0.0, None)
        self.metrics = SyncMetrics(settings.state_dir, f"kafka-{self.member}", settings.source)
        self._write_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tenant-write")

    # ---- group membership -------------------------------------------------------------------------------
    def on_partitions_revoked(self, revoked: Any) -> None:
        """Before a rebalance (and, through kafka-python's default `on_partitions_lost`, after an eviction): the
        uncommitted batch is discarded and every partition it came from is rewound to the batch's first record.
        kafka-python (3.x) keeps a partition's fetch position when the same member is assigned it again, so
        without the rewind those records would be skipped and the next commit would pass them (lost changes)."""
        rewound = self._rewind_uncommitted()
        self._close_backend()
        log.info("partitions revoked %s (uncommitted records rewound: %s)", sorted(p.partition for p in revoked),
                 rewound, extra={"tenant": None, "position": None})

    def _rewind_uncommitted(self) -> dict[int, int]:
        """Drop the pending batch; seek each of its partitions back to its first record. Returns {partition: offset}."""
        first: dict[TopicPartition, int] = {}
        for r in self._batch.records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        self._batch = _Batch()
        rewound: dict[int, int] = {}
        for tp, offset in sorted(first.items()):
            if self.consumer is None:
                break
            try:
                self.consumer.seek(tp, offset)
            except ValueError:
                continue   # no longer assigned: its state is gone, the next owner starts at the committed offset
            rewound[tp.partition] = offset
        return rewound

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self._topic_was_recreated() and self.consumer is not None and assigned:
            self.consumer.seek_to_beginning(*assigned)      # a new history: positions of the old one mean nothing
        parts = sorted(p.partition for p in assigned)
        self.watermarks = {p: w for p, w in self.watermarks.items() if p in parts}
        self._write_status()
        log.info("partitions assigned %s to %s", parts, self.member, extra={"tenant": None, "position": None})

    def _open_backend(self) -> EmbeddedBackend:
        if self.backend is None:
            mapping = load_mapping("tickets", self.settings.mapping_version)
            self.backend = EmbeddedBackend(self.settings.index_dir, mapping, Analyzer(AnalyzerConfig()), writable=True)
        return self.backend

    def _close_backend(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    # ---- main loop --------------------------------------------------------------------------------------
    def run(self, *, until: Callable[[], bool] | None = None, topics: list[str] | None = None) -> None:
        topic = ensure_topics(self.kafka)[self.kafka.topic]
        self.topic_id, self.partitions_total = topic.topic_id, topic.partitions
        checked = time.monotonic()
        self._member_lock = join_members(self.settings.state_dir)
        self.lookups.load_all()
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap, group_id=self.kafka.group, client_id=self.member,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=self.kafka.session_timeout_ms, heartbeat_interval_ms=self.kafka.heartbeat_interval_ms,
            max_poll_records=self.kafka.batch_max_records, max_poll_interval_ms=600_000,
            max_partition_fetch_bytes=self.kafka.max_message_bytes + 64 * 1024,
            allow_auto_create_topics=False, bootstrap_timeout_ms=10_000,
            metadata_max_age_ms=10_000,   # a topic re-created (or repartitioned) is seen within 10 s, not 5 min
            fetch_max_wait_ms=50,   # measured: the default 500 ms added ~50 ms to commit -> searchable p50 on Tansu
        )
        self.consumer.subscribe(topics or [self.kafka.topic], listener=self)
        delay = 1.0
        try:
            while not (until is not None and until()):
                try:
                    if time.monotonic() - checked > TOPIC_CHECK_S:
                        checked = time.monotonic()
                        self._check_topic()
                    self._step()
                    delay = 1.0
                except CommitFailedError as exc:
                    # the batch is applied and its dead letters acknowledged: only the offsets wait (re-delivery
                    # after a rebalance is harmless, versions)
                    log.warning("offset commit failed (%s); going on", exc, extra={"tenant": None, "position": None})
                    self._batch = _Batch()
                except (PublishFailed, KafkaError) as exc:
                    log.error("Kafka failed (%s): the batch is rewound, not committed; retrying in %.0f s", exc,
                              delay, extra={"tenant": None, "position": None})
                    self._rewind_uncommitted()
                    self.publisher.close(timeout=0)            # a producer the broker forgot: start a new one
                    self.publisher = Publisher(self.kafka, client_id=f"ticketsearch-indexer-{self.member}",
                                               delivery_timeout_ms=45_000)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)
        finally:
            self.close()

    def _step(self) -> None:
        """One poll; apply and commit the pending batch when it is full or old enough."""
        assert self.consumer is not None
        got = self.consumer.poll(timeout_ms=100, max_records=self.kafka.batch_max_records)
        for tp in sorted(got, key=lambda t: (t.topic, t.partition)):
            if not self._batch.records:
                self._batch.started = time.monotonic()
            self._batch.records.extend(got[tp])
        batch = self._batch
        if batch.records and (len(batch.records) >= self.kafka.batch_max_records
                              or time.monotonic() - batch.started >= self.kafka.batch_max_wait_s):
            before = dict(self.counts)
            self.apply_records(batch.records)       # the batch stays pending (rewound on failure) ...
            self._commit(batch.records)
            self._batch = _Batch()                  # ... until its offsets are committed
            self._report(before)
        elif not got:
            self.metrics.on_idle(self._group_position())

    def _report(self, before: dict[str, int]) -> None:
        """Metrics for the API's readiness and lag (<state>/metrics/kafka-<member>.json), as the sync service."""
        position = self._group_position(fresh=True)
        if position is None:
            self.metrics.on_idle(None)
            return
        self.metrics.on_batch(self.counts["applied"] - before["applied"], self.counts["written"] - before["written"],
                              self.counts["dead_lettered"] - before["dead_lettered"], position, {})

    def _group_position(self, *, fresh: bool = False) -> BinlogPosition | None:
        """The group's applied position from the members' status files; idle polls reuse it for a second."""
        now = time.monotonic()
        if fresh or now - self._group_pos[0] > 1.0:
            self._group_pos = (now, group_position(self.settings.state_dir))
        return self._group_pos[1]

    def _check_topic(self) -> None:
        """Between rebalances too: a re-created topic is read again from its beginning."""
        if self._topic_was_recreated() and self.consumer is not None:
            self._batch = _Batch()
            assigned = list(self.consumer.assignment())
            if assigned:
                self.consumer.seek_to_beginning(*assigned)

    def _topic_was_recreated(self) -> bool:
        """A re-created change topic (new id: a broker that forgot, a deleted topic) holds a new history: the
        watermarks of the old one say nothing, and kafka-python keeps the old fetch positions of partitions
        assigned again, which would skip the start of the new one."""
        try:
            info = ensure_topics(self.kafka)[self.kafka.topic]
        except Exception as exc:  # noqa: BLE001 - the consumer reports broker trouble itself
            log.warning("cannot check the change topic: %s", exc, extra={"tenant": None, "position": None})
            return False
        if self.topic_id is None or info.topic_id is None or info.topic_id == self.topic_id:
            self.topic_id = self.topic_id or info.topic_id
            return False
        log.warning("change topic %s was re-created (id %s, was %s): reading it from its beginning",
                    self.kafka.topic, info.topic_id, self.topic_id, extra={"tenant": None, "position": None})
        self.topic_id, self.partitions_total, self.watermarks = info.topic_id, info.partitions, {}
        self._write_status()
        return True

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
            self.consumer = None
        if self._member_lock is not None:
            os.close(self._member_lock)
            self._member_lock = None
        self.publisher.close()
        self._close_backend()
        self._write_pool.shutdown(wait=True)

    def _commit(self, records: list[Any]) -> None:
        assert self.consumer is not None
        self.publisher.flush()                 # dead letters acknowledged before their offsets are committed
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = OffsetAndMetadata(r.offset + 1, "", -1)
        self.consumer.commit(offsets)
        self._write_status()

    # ---- applying ---------------------------------------------------------------------------------------
    def apply_records(self, records: list[Any]) -> None:
        """Decode, apply with retries, dead-letter what cannot be applied. Raises nothing for bad data."""
        changes: list[RowChange] = []
        self.dlq.origins.clear()
        marks: dict[int, Watermark] = {}
        for r in records:
            if r.value is None:
                continue     # a Debezium tombstone (tombstones.on.delete): compaction only, nothing to apply
            origin = Origin(r.topic, r.partition, r.offset, r.key, r.value)
            if r.key == SWEEP_KEY:      # after the changes before it, in partition order
                if changes:
                    self._apply_with_retries(changes)
                    changes = []
                self._sweep_with_retries(origin)
                continue
            if r.key == WATERMARK_KEY:
                try:
                    marks[r.partition] = Watermark.from_json(parse_json(r.value))
                except Exception as exc:  # noqa: BLE001 - any malformed record is poison, never a crash loop
                    self.dead_letter(origin, f"bad watermark: {type(exc).__name__}: {exc}", tenant=None, ticket=None,
                                     position=None)
                continue
            try:
                change = self.decode(r.value)
            except Exception as exc:  # noqa: BLE001 - any malformed record is poison, never a crash loop
                key = r.key.decode(errors="replace") if r.key else ""
                self.dead_letter(origin, f"undecodable change: {type(exc).__name__}: {exc}", tenant=key_tenant(key),
                                 ticket=key_ticket(key), position=None)
                continue
            self.dlq.origins[id(change)] = origin
            changes.append(change)
        if changes:
            self._apply_with_retries(changes)
        for p, mark in marks.items():
            self.watermarks[p] = {"position": mark.position.to_json(), "observed_ms": mark.observed_ms,
                                  "applied_ms": int(time.time() * 1000)}
        self.counts["batches"] += 1

    def decode(self, value: bytes) -> RowChange:
        data = parse_json(value)
        if is_debezium(data):
            return change_from_debezium(data, epoch=self.epoch, mapping=self.mapping)
        env = Envelope.from_json(data)
        if env.claim_check is not None:
            env = resolve_claim(env)
        if env.source.table not in self.mapping.tables():
            raise EnvelopeError(f"table {env.source.table!r} is not in the source mapping", field="source.table")
        return env.to_change()

    def _indexer(self) -> Indexer:
        # tenants commit in parallel (lower commit -> searchable latency); apply returns only after every write
        return Indexer(self._open_backend(), self.mapping, self.lookups, cast(DeadLetterStore, self.dlq),
                       max_document_bytes=self.settings.max_document_bytes, pool=self._write_pool)

    def _apply_with_retries(self, changes: list[RowChange]) -> None:
        delay = 0.1
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            self.dlq.discard()
            try:
                report = self._indexer().apply(changes, None)
                self.dlq.send_deferred()
                self.counts["applied"] += report.changes
                self.counts["written"] += report.documents_written
                self.counts["stale"] += report.stale
                return
            except Exception as exc:  # noqa: BLE001 - classified: retryable, then isolated below
                self.counts["retries"] += 1
                log.warning("batch of %d changes failed (attempt %d/%d): %s; retrying in %.1f s", len(changes),
                            attempt, RETRY_ATTEMPTS, exc, delay,
                            extra={"tenant": None, "position": f"{changes[0].file}:{changes[0].offset}"})
                self._close_backend()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        for change in changes:   # isolate: only the changes that keep failing are dead-lettered
            self.dlq.discard()
            try:
                self._indexer().apply([change], None)
                self.dlq.send_deferred()
            except Exception as exc:  # noqa: BLE001 - dead-lettered with the reason
                self._close_backend()
                origin = self.dlq.origins[id(change)]
                row = change.after if change.after is not None else change.before
                self.dead_letter(origin, f"failed after {RETRY_ATTEMPTS} attempts: {type(exc).__name__}: {exc}",
                                 tenant=None if row is None else row.get("tenant_id"), ticket=None,
                                 position=f"{change.file}:{change.offset}")

    def _sweep_with_retries(self, origin: Origin) -> None:
        """Apply a snapshot's sweep to this partition's documents: live parts older than the snapshot become
        tombstones (rows gone from the source). Retried like a batch; dead-lettered if it keeps failing."""
        try:
            sweep = Sweep.from_json(parse_json(origin.value))
        except Exception as exc:  # noqa: BLE001 - any malformed record is poison, never a crash loop
            self.dead_letter(origin, f"bad sweep: {type(exc).__name__}: {exc}", tenant=None, ticket=None,
                             position=None)
            return
        delay = 0.1
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                self._sweep(origin.partition, sweep)
                return
            except Exception as exc:  # noqa: BLE001 - classified: retryable, then dead-lettered
                self.counts["retries"] += 1
                log.warning("sweep failed (attempt %d/%d): %s", attempt, RETRY_ATTEMPTS, exc,
                            extra={"tenant": None, "position": str(sweep.position)})
                self._close_backend()
                if attempt == RETRY_ATTEMPTS:
                    self.dead_letter(origin, f"sweep failed after {RETRY_ATTEMPTS} attempts: {type(exc).__name__}: "
                                     f"{exc}", tenant=None, ticket=None, position=str(sweep.position))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _sweep(self, partition: int, sweep: Sweep) -> None:
        apply_sweep(self._open_backend(), partition, sweep, held_tickets(self.settings.state_dir))

    def hold(self, tenant: int, ticket: int) -> None:
        """A snapshot row of this ticket was dead-lettered: sweeps leave the ticket alone until it is replayed."""
        hold_ticket(self.settings.state_dir, self.member, tenant, ticket)

    def dead_letter(self, origin: Origin, reason: str, *, tenant: int | None, ticket: int | None,
                    position: str | None) -> None:
        if ticket is None and origin.key:      # whose: from the document key when the change did not say
            ticket = key_ticket(origin.key.decode(errors="replace"))
        self.counts["dead_lettered"] += 1
        log.warning("dead-lettered (%d so far): %s", self.counts["dead_lettered"], reason,
                    extra={"tenant": tenant, "position": position})
        value = dead_letter_value(payload=origin.value, reason=reason, tenant=tenant, ticket=ticket,
                                  position=position, topic=origin.topic, partition=origin.partition,
                                  offset=origin.offset, key=origin.key, max_bytes=self.kafka.max_message_bytes,
                                  claim_dir=self.kafka.claim_dir or self.settings.state_dir / "claims")
        if self.replay_run is not None:
            value = json.dumps({**json.loads(value), "replay_run": self.replay_run}, ensure_ascii=False).encode()
        self.publisher.send(self.kafka.dlq_topic, "" if tenant is None else str(tenant), value, partition=0,
                            position=position)

    def _write_status(self) -> None:
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        data = {"member": self.member, "updated_ms": int(time.time() * 1000), "topic": self.kafka.topic,
                "topic_id": self.topic_id, "partitions_total": self.partitions_total, "counts": self.counts,
                "partitions": {str(p): w for p, w in sorted(self.watermarks.items())}}
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.status_path)
