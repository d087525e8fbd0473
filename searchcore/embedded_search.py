"""Queries against one tenant's Tantivy index: request -> Tantivy query -> sorted, paged, faceted, highlighted hits.

Input: a tenant id (required), a `searchcore.query.SearchRequest`, the tenant's query-time synonym set.
Output: a `SearchResult` (total, hits with highlights and sort values, facet counts, the next cursor).
Guarantee: only the given tenant's index is read; tombstones never match; the order is total — (sort value, then
ticket_id ascending) — so cursor pages never repeat or skip a ticket whose sort value did not change; facets count
every matching ticket (not only the page); highlights are placed on the original stored text, each comment in
place, and only on the query's own term sequences (a synonym highlights only its own span).
"""

from __future__ import annotations

import math
import time
from typing import Any

import tantivy

from analyzers.highlight import make_snippet
from analyzers.synonyms import EMPTY, SynonymSet
from searchcore.backend import Highlight, SearchHit, SearchResult
from searchcore.documents import StoredTicket
from searchcore.embedded import EmbeddedBackend
from searchcore.query import FACET_FIELDS, SORT_FIELDS, Cursor, FacetCount, SearchRequest
from searchcore.tantivy_query import Compiled, compile_query
from searchcore.tantivy_schema import term_text

Q = tantivy.Query
Occur = tantivy.Occur
MAX_RELEVANCE_WINDOW = 10_000   # relevance cursors re-rank at most this many hits; deeper needs a field sort
FACET_SIZE = 50


class CursorTooDeep(ValueError):
    """A relevance-sorted cursor points deeper than MAX_RELEVANCE_WINDOW hits."""

    def __init__(self, window: int) -> None:
        super().__init__(f"relevance paging is limited to the top {window} hits; sort by created or updated")
        self.window = window


def search(backend: EmbeddedBackend, tenant_id: int, request: SearchRequest,
           synonyms: SynonymSet = EMPTY) -> SearchResult:
    compiled = compile_query(backend, request.tree(), synonyms)
    searcher = backend.searcher_for(tenant_id)
    counted = searcher.search(compiled.query, 1, count=True)
    total = int(counted.count or 0)  # type: ignore[attr-defined]
    if SORT_FIELDS[request.sort.key] is None:
        page, more = _relevance_page(backend, searcher, compiled, request, total)
    else:
        page, more = _field_page(backend, searcher, compiled.query, request)
    hits = []
    for value, addr in page:
        doc = StoredTicket.from_json(bytes(searcher.doc(addr).to_dict()["stored"][0]))
        score = float(value) if SORT_FIELDS[request.sort.key] is None else 0.0
        hits.append(_hit(backend, doc, score, value, compiled.matchers if request.highlight else []))
    next_cursor = None
    if more and hits:
        next_cursor = Cursor(value=hits[-1].sort_value, ticket_id=hits[-1].ticket_id)
    facets = _facets(backend, searcher, compiled.query, request.facets) if request.facets else {}
    return SearchResult(total=total, hits=hits, query_tokens=compiled.terms, facets=facets, next_cursor=next_cursor)


# ---- relevance ---------------------------------------------------------------------------------------

def _relevance_page(backend: EmbeddedBackend, searcher: tantivy.Searcher, compiled: Compiled,
                    request: SearchRequest, total: int) -> tuple[list[tuple[Any, tantivy.DocAddress]], bool]:
    """Order (score desc, ticket_id asc) over a window of the top hits, widened until the page is complete."""
    ranking = backend.mapping.ranking
    want = request.offset + request.limit + 1
    window = max(want * 2, 32, ranking.rerank_window if ranking.recency_weight > 0 else 0)
    while True:
        window = min(window, MAX_RELEVANCE_WINDOW, max(total, 1))
        raw = searcher.search(compiled.query, window, count=False).hits
        ids = searcher.fast_field_values("ticket_id", [a for _, a in raw])
        scores = [float(s) for s, _ in raw]
        if ranking.recency_weight > 0 and raw:
            scores = _recency(searcher, raw, scores, ranking.recency_weight, ranking.recency_half_life_days)
        rows = sorted(zip(scores, [int(i or 0) for i in ids], [a for _, a in raw], strict=True),
                      key=lambda r: (-r[0], r[1]))
        if request.after is not None:
            cur_v = float(request.after.value or 0.0)
            cur_id = request.after.ticket_id
            rows = [r for r in rows if r[0] < cur_v or (r[0] == cur_v and r[1] > cur_id)]
        rows = rows[request.offset:]
        complete = len(raw) < window or len(raw) >= total
        boundary_ok = len(rows) > request.limit and rows[request.limit][0] > (min(scores) if scores else 0.0)
        if complete or boundary_ok:
            page = [(s, a) for s, _, a in rows[: request.limit]]
            return page, len(rows) > request.limit
        if window >= MAX_RELEVANCE_WINDOW:
            if len(rows) <= request.limit and (request.after is not None or request.offset > 0):
                raise CursorTooDeep(MAX_RELEVANCE_WINDOW)
            # the page is complete; only the tie order beyond the window is unknown (equal scores)
            return [(s, a) for s, _, a in rows[: request.limit]], len(rows) > request.limit
        window *= 4


def _recency(searcher: tantivy.Searcher, raw: list[tuple[Any, tantivy.DocAddress]], scores: list[float],
             weight: float, half_life_days: float) -> list[float]:
    now = time.time() * 1000
    updated = searcher.fast_field_values("updated_at", [a for _, a in raw])
    half = half_life_days * 86_400_000
    out = []
    for s, u in zip(scores, updated, strict=True):
        age = max(0.0, now - float(u)) if u is not None else math.inf
        out.append(s * (1.0 + weight * (0.0 if age == math.inf else 2.0 ** (-age / half))))
    return out


# ---- field sorts -----------------------------------------------------------------------------------------

def _field_page(backend: EmbeddedBackend, searcher: tantivy.Searcher, query: tantivy.Query,
                request: SearchRequest) -> tuple[list[tuple[Any, tantivy.DocAddress]], bool]:
    """Exact keyset paging on (field, ticket_id): ties at the page boundary are resolved by ticket_id."""
    fname = SORT_FIELDS[request.sort.key]
    assert fname is not None
    desc = request.sort.order == "desc"
    order = tantivy.Order.Desc if desc else tantivy.Order.Asc
    schema = backend.schema
    ft = tantivy.FieldType.Integer
    if request.after is not None and request.after.value is not None:
        v, tid = int(request.after.value), request.after.ticket_id
        beyond = (Q.range_query(schema, fname, ft, None, v, include_upper=False) if desc
                  else Q.range_query(schema, fname, ft, v, None, include_lower=False))
        same = Q.boolean_query([(Occur.Must, Q.term_query(schema, fname, v)),
                                (Occur.Must, Q.range_query(schema, "ticket_id", ft, tid, None, include_lower=False))])
        after = Q.boolean_query([(Occur.Should, beyond), (Occur.Should, same)])
        query = Q.boolean_query([(Occur.Must, query), (Occur.Must, Q.const_score_query(after, 0.0))])
    want = request.offset + request.limit + 1
    top = searcher.search(query, want, count=False, order_by_field=fname, order=order).hits
    if len(top) < want:
        rows = _by_ticket(searcher, top)
    else:
        edge = top[-1][0]
        better = [h for h in top if h[0] != edge]
        ties_q = Q.boolean_query([(Occur.Must, query), (Occur.Must, Q.term_query(schema, fname, int(edge)))])
        ties = searcher.search(ties_q, want - len(better), count=False, order_by_field="ticket_id",
                               order=tantivy.Order.Asc).hits
        rows = _by_ticket(searcher, better) + [(edge, a) for _, a in ties]
    rows.sort(key=lambda r: r[0], reverse=desc)  # stable: ticket_id order within equal values is kept
    rows = rows[request.offset:]
    return rows[: request.limit], len(rows) > request.limit


def _by_ticket(searcher: tantivy.Searcher, hits: list[tuple[Any, tantivy.DocAddress]]
               ) -> list[tuple[Any, tantivy.DocAddress]]:
    ids = searcher.fast_field_values("ticket_id", [a for _, a in hits])
    rows = sorted(zip(ids, hits, strict=True), key=lambda r: int(r[0] or 0))
    return [h for _, h in rows]


# ---- facets -----------------------------------------------------------------------------------------------

def _facets(backend: EmbeddedBackend, searcher: tantivy.Searcher, query: tantivy.Query,
            fields: tuple[str, ...]) -> dict[str, list[FacetCount]]:
    mapping = backend.mapping
    wanted = [f for f in fields if f in FACET_FIELDS and f in mapping.fields]
    if not wanted:
        return {}
    spec = {f: {"terms": {"field": f, "size": FACET_SIZE}} for f in wanted}
    raw = searcher.aggregate(query, spec)
    out: dict[str, list[FacetCount]] = {}
    for f in wanted:
        buckets = raw.get(f, {}).get("buckets", [])
        counts = []
        for b in buckets:
            key = b["key"]
            if mapping.fields[f].type == "enum":
                name = mapping.enum_value(f, int(key))
                key = name if name is not None else str(key)
            elif isinstance(key, float) and key.is_integer():
                key = int(key)
            counts.append(FacetCount(value=str(key), count=int(b["doc_count"])))
        out[f] = counts
    return out


# ---- highlights ---------------------------------------------------------------------------------------------

def _hit(backend: EmbeddedBackend, doc: StoredTicket, score: float, sort_value: Any,
         matchers: list[tuple[str, ...]]) -> SearchHit:
    fields = doc.fields
    size = backend.mapping.ranking.highlight_fragment_chars
    highlights: list[Highlight] = []
    comments = doc.live_children("comments")
    if matchers:
        for field in ("subject", "body"):
            text = fields.get(field)
            if isinstance(text, str):
                frag = fragment(backend, text, matchers, size)
                if frag is not None:
                    highlights.append(Highlight(field=field, fragment=frag))
        for key, row in comments:
            frag = fragment(backend, str(row.get("text", row.get("body", ""))), matchers, size)
            if frag is not None:
                highlights.append(Highlight(field="comments", fragment=frag, comment_key=key))
    tags = sorted(str(r.get("value")) for _, r in doc.live_children("tags"))
    value = float(sort_value) if isinstance(sort_value, float) else int(sort_value)
    return SearchHit(ticket_id=doc.ticket_id, score=score, fields=fields, tags=tags,
                     comment_count=len(comments), highlights=highlights, sort_value=value)


def match_spans(backend: EmbeddedBackend, text: str, matchers: list[tuple[str, ...]]) -> list[tuple[int, int]]:
    """Spans of `text` where one of the term sequences occurs at consecutive positions (index-side tokens)."""
    by_pos: dict[int, dict[str, tuple[int, int]]] = {}
    singles = {m[0] for m in matchers if len(m) == 1}
    seqs = [m for m in matchers if len(m) > 1]
    spans: list[tuple[int, int]] = []
    for t in backend.analyzer.analyze_index(text):
        term = term_text(t.text)
        if term in singles:
            spans.append((t.start, t.end))
        if seqs:
            by_pos.setdefault(t.position, {}).setdefault(term, (t.start, t.end))
    for seq in seqs:
        for p, terms in by_pos.items():
            if seq[0] not in terms:
                continue
            found = [by_pos.get(p + i, {}).get(term) for i, term in enumerate(seq)]
            if all(f is not None for f in found):
                spans.append((found[0][0], found[-1][1]))  # type: ignore[index]
    return spans


def fragment(backend: EmbeddedBackend, text: str, matchers: list[tuple[str, ...]], size: int) -> str | None:
    spans = match_spans(backend, text, matchers)
    if not spans:
        return None
    return make_snippet(text, spans, max_chars=size)
