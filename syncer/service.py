"""The embedded sync service: preflight, initial snapshot when needed, then streaming.

Input: SyncSettings. Output: per-tenant indexes kept in step with the source; checkpoint.json.
Guarantee (invariant 1, no lost change): the checkpoint advances only after the index commits that
cover every change before it, and only to a transaction boundary; the tailer decodes on its own core
(a child process that dies with its parent) and hands whole transactions to the indexer.
Re-snapshots: a snapshot over a non-empty index tombstones every part it did not refresh (rows gone
from the source), at the snapshot's version. One is taken when a DDL statement replaces a mapped
table's rows (TRUNCATE, DROP, a RENAME into or out of a mapped name: syncer.schema_events), and, in a
new version epoch, when the source's binlog history changes (RESET MASTER, failover, server id or GTID
domain change); `request_resnapshot` (`ticketsearch sync --resnapshot`) asks for one explicitly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from analyzers import Analyzer, AnalyzerConfig
from analyzers.dictionaries import DictionaryStore
from mappings import load_mapping
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition, make_version
from syncer.checkpoint import Checkpoint, CheckpointStore, SnapshotProgress
from syncer.deadletters import DeadLetterStore
from syncer.events import Op, RowChange
from syncer.indexer import ApplyReport, Indexer
from syncer.lookups import LookupDirectory
from syncer.metrics import SyncMetrics, oldest_commit_by_tenant
from syncer.preflight import current_identity, preflight
from syncer.reindex import ReindexManager
from syncer.replay import serve_pending_request
from syncer.settings import SyncSettings
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import SourceMapping, load_source_mapping
from syncer.statelock import SyncAlreadyRunning, lock_state_dir, unlock_state_dir  # noqa: F401 - re-exported
from syncer.tailer import SourceChanged, TailerConfig
from syncer.transaction_source import TransactionSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotReport:
    tenants: int
    tickets: int
    seconds: float
    position: BinlogPosition


def open_backend(settings: SyncSettings, *, writable: bool) -> EmbeddedBackend:
    backend = EmbeddedBackend(settings.index_dir, load_mapping("tickets", settings.mapping_version),
                              Analyzer(AnalyzerConfig()), writable=writable)
    backend.analyzer_resolver = DictionaryStore(settings.state_dir).resolver  # each generation's own analyzer
    return backend


class SyncService:
    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings
        self._lock_fd = lock_state_dir(settings.state_dir)
        self.source_mapping: SourceMapping = load_source_mapping(settings.source_mapping_path)
        self.checkpoints = CheckpointStore(settings.state_dir)
        self.deadletters = DeadLetterStore(settings.state_dir / "deadletters.sqlite")
        self.backend = open_backend(settings, writable=True)
        self.lookups = LookupDirectory(self.source_mapping, settings.source)
        self.indexer = Indexer(self.backend, self.source_mapping, self.lookups, self.deadletters,
                               max_document_bytes=settings.max_document_bytes, parallel_commits=True)
        self.stop_event = threading.Event()
        # tenant reindexes run inside this service (docs/reindex.md): it owns the writers and the live stream
        self.reindexer = ReindexManager(settings, self.backend, self.source_mapping, self.deadletters,
                                        DictionaryStore(settings.state_dir))
        self.metrics = SyncMetrics(settings.state_dir, "sync", settings.source)   # issue 8: <state>/metrics/sync.json
        tenant_columns = {self.source_mapping.document.table: self.source_mapping.document.tenant_column,
                          **{c.table: c.tenant_column for c in self.source_mapping.children}}
        self._tenant_columns = tenant_columns

    def close(self) -> None:
        self.reindexer.close()
        self.backend.close()
        self.deadletters.close()
        if self._lock_fd >= 0:
            unlock_state_dir(self._lock_fd)
            self._lock_fd = -1

    # ---- snapshot --------------------------------------------------------------------------------
    def ensure_snapshot(self, progress: Callable[[int, int], None] | None = None) -> SnapshotReport | None:
        """Run (or resume) the initial snapshot when there is no streaming checkpoint yet."""
        preflight(self.settings.source)
        ckpt = self.checkpoints.load()
        if ckpt is not None and ckpt.position is not None:
            return None
        started = time.monotonic()
        epoch = ckpt.epoch if ckpt is not None else 1
        snap = ckpt.snapshot if ckpt is not None else None
        identity = (ckpt.source if ckpt is not None and ckpt.source else None) or current_identity(self.settings.source)
        total = 0
        with ConsistentSnapshot(self.settings.source, self.source_mapping, epoch) as cs:
            assert cs.position is not None
            if snap is None:
                snap = SnapshotProgress(started_at=cs.position)
                self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap, source=identity))
            log.info("snapshot at %s (resuming: tenant %s after id %s)", cs.position, snap.tenant, snap.after_id)
            floor = make_version(epoch, snap.started_at.file, snap.started_at.offset)
            in_source = cs.tenants()
            tenants = [t for t in in_source if t not in snap.tenants_done]
            for tenant in tenants:
                cs.load_lookups(self.lookups, tenant)
                after = snap.after_id if snap.tenant == tenant else 0
                for chunk in cs.chunks(tenant, after, self.settings.snapshot_chunk_rows):
                    self.indexer.apply((*chunk.changes, *self._stale_parts(tenant, chunk.changes)), None)
                    total += chunk.tickets
                    self.metrics.on_snapshot_chunk(chunk.tickets)
                    snap = SnapshotProgress(snap.started_at, snap.tenants_done, tenant, chunk.last_id)
                    self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap, source=identity))
                    if progress is not None:
                        progress(tenant, total)
                    if self.stop_event.is_set():
                        raise InterruptedError("stopped during snapshot")
                self._tombstone_unrefreshed(tenant, floor)
                snap = SnapshotProgress(snap.started_at, (*snap.tenants_done, tenant), None, 0)
                self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap, source=identity))
            for tenant in set(self.backend.tenants()) - set(in_source):
                self._tombstone_unrefreshed(tenant, floor)
        for tenant in in_source:  # every tenant now holds all changes before the snapshot position
            self.backend.write(tenant, [], snap.started_at)
        self.checkpoints.save(Checkpoint(position=snap.started_at, epoch=epoch, snapshot=None, source=identity))
        return SnapshotReport(len(snap.tenants_done), total, time.monotonic() - started, snap.started_at)

    def _stale_parts(self, tenant: int, changes: tuple[RowChange, ...]) -> list[RowChange]:
        """Deletions, at the chunk's version, of every live part older than it of the chunk's tickets.

        Applied after the chunk's rows: at equal versions the first write of a part wins, so rows the
        snapshot read stay and only parts whose rows are gone from the source become tombstones."""
        doc = self.source_mapping.document
        tickets = [c for c in changes if c.table == doc.table and c.after is not None]
        if not tickets:
            return []
        v, file, offset = tickets[0].version, tickets[0].file, tickets[0].offset
        stored = self.backend.load(tenant, [int(c.after[doc.id_column]) for c in tickets if c.after is not None])
        out: list[RowChange] = []
        for ticket_id, sdoc in stored.items():
            if sdoc.ticket is not None and sdoc.ticket.row is not None and sdoc.ticket.version < v:
                out.append(RowChange(doc.table, Op.DELETE, {doc.tenant_column: tenant, doc.id_column: ticket_id},
                                     None, v, file, offset))
            for child in self.source_mapping.children:
                for key, part in sdoc.children.get(child.index_field, {}).items():
                    if part.row is None or part.version >= v:
                        continue
                    before = {child.tenant_column: tenant, child.parent_column: ticket_id,
                              **dict(zip(child.key_columns, key.split("/"), strict=False))}
                    out.append(RowChange(child.table, Op.DELETE, before, None, v, file, offset))
        return out

    def _tombstone_unrefreshed(self, tenant: int, floor: int) -> None:
        """Tombstone, at version `floor`, every live part of the documents of `tenant` the snapshot did not
        write at all (their tickets are gone from the source)."""
        docs = []
        for doc in self.backend.all_documents(tenant):
            if doc.version >= floor:
                continue
            new = doc.without_parts_older_than(floor)
            if new is not doc:
                docs.append(new)
        if docs:
            self.backend.write(tenant, docs, None)
            log.info("re-snapshot removed rows gone from the source from %d documents", len(docs),
                     extra={"tenant": tenant, "position": floor})

    def request_resnapshot(self, *, new_epoch: bool = False, reason: str = "requested") -> Checkpoint:
        """Forget the streaming position: the next ensure_snapshot re-reads every tenant (tombstoning
        rows gone from the source). `new_epoch` starts a new version epoch for a new binlog history."""
        ckpt = self.checkpoints.load()
        epoch = 1 if ckpt is None else ckpt.epoch + (1 if new_epoch else 0)
        identity = current_identity(self.settings.source)
        new = Checkpoint(position=None, epoch=epoch, snapshot=None, source=identity)
        self.checkpoints.save(new)
        log.warning("re-snapshot of every tenant (%s), epoch %d", reason, epoch,
                    extra={"tenant": None, "position": None if ckpt is None else str(ckpt.position)})
        return new

    def _tenant_of(self, change: RowChange) -> int | None:
        row = change.after if change.after is not None else change.before
        value = None if row is None else row.get(self._tenant_columns.get(change.table, "tenant_id"))
        return None if value is None else int(value)

    # ---- streaming -------------------------------------------------------------------------------
    def tailer_config(self, epoch: int, identity: str | None = None) -> TailerConfig:
        doc = self.source_mapping.document
        return TailerConfig(
            source=self.settings.source,
            tables=self.source_mapping.tables(),
            json_columns={doc.table: doc.json_columns},
            epoch=epoch,
            replica_server_id=self.settings.replica_server_id,
            source_identity=identity,
        )

    def stream(self, *, until: Callable[[], bool] | None = None,
               on_batch: Callable[[ApplyReport, BinlogPosition], None] | None = None) -> None:
        ckpt = self.checkpoints.load()
        if ckpt is None or ckpt.position is None:
            raise RuntimeError("no streaming checkpoint: run the snapshot first")
        while True:
            resync = self._stream_once(ckpt, until, on_batch)
            if resync is None:
                return
            new_epoch, reason = resync
            self.request_resnapshot(new_epoch=new_epoch, reason=reason)
            self.ensure_snapshot()
            ckpt = self.checkpoints.load()
            assert ckpt is not None and ckpt.position is not None

    def _stream_once(self, ckpt: Checkpoint, until: Callable[[], bool] | None,
                     on_batch: Callable[[ApplyReport, BinlogPosition], None] | None) -> tuple[bool, str] | None:
        """Stream until stopped (None) or until a re-snapshot is needed: (new epoch?, reason)."""
        assert ckpt.position is not None
        self.lookups.load_all()
        mapped = self.source_mapping.tables()
        source = TransactionSource(self.tailer_config(ckpt.epoch, ckpt.source), ckpt.position,
                                    in_process=not self.settings.tailer_process)
        self.reindexer.resume(ckpt.position)    # unfinished reindexes become live targets before any batch
        try:
            while not self.stop_event.is_set() and not (until is not None and until()):
                try:
                    batch, end, ddl = source.next_batch(self.settings.batch_max_changes,
                                                        self.settings.batch_max_wait_s)
                except SourceChanged as exc:
                    log.warning("%s: new version epoch %d", exc, ckpt.epoch + 1, extra={"position": str(exc.position)})
                    return True, f"source changed: {exc.reason}"
                serve_pending_request(self.indexer, self.deadletters, self.settings.state_dir)
                self.reindexer.poll()
                if end is None:
                    self.metrics.on_idle(ckpt.position)
                    continue
                report = self.indexer.apply(batch, end)
                self.reindexer.on_batch(batch, end)
                replaced = sorted({t for change in ddl for t in change.replaced_tables(mapped)})
                if replaced:
                    # the checkpoint stays before the DDL until the re-snapshot has replaced it
                    log.warning("DDL replaced rows of mapped tables %s at %s: re-snapshot", replaced, end,
                                extra={"position": str(end)})
                    return False, f"DDL on {', '.join(replaced)} at {end}"
                ckpt = ckpt.advanced(end)
                self.checkpoints.save(ckpt)
                self.metrics.on_batch(report.changes, report.documents_written, report.dead_lettered, end,
                                      oldest_commit_by_tenant(batch, self._tenant_of))
                if on_batch is not None:
                    on_batch(report, end)
            return None
        finally:
            source.close()
