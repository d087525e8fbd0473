"""The embedded sync service: preflight, initial snapshot when needed, then streaming.

Input: SyncSettings. Output: per-tenant indexes kept in step with the source; checkpoint.json.
Guarantee (invariant 1, no lost change): the checkpoint advances only after the index commits that
cover every change before it, and only to a transaction boundary; the tailer decodes on its own core
(a child process that dies with its parent) and hands whole transactions to the indexer.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition
from syncer.checkpoint import Checkpoint, CheckpointStore, SnapshotProgress
from syncer.deadletters import DeadLetterStore
from syncer.events import RowChange, Transaction
from syncer.indexer import ApplyReport, Indexer
from syncer.lookups import LookupDirectory
from syncer.replay import serve_pending_request
from syncer.settings import SyncSettings
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import SourceMapping, load_source_mapping
from syncer.tailer import TailerConfig, preflight, tail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotReport:
    tenants: int
    tickets: int
    seconds: float
    position: BinlogPosition


def open_backend(settings: SyncSettings, *, writable: bool) -> EmbeddedBackend:
    return EmbeddedBackend(settings.index_dir, load_mapping("tickets", settings.mapping_version),
                           Analyzer(AnalyzerConfig()), writable=writable)


class SyncService:
    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings
        self.source_mapping: SourceMapping = load_source_mapping(settings.source_mapping_path)
        self.checkpoints = CheckpointStore(settings.state_dir)
        self.deadletters = DeadLetterStore(settings.state_dir / "deadletters.sqlite")
        self.backend = open_backend(settings, writable=True)
        self.lookups = LookupDirectory(self.source_mapping, settings.source)
        self.indexer = Indexer(self.backend, self.source_mapping, self.lookups, self.deadletters,
                               max_document_bytes=settings.max_document_bytes)
        self.stop_event = threading.Event()

    def close(self) -> None:
        self.backend.close()
        self.deadletters.close()

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
        total = 0
        with ConsistentSnapshot(self.settings.source, self.source_mapping, epoch) as cs:
            assert cs.position is not None
            if snap is None:
                snap = SnapshotProgress(started_at=cs.position)
                self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap))
            log.info("snapshot at %s (resuming: tenant %s after id %s)", cs.position, snap.tenant, snap.after_id)
            tenants = [t for t in cs.tenants() if t not in snap.tenants_done]
            for tenant in tenants:
                cs.load_lookups(self.lookups, tenant)
                after = snap.after_id if snap.tenant == tenant else 0
                for chunk in cs.chunks(tenant, after, self.settings.snapshot_chunk_rows):
                    self.indexer.apply(chunk.changes, None)
                    total += chunk.tickets
                    snap = SnapshotProgress(snap.started_at, snap.tenants_done, tenant, chunk.last_id)
                    self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap))
                    if progress is not None:
                        progress(tenant, total)
                    if self.stop_event.is_set():
                        raise InterruptedError("stopped during snapshot")
                snap = SnapshotProgress(snap.started_at, (*snap.tenants_done, tenant), None, 0)
                self.checkpoints.save(Checkpoint(position=None, epoch=epoch, snapshot=snap))
        self.checkpoints.save(Checkpoint(position=snap.started_at, epoch=epoch, snapshot=None))
        return SnapshotReport(len(snap.tenants_done), total, time.monotonic() - started, snap.started_at)

    # ---- streaming -------------------------------------------------------------------------------
    def tailer_config(self, epoch: int) -> TailerConfig:
        doc = self.source_mapping.document
        return TailerConfig(
            source=self.settings.source,
            tables=self.source_mapping.tables(),
            json_columns={doc.table: doc.json_columns},
            epoch=epoch,
            replica_server_id=self.settings.replica_server_id,
        )

    def stream(self, *, until: Callable[[], bool] | None = None,
               on_batch: Callable[[ApplyReport, BinlogPosition], None] | None = None) -> None:
        ckpt = self.checkpoints.load()
        if ckpt is None or ckpt.position is None:
            raise RuntimeError("no streaming checkpoint: run the snapshot first")
        self.lookups.load_all()
        source = _TransactionSource(self.tailer_config(ckpt.epoch), ckpt.position,
                                    in_process=not self.settings.tailer_process)
        try:
            while not self.stop_event.is_set() and not (until is not None and until()):
                batch, end = source.next_batch(self.settings.batch_max_changes, self.settings.batch_max_wait_s)
                if end is None:
                    serve_pending_request(self.indexer, self.deadletters, self.settings.state_dir)
                    continue
                serve_pending_request(self.indexer, self.deadletters, self.settings.state_dir)
                report = self.indexer.apply(batch, end)
                ckpt = ckpt.advanced(end)
                self.checkpoints.save(ckpt)
                if on_batch is not None:
                    on_batch(report, end)
        finally:
            source.close()


class _TransactionSource:
    """Transactions from the tailer, decoded in a child process (or a thread), batched for the indexer."""

    def __init__(self, config: TailerConfig, start: BinlogPosition, *, in_process: bool) -> None:
        self._queue: Any
        if in_process:
            self._queue = queue.Queue(maxsize=10_000)
            self._worker: Any = threading.Thread(target=_tailer_main, args=(config, start, self._queue, False),
                                                 daemon=True)
        else:
            ctx = mp.get_context("spawn")
            self._queue = ctx.Queue(maxsize=10_000)
            self._worker = ctx.Process(target=_tailer_main, args=(config, start, self._queue, True), daemon=True)
        self._worker.start()

    def next_batch(self, max_changes: int, max_wait_s: float) -> tuple[list[RowChange], BinlogPosition | None]:
        changes: list[RowChange] = []
        end: BinlogPosition | None = None
        deadline: float | None = None
        while True:
            timeout = 0.2 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return changes, end
            if isinstance(item, BaseException):
                raise RuntimeError(f"tailer failed: {item!r}") from item
            assert isinstance(item, Transaction)
            changes.extend(item.changes)
            end = item.end
            if deadline is None:
                deadline = time.monotonic() + max_wait_s
            if len(changes) >= max_changes or time.monotonic() >= deadline:
                return changes, end

    def close(self) -> None:
        if isinstance(self._worker, mp.process.BaseProcess):
            self._worker.kill()
            self._worker.join(timeout=5)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a kill -9 of the service takes the tailer with it
    except OSError:
        pass


def _tailer_main(config: TailerConfig, start: BinlogPosition, out: Any, child: bool) -> None:
    if child:
        _die_with_parent()
    try:
        for txn in tail(config, start):
            out.put(txn)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops
        out.put(RuntimeError(f"{type(exc).__name__}: {exc}"))
