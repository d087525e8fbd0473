"""Tailer → Kafka: publishes the initial snapshot and then every committed binlog transaction to the change topic.

Input: SyncSettings (source, state dir with the binlog checkpoint) and KafkaSettings.
Output: one envelope per row change (syncer.envelope) keyed `<tenant>:ticket:<id>`, partitioned by tenant,
plus a watermark in every partition after each acknowledged batch; <state_dir>/checkpoint.json.
Guarantee (invariant 1): the binlog checkpoint lives outside Kafka (Tansu's memory storage forgets everything
on restart) and advances to a transaction's end only after every message of that transaction and of all
before it is acknowledged by the broker (acks=all, `Publisher.flush`); a crash at any point resumes at or
before the first unacknowledged change, so changes may be published twice, never lost (versions make the
duplicates harmless). A change over the broker's message limit is claim-checked, never dropped. The binlog is
decoded in a child process (syncer.transaction_source), so decoding and publishing run on two cores.
A snapshot (the first, or a re-snapshot after DDL that replaces a mapped table or a new binlog history) ends
with a sweep in every partition, after all its rows: each indexer then tombstones its partition's rows older than
the snapshot, i.e. rows gone from the source (as the embedded service does).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pymysql
from kafka.errors import KafkaError

from searchcore.control import write_json_atomic
from searchcore.positions import BinlogPosition, make_version
from syncer.checkpoint import Checkpoint, CheckpointStore, SnapshotProgress
from syncer.envelope import SWEEP_KEY, WATERMARK_KEY, Sweep, Watermark, document_keys, envelopes_for
from syncer.events import RowChange
from syncer.kafka_bus import (
    KafkaSettings,
    KafkaUnreachable,
    Publisher,
    PublishFailed,
    claim_check,
    ensure_topics,
)
from syncer.preflight import current_identity, preflight
from syncer.settings import SyncSettings
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import load_source_mapping
from syncer.tailer import SourceChanged, TailerConfig
from syncer.transaction_source import TransactionSource

log = logging.getLogger(__name__)
IDLE_WATERMARK_S = 1.0
TABLE_DEFINITION_CHANGED = 1412   # MariaDB: a table changed after the consistent read began
TOPIC_STATE = "kafka_topic.json"     # the change topic this tailer publishes to, and its id


@dataclass(frozen=True)
class PublishReport:
    changes: int
    messages: int
    position: BinlogPosition


class KafkaTailer:
    def __init__(self, settings: SyncSettings, kafka: KafkaSettings) -> None:
        self.settings = settings
        self.kafka = kafka
        self.mapping = load_source_mapping(settings.source_mapping_path)
        self.checkpoints = CheckpointStore(settings.state_dir)
        self.claim_dir = kafka.claim_dir or settings.state_dir / "claims"
        self.stop_event = threading.Event()
        self.publisher: Publisher | None = None
        self.server_id = 0
        self.messages = 0

    # ---- lifecycle ------------------------------------------------------------------------------------
    def request_resnapshot(self, reason: str) -> None:
        """Forget the streaming position: the next run publishes a new consistent snapshot and its sweep (rows
        gone from the source leave the index), in the same version epoch."""
        ckpt = self.checkpoints.load()
        self.checkpoints.save(Checkpoint(position=None, epoch=1 if ckpt is None else ckpt.epoch, snapshot=None,
                                         source=current_identity(self.settings.source)))
        log.warning("re-snapshot through Kafka requested (%s)", reason,
                    extra={"tenant": None, "position": None if ckpt is None else str(ckpt.position)})

    def run(self, *, until: Callable[[], bool] | None = None,
            on_batch: Callable[[PublishReport], None] | None = None, snapshot_only: bool = False) -> None:
        """Publish until stopped. A broker that fails after the first connection is reconnected with backoff
        (nothing unacknowledged is behind the checkpoint); a change topic that was re-created meanwhile (a new
        topic id: Tansu's memory storage after a restart, a deleted topic) forgot what was published, so the
        tailer publishes a new snapshot (and its sweep) before streaming on."""
        preflight(self.settings.source)
        self.server_id = _server_id(self.settings)
        delay, connected = 1.0, False
        try:
            while True:
                try:
                    self._connect()
                    connected, delay = True, 1.0
                    if self._publish(until, on_batch, snapshot_only):
                        return
                except (PublishFailed, KafkaError, KafkaUnreachable) as exc:
                    if not connected or self.stop_event.is_set():
                        raise
                    log.error("Kafka failed (%s): reconnecting in %.0f s; the checkpoint has not passed anything "
                              "unacknowledged", exc, delay, extra={"tenant": None, "position": None})
                    self.close(timeout=0)    # drop unsent retries: they could re-create a forgotten topic
                    if self.stop_event.wait(delay) or (until is not None and until()):
                        return
                    delay = min(delay * 2, 30.0)
        finally:
            self.close()

    def _connect(self) -> None:
        info = ensure_topics(self.kafka)[self.kafka.topic]
        self.publisher = Publisher(self.kafka)
        path = self.settings.state_dir / TOPIC_STATE
        known = json.loads(path.read_text()) if path.exists() else None
        ckpt = self.checkpoints.load()
        if (known is not None and known.get("topic") == self.kafka.topic and known.get("topic_id")
                and info.topic_id and known["topic_id"] != info.topic_id and ckpt is not None):
            log.warning("change topic %s was re-created (id %s, was %s): what was published is gone; publishing a "
                        "new snapshot", self.kafka.topic, info.topic_id, known["topic_id"],
                        extra={"tenant": None, "position": None if ckpt.position is None else str(ckpt.position)})
            self.checkpoints.save(Checkpoint(position=None, epoch=ckpt.epoch, snapshot=None, source=ckpt.source))
        if known is None or known.get("topic_id") != info.topic_id or known.get("topic") != self.kafka.topic:
            # after the checkpoint: a crash in between re-snapshots again, harmlessly
            write_json_atomic(path, {"topic": self.kafka.topic, "topic_id": info.topic_id})

    def _publish(self, until: Callable[[], bool] | None, on_batch: Callable[[PublishReport], None] | None,
                 snapshot_only: bool) -> bool:
        """Snapshot if needed, then stream (unless `snapshot_only`); True when done or stopped (re-snapshots
        loop here)."""
        while True:
            ckpt = self.checkpoints.load()
            if ckpt is None or ckpt.position is None:
                try:
                    ckpt = self.publish_snapshot(ckpt)
                except pymysql.err.OperationalError as exc:
                    if exc.args[0] != TABLE_DEFINITION_CHANGED:
                        raise
                    # DDL (a table swap) after the snapshot's consistent read began: start it again from a new
                    # read; its progress is dropped, since rows published at the old position would be swept
                    log.warning("snapshot restarted: %s", exc.args[1], extra={"tenant": None, "position": None})
                    old = self.checkpoints.load()
                    self.checkpoints.save(Checkpoint(position=None, epoch=1 if old is None else old.epoch,
                                                     snapshot=None, source=None if old is None else old.source))
                    continue
                if ckpt is None:
                    return True
            if snapshot_only:
                log.info("snapshot published: the checkpoint is at %s (--resnapshot publishes a new one)",
                         ckpt.position, extra={"tenant": None, "position": str(ckpt.position)})
                return True
            resync = self._stream(ckpt, until, on_batch)
            if resync is None:
                return True
            new_epoch, reason = resync
            epoch = ckpt.epoch + (1 if new_epoch else 0)
            log.warning("re-snapshot through Kafka (%s), epoch %d", reason, epoch,
                        extra={"tenant": None, "position": str(ckpt.position)})
            self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=None,
                                             source=current_identity(self.settings.source)))

    def close(self, timeout: float = 10) -> None:
        if self.publisher is not None:
            self.publisher.close(timeout=timeout)
            self.publisher = None

    # ---- publishing -----------------------------------------------------------------------------------
    def publish(self, changes: Sequence[RowChange]) -> int:
        """Queue the envelopes of `changes` (one message per document key); returns the number queued."""
        assert self.publisher is not None
        sent = 0
        db = self.settings.source.database
        for ch, env in zip(changes, envelopes_for(changes, server_id=self.server_id, db=db), strict=True):
            keys = document_keys(ch, self.mapping)
            if not keys:
                continue
            value = env.encode()
            if len(value) > self.kafka.max_message_bytes:
                value = claim_check(env, value, self.claim_dir).encode()
            for key in keys:
                self.publisher.send(self.kafka.topic, key, value, position=env.position)
                sent += 1
        self.messages += sent
        return sent

    def watermark(self, position: BinlogPosition) -> None:
        assert self.publisher is not None
        value = Watermark(position, int(time.time() * 1000)).encode()
        for p in range(self.publisher.partitions(self.kafka.topic)):
            self.publisher.send(self.kafka.topic, WATERMARK_KEY.decode(), value, partition=p, position=str(position))

    def sweep(self, floor: int, position: BinlogPosition) -> None:
        """After every snapshot row: tell each partition's indexer that older live rows are gone from the source
        (for the documents that partition carries under this tailer's partitioner)."""
        assert self.publisher is not None
        parts = self.publisher.partitions(self.kafka.topic)
        value = Sweep(floor, position, parts, self.kafka.partitioner).encode()
        for p in range(parts):
            self.publisher.send(self.kafka.topic, SWEEP_KEY.decode(), value, partition=p, position=str(position))

    def publish_snapshot(self, ckpt: Checkpoint | None) -> Checkpoint | None:
        """Publish (or resume publishing) a consistent snapshot as `r` envelopes; the streaming checkpoint is
        set to the snapshot position once every row is acknowledged."""
        assert self.publisher is not None
        epoch = ckpt.epoch if ckpt is not None else 1
        snap = ckpt.snapshot if ckpt is not None else None
        identity = (ckpt.source if ckpt is not None and ckpt.source else None) or current_identity(self.settings.source)
        rows = 0
        with ConsistentSnapshot(self.settings.source, self.mapping, epoch) as cs:
            assert cs.position is not None
            if snap is None:
                snap = SnapshotProgress(started_at=cs.position)
                self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap, source=identity))
            for tenant in [t for t in cs.tenants() if t not in snap.tenants_done]:
                after = snap.after_id if snap.tenant == tenant else 0
                for chunk in cs.chunks(tenant, after, self.settings.snapshot_chunk_rows):
                    self.publish(chunk.changes)
                    self.publisher.flush()
                    rows += len(chunk.changes)
                    snap = SnapshotProgress(snap.started_at, snap.tenants_done, tenant, chunk.last_id)
                    self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap, source=identity))
                    if self.stop_event.is_set():
                        return None
                snap = SnapshotProgress(snap.started_at, (*snap.tenants_done, tenant), None, 0)
                self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap, source=identity))
        self.sweep(make_version(epoch, snap.started_at.file, snap.started_at.offset), snap.started_at)
        self.watermark(snap.started_at)
        self.publisher.flush()
        done = Checkpoint(position=snap.started_at, epoch=epoch, snapshot=None, source=identity)
        self.checkpoints.save(done)
        log.info("snapshot published: %d rows at %s", rows, snap.started_at,
                 extra={"tenant": None, "position": str(snap.started_at)})
        return done

    # ---- streaming ------------------------------------------------------------------------------------
    def _stream(self, ckpt: Checkpoint, until: Callable[[], bool] | None,
                on_batch: Callable[[PublishReport], None] | None) -> tuple[bool, str] | None:
        assert ckpt.position is not None and self.publisher is not None
        config = TailerConfig(source=self.settings.source, tables=self.mapping.tables(),
                              json_columns={self.mapping.document.table: self.mapping.document.json_columns},
                              epoch=ckpt.epoch, replica_server_id=self.settings.replica_server_id,
                              source_identity=ckpt.source)
        source = TransactionSource(config, ckpt.position, in_process=not self.settings.tailer_process)
        mapped = self.mapping.tables()
        last_flush = time.monotonic()
        try:
            while not self.stop_event.is_set() and not (until is not None and until()):
                try:
                    changes, end, ddl = source.next_batch(self.settings.batch_max_changes,
                                                          self.settings.batch_max_wait_s)
                except SourceChanged as exc:
                    return True, f"source changed: {exc.reason}"
                if end is None:
                    if time.monotonic() - last_flush >= IDLE_WATERMARK_S:
                        self.watermark(ckpt.position)    # an idle source: lag stays measurable
                        self.publisher.flush()
                        last_flush = time.monotonic()
                    continue
                sent = self.publish(changes)
                self.watermark(end)
                self.publisher.flush()                   # every message before `end` is acknowledged ...
                last_flush = time.monotonic()
                replaced = sorted({t for s in ddl for t in s.replaced_tables(mapped)})
                if replaced:
                    return False, f"DDL replaced {', '.join(replaced)} at {end}"
                ckpt = ckpt.advanced(end)
                self.checkpoints.save(ckpt)              # ... so the checkpoint may pass it
                if on_batch is not None:
                    on_batch(PublishReport(len(changes), sent, end))
            return None
        finally:
            source.close()


def _server_id(settings: SyncSettings) -> int:
    conn = pymysql.connect(**settings.source.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@server_id")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()
