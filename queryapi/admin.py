"""Admin endpoints (issue 7): reindex jobs, reconciliation and per-tenant dictionaries.

Input: HTTP with `Authorization: Bearer <admin key>`; the tenant is the key's tenant, never a parameter.
Output: JSON; requests to the running sync service go through the state dir (searchcore/control.py), so this
process never opens an index writer. `install(app, settings)` also makes every request a read scope
(searchcore/generations.py): a query is analyzed with the analyzer of the generation it searches.
Guarantee: only the admin role of a tenant can start, see or cancel that tenant's jobs and dictionaries;
errors are JSON `{"error": {"code", "message"}}` with a 4xx status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from analyzers.dictionaries import DictionaryError, DictionaryStore
from queryapi.auth import Principal
from queryapi.settings import ApiSettings
from searchcore import control
from searchcore.generations import bind_request_tenant, request_scope

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str, *, tenant_id: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.tenant_id = status, code, message, tenant_id


def _admin(request: Request) -> Principal:
    who: Principal = request.app.state.auth.authenticate(request.headers.get("authorization"))
    if who.role != "admin" and not who.is_platform_admin:
        raise AdminError(403, "forbidden", "this endpoint needs an admin key of the tenant", tenant_id=who.tenant_id)
    return who


Admin = Annotated[Principal, Depends(_admin)]


def _state(request: Request) -> Path:
    state: Path = request.app.state.admin_state_dir
    return state


class ReindexBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mapping_version: int | None = Field(default=None, ge=1)
    dictionary_version: int | None = Field(default=None, ge=1)
    throttle: float | None = Field(default=None, gt=0, description="snapshot rows per second")


class ReconcileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repair: bool = False


class DictionaryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_words: list[str] = Field(default_factory=list)
    stop_words: list[str] = Field(default_factory=list)


def _job_or_404(state: Path, who: Principal, job_id: str) -> dict[str, Any]:
    job = control.read_job(state, job_id)
    if job is None and control.is_pending(state, job_id) and job_id.startswith(f"ri-{who.tenant_id}-"):
        return {"id": job_id, "tenant": who.tenant_id, "phase": "requested"}
    if job is None or job.get("tenant") != who.tenant_id:
        raise AdminError(404, "not_found", f"no reindex job {job_id} for this tenant", tenant_id=who.tenant_id)
    return job


@router.post("/reindex", status_code=202)
def start_reindex(who: Admin, request: Request, body: ReindexBody | None = None) -> dict[str, Any]:
    body = body or ReindexBody()
    state = _state(request)
    if body.dictionary_version is not None:
        try:
            DictionaryStore(state).get(who.tenant_id, body.dictionary_version)
        except DictionaryError as exc:
            raise AdminError(400, "unknown_dictionary", str(exc), tenant_id=who.tenant_id) from None
    job_id = control.submit(state, "reindex", who.tenant_id, body.model_dump())
    return {"job": job_id, "phase": "requested", "status": f"/v1/admin/reindex/{job_id}",
            "service_running": control.service_alive(state)}


@router.get("/reindex")
def list_reindex(who: Admin, request: Request) -> dict[str, Any]:
    return {"jobs": control.list_jobs(_state(request), who.tenant_id)}


@router.get("/reindex/{job_id}")
def get_reindex(who: Admin, request: Request, job_id: str) -> dict[str, Any]:
    return _job_or_404(_state(request), who, job_id)


@router.post("/reindex/{job_id}/cancel", status_code=202)
def cancel_reindex(who: Admin, request: Request, job_id: str) -> dict[str, Any]:
    job = _job_or_404(_state(request), who, job_id)
    req = control.submit(_state(request), "cancel", who.tenant_id, {"job": job_id})
    return {"job": job_id, "phase": job.get("phase"), "cancel_request": req}


@router.post("/reconcile", status_code=202)
def start_reconcile(who: Admin, request: Request, body: ReconcileBody | None = None) -> dict[str, Any]:
    req = control.submit(_state(request), "reconcile", who.tenant_id, (body or ReconcileBody()).model_dump())
    return {"request": req, "status": f"/v1/admin/reconcile/{req}"}


@router.get("/reconcile/{req_id}")
def get_reconcile(who: Admin, request: Request, req_id: str) -> dict[str, Any]:
    if not req_id.startswith(f"rc-{who.tenant_id}-"):
        raise AdminError(404, "not_found", f"no reconcile request {req_id} for this tenant", tenant_id=who.tenant_id)
    result = control.read_result(_state(request), req_id)
    return {"request": req_id, "done": False} if result is None else {"request": req_id, "done": True, **result}


@router.post("/dictionaries", status_code=201)
def upload_dictionary(who: Admin, request: Request, body: DictionaryBody) -> dict[str, Any]:
    try:
        dv = DictionaryStore(_state(request)).upload(who.tenant_id, body.user_words, body.stop_words)
    except DictionaryError as exc:
        raise AdminError(400, "invalid_dictionary", str(exc), tenant_id=who.tenant_id) from None
    return {**dv.summary(), "state": "staged",
            "next": f"POST /v1/admin/reindex {{\"dictionary_version\": {dv.version}}} activates it"}


@router.get("/dictionaries")
def list_dictionaries(who: Admin, request: Request) -> dict[str, Any]:
    store = DictionaryStore(_state(request))
    backend = request.app.state.backend
    return {**store.state(who.tenant_id), "versions": [v.summary() for v in store.versions(who.tenant_id)],
            "analyzer": backend.analyzer_for(who.tenant_id).identity}


# ---- dead letters (the sync service owns the store's writes; this process only reads it) ----------------
DEADLETTER_DB = "deadletters.sqlite"
REPLAY_REQUEST, REPLAY_RESULT = "replay.request", "replay.result"   # the protocol of syncer/replay.py


@router.get("/deadletters")
def list_deadletters(who: Admin, request: Request, limit: int = 100) -> dict[str, Any]:
    """The tenant's pending dead letters: reason and source position of each rejected row change."""
    import sqlite3

    path = _state(request) / DEADLETTER_DB
    if not path.exists():
        return {"pending": 0, "deadletters": []}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, created_at, ticket_id, source_table, binlog_file, binlog_offset, reason "
                          "FROM deadletters WHERE replayed_at IS NULL AND tenant_id = ? ORDER BY id LIMIT ?",
                          (who.tenant_id, max(1, min(limit, 1000)))).fetchall()
        pending = db.execute("SELECT COUNT(*) FROM deadletters WHERE replayed_at IS NULL AND tenant_id = ?",
                             (who.tenant_id,)).fetchone()[0]
    finally:
        db.close()
    return {"pending": int(pending), "deadletters": [
        {"id": r[0], "created_at": r[1], "ticket_id": r[2], "table": r[3], "position": f"{r[4]}:{r[5]}",
         "reason": r[6]} for r in rows]}


@router.post("/deadletters/replay")
def replay_deadletters(who: Admin, request: Request) -> dict[str, Any]:
    """Ask the running sync service to re-apply the tenant's dead letters (after their cause is fixed)."""
    import time

    state = _state(request)
    if not control.service_alive(state):
        raise AdminError(409, "sync_not_running", "the sync service is not running; start it, or run "
                         "`ticketsearch deadletters replay` while it is stopped", tenant_id=who.tenant_id)
    (state / REPLAY_RESULT).unlink(missing_ok=True)
    control.write_json_atomic(state / REPLAY_REQUEST, {"tenant_id": who.tenant_id})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = control.read_json(state / REPLAY_RESULT)
        if isinstance(result, dict):
            (state / REPLAY_RESULT).unlink(missing_ok=True)
            return result
        time.sleep(0.1)
    raise AdminError(504, "timeout", "the sync service did not answer the replay request within 60 s",
                     tenant_id=who.tenant_id)


class _ScopedAuth:
    """Wraps the authenticator: the authenticated tenant is bound to the request's read scope."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def authenticate(self, header: str | None) -> Principal:
        who: Principal = self.inner.authenticate(header)
        bind_request_tenant(who.tenant_id)
        return who


class _ReadScope:
    """Pure ASGI middleware: each HTTP request gets its own read scope (pinned generations)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        with request_scope():
            await self.app(scope, receive, send)


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Called once by queryapi.app.create_app after app.state is set."""
    app.state.admin_state_dir = settings.state_dir
    app.state.auth = _ScopedAuth(app.state.auth)
    app.state.backend.analyzer_resolver = DictionaryStore(settings.state_dir).resolver
    app.add_middleware(_ReadScope)

    @app.exception_handler(AdminError)
    async def _admin_error(_: Request, exc: AdminError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": {"code": exc.code, "message": exc.message}})

    app.include_router(router)
