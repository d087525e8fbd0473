"""The query API (FastAPI).

Input: HTTP requests with `Authorization: Bearer <api key>`. Output: JSON.
Guarantee: the tenant comes from the credential only; every error is JSON `{"error": {"code",
"message"}}` with a 4xx status for bad input, never a stack trace or a 500 for a malformed query.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from typing import Annotated, Any, Literal

import pymysql
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from analyzers import Analyzer, AnalyzerConfig
from analyzers.synonyms import SynonymStore, expand
from mappings import load_mapping
from queryapi import admin, ops
from queryapi.auth import AuthError, KeyAuthenticator, Principal, authenticator_for
from queryapi.cursors import CursorError, decode_cursor, encode_cursor
from queryapi.freshness import FreshnessWaiter
from queryapi.limits import check_clauses
from queryapi.people import PeopleResolver
from queryapi.querylang import QuerySyntaxError, parse_query
from queryapi.settings import ApiSettings
from queryapi.ui import router as ui_router
from searchcore.backend import Highlight, SearchHit, SearchResult, UnknownTenant
from searchcore.embedded import EmbeddedBackend
from searchcore.embedded_search import CursorTooDeep, search
from searchcore.explain import explain
from searchcore.positions import BinlogPosition
from searchcore.query import FACET_FIELDS, MatchAll, Node, SearchRequest, Sort

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


def _principal(request: Request) -> Principal:
    auth: KeyAuthenticator = request.app.state.auth
    return auth.authenticate(request.headers.get("authorization"))


Who = Annotated[Principal, Depends(_principal)]


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(title="ticket search", version="0.1.0")
    backend = EmbeddedBackend(settings.index_dir, load_mapping("tickets", settings.mapping_version),
                              Analyzer(AnalyzerConfig()), writable=False)
    auth = authenticator_for(settings)  # API keys + JWT (issue 8)
    synonyms = SynonymStore(settings.state_dir / "synonyms")
    people = PeopleResolver(settings.source)
    # Cursors are signed; replicas behind a load balancer must share TICKETSEARCH_CURSOR_SECRET.
    cursor_secret = os.environ.get("TICKETSEARCH_CURSOR_SECRET", "").encode() or secrets.token_bytes(32)
    app.state.backend = backend
    app.state.auth = auth
    app.state.synonyms = synonyms
    admin.install(app, settings)  # issue 7: /v1/admin/* (reindex, reconcile, dictionaries), per-request read scope
    ops.install(app, settings, backend)  # issue 8: /metrics, /healthz, /readyz, limits, request guard
    freshness = FreshnessWaiter(settings, backend)
    app.include_router(ui_router)  # browser pages (issue 9): /ui/, /ui/admin

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, **exc.details)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

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

    def parse(q: str, tenant_id: int, allow_empty: bool) -> Node:
        if len(q) > settings.max_query_chars:
            raise ApiError(400, "query_too_long",
                           f"the query is {len(q)} characters; at most {settings.max_query_chars} are allowed",
                           where="q")
        if not q.strip() and not allow_empty:
            raise ApiError(400, "empty_query", "the query `q` is empty", where="q")
        try:
            node = parse_query(q, backend.mapping)
        except QuerySyntaxError as exc:
            raise ApiError(400, "query_syntax", exc.message, where="q", position=exc.position,
                           problem=exc.problem) from None
        check_clauses(node, settings.max_clauses)
        return people.resolve(tenant_id, node)

    @app.get("/v1/tickets/search")
    def search_tickets(
        who: Who,
        q: str = Query("", description="the search query (see docs/query-language.md)"),
        limit: int = Query(10, ge=1, le=settings.max_limit),
        offset: int = Query(0, ge=0),
        sort: Literal["relevance", "created", "updated", "priority"] = Query("relevance"),
        order: Literal["asc", "desc"] = Query("desc"),
        cursor: str | None = Query(None, description="`next_cursor` of the previous page"),
        facets: str = Query("", description="comma-separated: " + ",".join(FACET_FIELDS)),
        wait_for: str | None = Query(None, max_length=64, description="a GTID (@@last_gtid after the commit): wait, "
                                     "bounded, until it is searchable; past the bound answer with stale: true"),
    ) -> dict[str, Any]:
        node = parse(q, who.tenant_id, allow_empty=sort != "relevance" or bool(facets))
        stale = None if wait_for is None else not freshness.wait(who.tenant_id, wait_for)
        if offset > settings.max_offset:
            raise ApiError(400, "offset_too_deep",
                           f"offset {offset} is deeper than {settings.max_offset}; page with cursors instead "
                           "(pass `cursor` = the previous page's `next_cursor`)", where="offset")
        wanted = tuple(f.strip() for f in facets.split(",") if f.strip())
        aliases = {"tag": "tags", "assignee": "assignee_id"}
        wanted = tuple(aliases.get(f, f) for f in wanted)
        unknown = [f for f in wanted if f not in FACET_FIELDS]
        if unknown:
            raise ApiError(400, "unknown_facet", f"unknown facet(s) {unknown}; known: {list(FACET_FIELDS)}",
                           where="facets")
        order_by = Sort(sort, order)
        after = None
        if cursor:
            if offset:
                raise ApiError(400, "cursor_with_offset", "use either `cursor` or `offset`, not both", where="cursor")
            try:
                after = decode_cursor(cursor_secret, who.tenant_id, q, order_by, cursor)
            except CursorError as exc:
                raise ApiError(400, exc.problem, exc.message, where="cursor") from None
        request = SearchRequest(text=q, limit=limit, offset=offset, query=node, sort=order_by, after=after,
                                facets=wanted)
        try:
            result = search(backend, who.tenant_id, request, synonyms.get(who.tenant_id))
        except UnknownTenant:
            result = SearchResult(total=0, hits=[], query_tokens=[])
        except CursorTooDeep as exc:
            raise ApiError(400, "cursor_too_deep", str(exc), where="cursor") from None
        next_cursor = None
        if result.next_cursor is not None:
            next_cursor = encode_cursor(cursor_secret, who.tenant_id, q, order_by, result.next_cursor)
        out: dict[str, Any] = {
            "total": result.total,
            "query_tokens": result.query_tokens,
            "hits": [_hit_json(h) for h in result.hits],
            "next_cursor": next_cursor,
        }
        if stale is not None:
            out["stale"] = stale
        if wanted:
            out["facets"] = {f: [{"value": c.value, "count": c.count} for c in counts]
                             for f, counts in result.facets.items()}
        return out

    @app.get("/v1/analyze")
    def analyze(
        who: Who,
        text: str = Query(..., max_length=10_000, description="text to analyze"),
        mode: Literal["index", "query"] = Query("index"),
    ) -> dict[str, Any]:
        analyzer = backend.analyzer
        tokens = analyzer.analyze_index(text) if mode == "index" else analyzer.analyze_query(text)
        out: dict[str, Any] = {
            "analyzer": analyzer.identity,
            "mode": mode,
            "normalized": analyzer.normalize(text),
            "tokens": [{"term": t.text, "start": t.start, "end": t.end, "original": text[t.start:t.end],
                        "position": t.position, "source": t.source, "origin": analyzer.origin(t)}
                       for t in tokens],
        }
        if mode == "query":
            syn = synonyms.get(who.tenant_id)
            slots = expand(analyzer, [t.text for t in tokens], syn)
            out["synonyms"] = {"version": syn.version,
                               "slots": [{"terms": list(s.terms), "alternatives": [list(a) for a in s.alternatives]}
                                         for s in slots]}
        return out

    @app.get("/v1/tickets/{ticket_id}/explain")
    def explain_ticket(
        who: Who,
        ticket_id: int,
        q: str = Query(..., description="the search query to explain"),
    ) -> dict[str, Any]:
        node = parse(q, who.tenant_id, allow_empty=True)
        if not 0 <= ticket_id < 2**63:
            raise ApiError(404, "not_found", f"ticket {ticket_id} does not exist for this tenant", where="ticket_id")
        try:
            found = explain(backend, who.tenant_id, ticket_id, node if q.strip() else MatchAll(),
                            synonyms.get(who.tenant_id))
        except UnknownTenant:
            found = None
        if found is None:
            raise ApiError(404, "not_found", f"ticket {ticket_id} does not exist for this tenant",
                           where="ticket_id")
        return found

    @app.get("/v1/status")
    def status(who: Who) -> dict[str, Any]:
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
                "snapshot": _snapshot_progress(settings, who.tenant_id), "source": _source_position(settings)}

    return app


def _snapshot_progress(settings: ApiSettings, tenant_id: int) -> dict[str, Any] | None:
    """While the initial snapshot (or a full re-snapshot) runs: whether the caller's tenant is done yet."""
    try:
        data = json.loads((settings.state_dir / "checkpoint.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        if _synced_to(settings) is not None:
            return None          # the distributed pipeline: the indexer group has applied a complete snapshot
        return {"running": True, "tenant_done": False}  # not even started
    snap = data.get("snapshot")
    if data.get("position") is not None or not isinstance(snap, dict):
        return None
    done = tenant_id in snap.get("tenants_done", [])
    return {"running": True, "tenant_done": done,
            "tenant_copied_up_to_id": snap.get("after_id") if snap.get("tenant") == tenant_id else None}


def _hit_json(h: SearchHit) -> dict[str, Any]:
    return {
        "ticket_id": h.ticket_id,
        "score": h.score,
        **dict(h.fields.items()),
        "tags": h.tags,
        "comment_count": h.comment_count,
        "highlights": [_highlight_json(hl) for hl in h.highlights],
    }


def _highlight_json(hl: Highlight) -> dict[str, Any]:
    out: dict[str, Any] = {"field": hl.field, "fragment": hl.fragment}
    if hl.comment_key is not None:
        out["comment"] = hl.comment_key
    return out


def _synced_to(settings: ApiSettings) -> BinlogPosition | None:
    from syncer.kafka_lag import synced_position

    return synced_position(settings.state_dir)


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
