"""The binlog tailer's output as batches of whole transactions, decoded on another core.

Input: a TailerConfig and the position to start from. Output: `next_batch` -> (row changes of whole transactions,
the position after the last of them or None when idle, the schema changes of a DDL transaction, which ends its
batch). Guarantee: transactions arrive complete and in commit order; the decoder runs in a child process that
dies with its parent (PR_SET_PDEATHSIG) — or in a thread with `in_process=True` — and its failures cross the
boundary: SourceChanged and CheckpointPurged are raised by `next_batch` after the transactions before them,
anything else as RuntimeError. Used by the embedded service and the Kafka tailer.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import queue
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from searchcore.positions import BinlogPosition
from syncer.events import RowChange, Transaction
from syncer.preflight import CheckpointPurged
from syncer.schema_events import SchemaChange
from syncer.tailer import SourceChanged, TailerConfig, tail_forever


class TransactionSource:
    """Transactions from the tailer, decoded in a child process (or a thread), batched for the indexer."""

    def __init__(self, config: TailerConfig, start: BinlogPosition, *, in_process: bool) -> None:
        self._stopped: _TailerStopped | None = None
        self._stop = threading.Event()
        self._queue: Any
        if in_process:
            self._queue = queue.Queue(maxsize=10_000)
            self._worker: Any = threading.Thread(target=_tailer_main,
                                                 args=(config, start, self._queue, False, self._stop), daemon=True)
        else:
            ctx = mp.get_context("spawn")
            self._queue = ctx.Queue(maxsize=10_000)
            self._worker = ctx.Process(target=_tailer_main, args=(config, start, self._queue, True), daemon=True)
        self._worker.start()

    def next_batch(self, max_changes: int, max_wait_s: float
                   ) -> tuple[list[RowChange], BinlogPosition | None, list[SchemaChange]]:
        """Whole transactions; a batch ends after a transaction that carries DDL."""
        if self._stopped is not None:
            self._stopped.throw()
        changes: list[RowChange] = []
        end: BinlogPosition | None = None
        deadline: float | None = None
        while True:
            timeout = 0.2 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return changes, end, []
            if isinstance(item, _TailerStopped):
                if changes:
                    self._pushback(item)
                    return changes, end, []
                item.throw()
            if isinstance(item, BaseException):
                raise RuntimeError(f"tailer failed: {item!r}") from item
            assert isinstance(item, Transaction)
            changes.extend(item.changes)
            end = item.end
            if item.schema_changes:
                return changes, end, list(item.schema_changes)
            if deadline is None:
                deadline = time.monotonic() + max_wait_s
            if len(changes) >= max_changes or time.monotonic() >= deadline:
                return changes, end, []

    def _pushback(self, item: _TailerStopped) -> None:
        self._stopped = item

    def close(self) -> None:
        if isinstance(self._worker, mp.process.BaseProcess):
            self._worker.kill()
            self._worker.join(timeout=5)
        else:
            self._stop.set()
            self._worker.join(timeout=30)


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: this process gets SIGKILL when its parent dies (no orphaned children)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a kill -9 of the service takes the tailer with it
    except OSError:
        pass


@dataclass(frozen=True)
class _TailerStopped:
    """Why the tailer stopped, in a form that crosses a process boundary."""

    kind: str                 # "source_changed" | "purged"
    reason: str
    position: BinlogPosition
    oldest: str | None = None

    def throw(self) -> None:
        if self.kind == "purged":
            raise CheckpointPurged(self.position, self.oldest)
        raise SourceChanged(self.reason, self.position)


def _tailer_main(config: TailerConfig, start: BinlogPosition, out: Any, child: bool,
                 stop: threading.Event | None = None) -> None:
    if child:
        die_with_parent()
    should_stop = None if stop is None else stop.is_set
    try:
        for txn in tail_forever(config, start, should_stop=should_stop):
            while True:
                try:
                    out.put(txn, timeout=0.5)
                    break
                except queue.Full:
                    if stop is not None and stop.is_set():
                        return
    except SourceChanged as exc:
        out.put(_TailerStopped("source_changed", exc.reason, exc.position))
    except CheckpointPurged as exc:
        out.put(_TailerStopped("purged", str(exc), exc.position, exc.oldest))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops
        out.put(RuntimeError(f"{type(exc).__name__}: {exc}"))
