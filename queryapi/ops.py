"""Operations endpoints and wiring of issue 8 into the app: /metrics, /healthz, /readyz, admin status.

Input: the app's settings and backend; the sync processes' status files (`<state>/metrics/*.json`, written by
syncer/metrics.py), `checkpoint.json`, the dead-letter store and the source's binlog head.
Output: Prometheus text exposition (prometheus_client), liveness, readiness (503 JSON error with every check
when not ready), and admin-only sync status.
Guarantee: lag is measured against the source's binlog (SHOW MASTER STATUS), never against Kafka offsets;
/readyz is unready when the sync is behind the source and has made no progress for `stall_seconds`;
admin endpoints require the admin role of the tenant (or platform_admin); every error is JSON with a code.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from queryapi.auth import AuthError, KeyAuthenticator, Principal, require_admin
from queryapi.limits import RequestGuard, RequestRejected
from queryapi.settings import ApiSettings
from searchcore.backend import UnknownTenant
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition, file_sequence
from syncer.metrics import LATENCY_BUCKETS, read_status_files, source_head

QUERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _who(request: Request) -> Principal:
    auth: KeyAuthenticator = request.app.state.auth
    return auth.authenticate(request.headers.get("authorization"))


Who = Annotated[Principal, Depends(_who)]


class SourceView:
    """The source's binlog head (cached briefly) and the synced position, for lag and readiness."""

    def __init__(self, settings: ApiSettings, cache_s: float = 0.5) -> None:
        self.settings = settings
        self.cache_s = cache_s
        self._head: tuple[float, BinlogPosition | None] = (0.0, None)
        self._lock = threading.Lock()

    def head(self) -> BinlogPosition | None:
        now = time.monotonic()
        with self._lock:
            if now - self._head[0] < self.cache_s and self._head[1] is not None:
                return self._head[1]
        found = source_head(self.settings.source)
        with self._lock:
            self._head = (now, found)
        return found

    def checkpoint(self) -> BinlogPosition | None:
        """The sync service's checkpoint, or the Kafka indexer group's position (distributed pipeline)."""
        from syncer.kafka_lag import synced_position

        return synced_position(self.settings.state_dir)

    def sync_status(self) -> dict[str, Any] | None:
        """The sync service's status, or the freshest Kafka indexer member's."""
        members = []
        for status in read_status_files(self.settings.state_dir):
            if status.get("name") == "sync":
                return status
            if str(status.get("name", "")).startswith("kafka-"):
                members.append(status)
        return max(members, key=lambda s: float(s.get("updated_at") or 0.0), default=None)

    def lag(self) -> dict[str, Any]:
        """Position behind the source and an estimate of the seconds behind it.

        Seconds behind: 0 when the checkpoint is at the source head; otherwise the time since the sync last was
        caught up or last applied a commit (the oldest unapplied transaction is younger than both)."""
        head, synced, status = self.head(), self.checkpoint(), self.sync_status()
        now = time.time()
        out: dict[str, Any] = {"head": head, "synced": synced, "status": status, "behind": False,
                               "seconds_behind": 0.0, "bytes_behind": 0, "stalled_for": 0.0}
        if head is None or synced is None:
            out["behind"] = head is not None
            return out
        if head <= synced:
            return out
        out["behind"] = True
        if head.file == synced.file:
            out["bytes_behind"] = head.offset - synced.offset
        else:
            out["bytes_behind"] = head.offset   # a lower bound: the rest of the older files is not counted
        marks = [status.get("caught_up_at"), status.get("last_applied_commit_ts")] if status else []
        since = max((float(m) for m in marks if m), default=None)
        if since is None and status is not None:
            since = float(status.get("started_at") or now)
        out["seconds_behind"] = max(0.0, now - since) if since is not None else 0.0
        last_progress = float(status.get("last_progress_at") or 0.0) if status else 0.0
        out["stalled_for"] = max(0.0, now - last_progress) if status else float("inf")
        return out


class SyncCollector(Collector):
    """Series built at scrape time from the sync status files, the checkpoint and the source head."""

    def __init__(self, view: SourceView, settings: ApiSettings) -> None:
        self.view = view
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        lag = self.view.lag()
        head: BinlogPosition | None = lag["head"]
        synced: BinlogPosition | None = lag["synced"]
        pos = GaugeMetricFamily("ticketsearch_binlog_position_bytes",
                                "Binlog offset within its file: the source head and the synced checkpoint",
                                labels=["which", "file"])
        seq = GaugeMetricFamily("ticketsearch_binlog_file_number", "Binlog file sequence number", labels=["which"])
        for which, p in (("source", head), ("synced", synced)):
            if p is not None:
                pos.add_metric([which, p.file], float(p.offset))
                seq.add_metric([which], float(file_sequence(p.file)))
        yield pos
        yield seq
        yield GaugeMetricFamily("ticketsearch_seconds_behind_source",
                                "Seconds the index is behind the source binlog (0 when at its head)",
                                value=float(lag["seconds_behind"]))
        yield GaugeMetricFamily("ticketsearch_bytes_behind_source", "Binlog bytes not yet applied (same file only)",
                                value=float(lag["bytes_behind"]))
        status = lag["status"] or {}
        stages = CounterMetricFamily("ticketsearch_sync_stage_items", "Items through each sync stage "
                                     "(tailer: row changes, indexer: documents written, snapshot: tickets)",
                                     labels=["stage"])
        for stage in ("tailer", "indexer", "snapshot"):
            stages.add_metric([stage], float((status.get("stages") or {}).get(stage, 0)))
        yield stages
        yield CounterMetricFamily("ticketsearch_sync_batches", "Batches committed by the sync",
                                  value=float(status.get("batches", 0)))
        yield CounterMetricFamily("ticketsearch_deadletters", "Row changes dead-lettered by the sync process",
                                  value=float(status.get("deadletters", 0)))
        yield GaugeMetricFamily("ticketsearch_deadletters_pending", "Dead letters not yet replayed",
                                value=float(_pending_deadletters(self.settings.state_dir)))
        yield GaugeMetricFamily("ticketsearch_sync_last_progress_timestamp_seconds",
                                "Unix time the sync last advanced or confirmed it is at the source head",
                                value=float(status.get("last_progress_at", 0.0)))
        hist = HistogramMetricFamily("ticketsearch_commit_to_searchable_seconds",
                                     "Source commit to searchable in the tenant's index (binlog time, 1 s resolution)",
                                     labels=["tenant"])
        bounds = [*status.get("latency_buckets", LATENCY_BUCKETS)]
        for tenant, h in sorted((status.get("latency") or {}).items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*bounds, float("inf")], h["counts"], strict=False):
                cumulative += int(count)
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(cumulative)))
            hist.add_metric([str(tenant)], buckets, float(h["sum"]))
        yield hist
        ratio = GaugeMetricFamily("ticketsearch_reindex_progress_ratio", "Reindex progress (0..1) per tenant",
                                  labels=["tenant", "phase"])
        docs = GaugeMetricFamily("ticketsearch_reindex_documents", "Reindex documents done / total per tenant",
                                 labels=["tenant", "kind"])
        for st in read_status_files(self.settings.state_dir):
            for tenant, r in (st.get("reindex") or {}).items():
                total = r.get("total")
                done = float(r.get("done", 0))
                ratio.add_metric([str(tenant), str(r.get("phase", ""))],
                                 min(1.0, done / total) if total else (1.0 if r.get("phase") == "done" else 0.0))
                docs.add_metric([str(tenant), "done"], done)
                if total is not None:
                    docs.add_metric([str(tenant), "total"], float(total))
        yield ratio
        yield docs


def _pending_deadletters(state_dir: Path, tenant_id: int | None = None) -> int:
    path = state_dir / "deadletters.sqlite"
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            sql = "SELECT COUNT(*) FROM deadletters WHERE replayed_at IS NULL"
            row = (db.execute(sql + " AND tenant_id = ?", (tenant_id,)) if tenant_id is not None
                   else db.execute(sql)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(row[0])


def readiness(settings: ApiSettings, backend: EmbeddedBackend, view: SourceView) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    try:
        tenants = backend.tenants()
        broken = [t for t in tenants if not (settings.index_dir / "tenants" / str(t) /
                                             (settings.index_dir / "tenants" / str(t) / "CURRENT")
                                             .read_text().strip()).is_dir()]
        checks["indexes"] = {"ok": not broken, "tenants": len(tenants), "broken": broken}
    except OSError as exc:
        checks["indexes"] = {"ok": False, "problem": str(exc)}
    try:
        identity = backend.analyzer.identity
        bad = []
        syn_dir = settings.state_dir / "synonyms"
        if syn_dir.is_dir():
            for path in syn_dir.glob("*.json"):
                try:
                    json.loads(path.read_text("utf-8"))
                except (OSError, ValueError):
                    bad.append(path.name)
        checks["dictionaries"] = {"ok": bool(identity) and not bad, "analyzer": identity, "broken_synonyms": bad}
    except Exception as exc:  # noqa: BLE001 - any failure to load the analyzer means not ready
        checks["dictionaries"] = {"ok": False, "problem": f"{type(exc).__name__}: {exc}"}
    lag = view.lag()
    if lag["head"] is None:
        checks["sync"] = {"ok": False, "problem": "the source database is unreachable"}
    elif lag["status"] is None and lag["behind"]:
        checks["sync"] = {"ok": False, "problem": "no sync process has reported (<state>/metrics/sync.json)"}
    elif lag["synced"] is None:
        checks["sync"] = {"ok": False, "problem": "the indexes have no complete synced position yet (the initial "
                          "snapshot, or a re-created Kafka topic, is still being applied)"}
    else:
        stalled = lag["behind"] and lag["stalled_for"] > settings.stall_seconds
        checks["sync"] = {"ok": not stalled, "behind": lag["behind"], "seconds_behind": round(lag["seconds_behind"], 3),
                          "no_progress_for_s": round(min(lag["stalled_for"], 1e9), 3),
                          "stall_threshold_s": settings.stall_seconds}
    return all(c.get("ok") for c in checks.values()), checks


def build_router(settings: ApiSettings, backend: EmbeddedBackend, view: SourceView, registry: CollectorRegistry
                 ) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz", tags=["ops"], responses={503: {"description": "not ready: every check and why"}})
    def readyz() -> JSONResponse:
        ok, checks = readiness(settings, backend, view)
        if ok:
            return JSONResponse({"ready": True, "checks": checks})
        failing = [name for name, c in checks.items() if not c.get("ok")]
        return JSONResponse(status_code=503, content={"error": {
            "code": "not_ready", "message": "not ready: " + ", ".join(failing), "checks": checks}})

    @router.get("/v1/admin/sync", tags=["admin"])
    def admin_sync(who: Who) -> dict[str, Any]:
        """Sync state of the caller's tenant (admins) or of every tenant (platform admins)."""
        require_admin(who)
        tenants = backend.tenants() if who.is_platform_admin else [who.tenant_id]
        lag = view.lag()
        out = []
        for t in tenants:
            try:
                st = backend.state(t)
                entry: dict[str, Any] = {"tenant_id": t, "documents": st.documents,
                                         "applied": None if st.applied is None else st.applied.to_json()}
            except UnknownTenant:
                entry = {"tenant_id": t, "documents": 0, "applied": None}
            entry["deadletters_pending"] = _pending_deadletters(settings.state_dir, t)
            out.append(entry)
        return {"tenants": out, "seconds_behind_source": lag["seconds_behind"],
                "source": None if lag["head"] is None else lag["head"].to_json(),
                "synced": None if lag["synced"] is None else lag["synced"].to_json()}

    return router


def install(app: FastAPI, settings: ApiSettings, backend: EmbeddedBackend) -> None:
    """Routers, the request guard (ids, timeouts, JSON 500s, query latency) and the error handlers of issue 8."""
    registry = CollectorRegistry(auto_describe=True)
    latency = Histogram("ticketsearch_http_request_duration_seconds", "Query API latency by endpoint and status",
                        ["endpoint", "method", "status"], registry=registry, buckets=QUERY_BUCKETS)
    view = SourceView(settings)
    registry.register(SyncCollector(view, settings))
    app.state.metrics_registry = registry

    def observe(endpoint: str, method: str, status: int, seconds: float) -> None:
        latency.labels(endpoint, method, str(status)).observe(seconds)

    app.add_middleware(RequestGuard, timeout_s=settings.request_timeout_s, observer=observe)

    @app.exception_handler(RequestRejected)
    async def _rejected(_: Request, exc: RequestRejected) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body())

    @app.exception_handler(404)
    async def _not_found(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": {"code": "not_found", "message": "no such endpoint"}})

    @app.exception_handler(405)
    async def _not_allowed(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=405, content={"error": {"code": "method_not_allowed",
                                                                "message": "method not allowed"}})

    app.include_router(build_router(settings, backend, view, registry))
    _ = AuthError  # AuthError is answered by the app's own handler
