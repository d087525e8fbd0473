"""Sync-side metrics, shared with the query API through a status file per process.

Input: hooks called by the sync service (after each batch's checkpoint, while idle, per snapshot chunk) and by
a reindex (progress). Output: `<state>/metrics/<name>.json`, rewritten atomically at most every
`write_interval_s` (and at once after a batch when the last write is older than that); the API's `/metrics`
(queryapi/ops.py) reads every file in that folder and exposes Prometheus series.
Guarantee: values are cumulative for the writing process (counters reset when it restarts, which Prometheus'
rate() handles); lag is measured against the source's binlog (SHOW MASTER STATUS), never against Kafka.

Why a file and not prometheus_client's multiprocess mode: the sync and the API are separate programs (often
separate containers sharing the state volume), the file is also the stall detector's heartbeat for /readyz,
and it keeps the series per tenant without a shared mmap directory to clean up.

Commit→searchable latency: now (after the index commit and checkpoint) minus the source commit time of the
oldest transaction of the batch touching the tenant. Binlog timestamps have whole-second resolution, so each
observation over-states the latency by less than one second.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition

log = logging.getLogger(__name__)

LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


def metrics_dir(state_dir: Path) -> Path:
    return state_dir / "metrics"


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value
        self.n += 1

    def to_json(self) -> dict[str, Any]:
        return {"counts": list(self.counts), "sum": self.total, "count": self.n}


def source_head(source: MySQLSettings) -> BinlogPosition | None:
    """The source's current binlog end (SHOW MASTER STATUS), or None when unreachable."""
    try:
        conn = pymysql.connect(**source.connect_kwargs(with_database=False))
    except pymysql.MySQLError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
    except pymysql.MySQLError:
        return None
    finally:
        conn.close()
    return None if row is None else BinlogPosition(str(row[0]), int(row[1]))


class SyncMetrics:
    """Counters and gauges of one sync (or reindex) process, written to `<state>/metrics/<name>.json`."""

    def __init__(self, state_dir: Path, name: str, source: MySQLSettings | None = None, *,
                 write_interval_s: float = 0.25, head_poll_s: float = 1.0) -> None:
        self.path = metrics_dir(state_dir) / f"{name}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.source = source
        self.write_interval_s = write_interval_s
        self.head_poll_s = head_poll_s
        self.started_at = time.time()
        self.synced: BinlogPosition | None = None
        self.head: BinlogPosition | None = None
        self.last_progress_at = self.started_at
        self.caught_up_at: float | None = None
        self.last_applied_commit_ts: float | None = None
        self.stages: dict[str, int] = {"tailer": 0, "indexer": 0, "snapshot": 0}
        self.batches = 0
        self.deadletters = 0
        self.latency: dict[int, _Histogram] = {}
        self.reindex: dict[int, dict[str, Any]] = {}
        self._last_write = 0.0
        self._last_head_poll = 0.0

    # ---- hooks -----------------------------------------------------------------------------------
    def on_batch(self, changes: int, documents_written: int, dead_lettered: int, end: BinlogPosition,
                 oldest_commit_ms_by_tenant: dict[int, int]) -> None:
        """After a batch's index commits and checkpoint: throughput, position, per-tenant latency."""
        now = time.time()
        self.stages["tailer"] += changes
        self.stages["indexer"] += documents_written
        self.batches += 1
        self.deadletters += dead_lettered
        self.synced = end
        self.last_progress_at = now
        for tenant, ts_ms in oldest_commit_ms_by_tenant.items():
            if ts_ms > 0:
                self.latency.setdefault(tenant, _Histogram()).observe(max(0.0, now - ts_ms / 1000.0))
        newest = max((t for t in oldest_commit_ms_by_tenant.values() if t > 0), default=0)
        if newest:
            self.last_applied_commit_ts = max(self.last_applied_commit_ts or 0.0, newest / 1000.0)
        self._poll_head(now, force=False)
        self._maybe_write(now)

    def on_idle(self, synced: BinlogPosition | None) -> None:
        """While no change arrives: heartbeat and the caught-up check against the source head."""
        now = time.time()
        if synced is not None:
            self.synced = synced
        self._poll_head(now, force=False)
        self._maybe_write(now)

    def on_snapshot_chunk(self, tickets: int) -> None:
        now = time.time()
        self.stages["snapshot"] += tickets
        self.last_progress_at = now
        self._maybe_write(now)

    def reindex_progress(self, tenant_id: int, done: int, total: int | None, phase: str = "copy") -> None:
        """Reindex hook: documents copied so far of `total` (None when unknown) for `tenant_id`."""
        now = time.time()
        self.reindex[tenant_id] = {"done": done, "total": total, "phase": phase, "at": now}
        self.last_progress_at = now
        self._maybe_write(now, force=True)

    def flush(self) -> None:
        self._write(time.time())

    # ---- internals -------------------------------------------------------------------------------
    def _poll_head(self, now: float, *, force: bool) -> None:
        if self.source is None or (not force and now - self._last_head_poll < self.head_poll_s):
            return
        self._last_head_poll = now
        head = source_head(self.source)
        if head is None:
            return
        self.head = head
        if self.synced is not None and head <= self.synced:
            self.caught_up_at = now
            self.last_progress_at = now

    def _maybe_write(self, now: float, *, force: bool = False) -> None:
        if force or now - self._last_write >= self.write_interval_s:
            self._write(now)

    def _write(self, now: float) -> None:
        self._last_write = now
        data = {
            "name": self.name, "pid": os.getpid(), "started_at": self.started_at, "updated_at": now,
            "synced": None if self.synced is None else self.synced.to_json(),
            "head": None if self.head is None else self.head.to_json(),
            "last_progress_at": self.last_progress_at, "caught_up_at": self.caught_up_at,
            "last_applied_commit_ts": self.last_applied_commit_ts,
            "stages": dict(self.stages), "batches": self.batches, "deadletters": self.deadletters,
            "latency_buckets": list(LATENCY_BUCKETS),
            "latency": {str(t): h.to_json() for t, h in self.latency.items()},
            "reindex": {str(t): r for t, r in self.reindex.items()},
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data), "utf-8")
            tmp.replace(self.path)
        except OSError as exc:   # metrics must never stop the pipeline
            log.warning("cannot write metrics file %s: %s", self.path, exc)


def oldest_commit_by_tenant(changes: Iterable[Any], tenant_of: Callable[[Any], int | None]) -> dict[int, int]:
    """The oldest source commit time (ms) of the changes of each tenant in a batch."""
    out: dict[int, int] = {}
    for change in changes:
        ts = int(getattr(change, "ts_ms", 0) or 0)
        tenant = tenant_of(change)
        if tenant is None or ts <= 0:
            continue
        prev = out.get(tenant)
        if prev is None or ts < prev:
            out[tenant] = ts
    return out


def read_status_files(state_dir: Path) -> list[dict[str, Any]]:
    """Every process's metrics file (unreadable or half-written ones are skipped)."""
    folder = metrics_dir(state_dir)
    out: list[dict[str, Any]] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(dict(json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError):
            continue
    return out
