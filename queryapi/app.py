"""The query API (FastAPI).

Input: HTTP requests with `Authorization: Bearer <api key>`. Output: JSON.
Guarantee: the tenant comes from the credential only; every error is JSON `{"error": {"code",
"message"}}` with a 4xx status for bad input, never a stack trace or a 500 for a malformed query.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pymysql
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from queryapi.auth import AuthError, KeyAuthenticator, Principal
from queryapi.settings import ApiSettings
from searchcore.backend import SearchRequest, SearchResult, UnknownTenant
from searchcore.embedded import EmbeddedBackend
from searchcore.embedded_search import search
from searchcore.positions import BinlogPosition

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def _error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, **details}})


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(title="ticket search", version="0.1.0")
    backend = EmbeddedBackend(settings.index_dir, load_mapping("tickets", settings.mapping_version),
                              Analyzer(AnalyzerConfig()), writable=False)
    auth = KeyAuthenticator(settings.source, settings.key_cache_seconds)
    app.state.backend = backend

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, **exc.details)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
                    for e in exc.errors()]
        return _error(400, "invalid_request", "; ".join(f"{p['where']}: {p['problem']}" for p in problems),
                      problems=problems)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _error(500, "internal", "internal error")

    def principal(request: Request) -> Principal:
        return auth.authenticate(request.headers.get("authorization"))

    @app.get("/v1/tickets/search")
    def search_tickets(
        q: str = Query("", description="the search query"),
        limit: int = Query(10, ge=1, le=settings.max_limit),
        offset: int = Query(0, ge=0),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        text = q.strip()
        if not text:
            raise ApiError(400, "empty_query", "the query `q` is empty", where="q")
        if len(q) > settings.max_query_chars:
            raise ApiError(400, "query_too_long",
                           f"the query is {len(q)} characters; at most {settings.max_query_chars} are allowed",
                           where="q")
        if offset > settings.max_offset:
            raise ApiError(400, "offset_too_deep",
                           f"offset {offset} is deeper than {settings.max_offset}; page with cursors instead",
                           where="offset")
        try:
            result = search(backend, who.tenant_id, SearchRequest(text=text, limit=limit, offset=offset))
        except UnknownTenant:
            result = SearchResult(total=0, hits=[], query_tokens=[])
        return {
            "total": result.total,
            "query_tokens": result.query_tokens,
            "hits": [
                {
                    "ticket_id": h.ticket_id,
                    "score": h.score,
                    **{k: v for k, v in h.fields.items()},
                    "tags": h.tags,
                    "comment_count": h.comment_count,
                    "highlights": [
                        {"field": hl.field, "fragment": hl.fragment, **({"comment": hl.comment_key} if hl.comment_key else {})}
                        for hl in h.highlights
                    ],
                }
                for h in result.hits
            ],
        }

    @app.get("/v1/status")
    def status(who: Principal = Depends(principal)) -> dict[str, Any]:
        synced = _synced_to(settings)
        tenants = []
        try:
            st = backend.state(who.tenant_id)
            applied = st.applied
            fresh = applied if synced is None or (applied is not None and synced < applied) else synced
            tenants.append({"tenant_id": who.tenant_id, "documents": st.documents,
                            "applied": None if applied is None else applied.to_json(),
                            "position": None if fresh is None else fresh.to_json(),
                            "analyzer": st.analyzer, "mapping_version": st.mapping_version})
        except UnknownTenant:
            tenants.append({"tenant_id": who.tenant_id, "documents": 0, "applied": None,
                            "position": None if synced is None else synced.to_json()})
        return {"tenants": tenants, "synced_to": None if synced is None else synced.to_json(),
                "source": _source_position(settings)}

    return app


def _synced_to(settings: ApiSettings) -> BinlogPosition | None:
    path = settings.state_dir / "checkpoint.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    pos = data.get("position")
    return None if pos is None else BinlogPosition.from_json(pos)


def _source_position(settings: ApiSettings) -> dict[str, Any] | None:
    try:
        conn = pymysql.connect(**settings.source.connect_kwargs(with_database=False))
    except pymysql.MySQLError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
            gtid = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    return {"file": row[0], "offset": int(row[1]), "gtid": gtid[0] if gtid else None}
