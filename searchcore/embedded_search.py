"""Queries against one tenant's Tantivy index: request -> Tantivy query -> ranked, highlighted hits.

Input: a tenant id (required), a SearchRequest. Output: a SearchResult.
Guarantee: only the given tenant's index is read; tombstones never match (const-score filter, so the
filter does not change BM25); highlights are placed on the original stored text.
"""

from __future__ import annotations

import math

import tantivy

from analyzers.highlight import make_snippet
from searchcore.backend import Highlight, SearchHit, SearchRequest, SearchResult
from searchcore.documents import StoredTicket
from searchcore.embedded import EmbeddedBackend
from searchcore.tantivy_schema import SUB, term_text

SUBWORD_WEIGHT = 0.5


def _should(queries: list[tantivy.Query]) -> tantivy.Query:
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in queries])


def build_query(backend: EmbeddedBackend, text: str) -> tuple[tantivy.Query, list[str]]:
    schema = backend.schema
    mapping = backend.mapping
    terms: list[str] = []
    for tok in backend.analyzer.analyze_query(text):
        t = term_text(tok.text)
        if t not in terms:
            terms.append(t)
    per_term: list[tantivy.Query] = []
    for term in terms:
        alternatives = []
        for field, boost in mapping.text_fields():
            alternatives.append(tantivy.Query.boost_query(tantivy.Query.term_query(schema, field, term), boost))
            alternatives.append(
                tantivy.Query.boost_query(tantivy.Query.term_query(schema, field + SUB, term), boost * SUBWORD_WEIGHT)
            )
        per_term.append(_should(alternatives))
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, backend._visible_filter())]
    matchers: list[tantivy.Query] = []
    if per_term:
        n = len(per_term)
        need = n if n <= 2 else max(2, math.ceil(n * mapping.ranking.min_should_match_ratio))
        matchers.append(
            tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in per_term], minimum_number_should_match=need)
        )
    exact = text.strip().lower()
    if exact and " " not in exact:
        for field, fdef in mapping.fields.items():
            if fdef.type == "keyword" and fdef.exact_boost:
                matchers.append(
                    tantivy.Query.boost_query(
                        tantivy.Query.const_score_query(tantivy.Query.term_query(schema, field, exact), 1.0),
                        fdef.exact_boost,
                    )
                )
    if not matchers:
        return tantivy.Query.empty_query(), terms
    clauses.append((tantivy.Occur.Must, _should(matchers)))
    return tantivy.Query.boolean_query(clauses), terms


def search(backend: EmbeddedBackend, tenant_id: int, request: SearchRequest) -> SearchResult:
    query, terms = build_query(backend, request.text)
    searcher = backend.searcher_for(tenant_id)
    result = searcher.search(query, request.limit, count=True, offset=request.offset)
    term_set = set(terms)
    hits = []
    for score, addr in result.hits:
        doc = StoredTicket.from_json(bytes(searcher.doc(addr).to_dict()["stored"][0]))
        hits.append(_hit(backend, doc, float(score), term_set))
    return SearchResult(total=int(result.count or 0), hits=hits, query_tokens=terms)


def _hit(backend: EmbeddedBackend, doc: StoredTicket, score: float, terms: set[str]) -> SearchHit:
    fields = doc.fields
    size = backend.mapping.ranking.highlight_fragment_chars
    highlights: list[Highlight] = []
    for field in ("subject", "body"):
        text = fields.get(field)
        if isinstance(text, str):
            frag = _fragment(backend, text, terms, size)
            if frag is not None:
                highlights.append(Highlight(field=field, fragment=frag))
    comments = doc.live_children("comments")
    for key, row in comments:
        frag = _fragment(backend, str(row.get("text", "")), terms, size)
        if frag is not None:
            highlights.append(Highlight(field="comments", fragment=frag, comment_key=key))
    tags = sorted(str(r.get("value")) for _, r in doc.live_children("tags"))
    return SearchHit(ticket_id=doc.ticket_id, score=score, fields=fields, tags=tags,
                     comment_count=len(comments), highlights=highlights)


def _fragment(backend: EmbeddedBackend, text: str, terms: set[str], size: int) -> str | None:
    spans = [(t.start, t.end) for t in backend.analyzer.analyze_index(text) if term_text(t.text) in terms]
    if not spans:
        return None
    return make_snippet(text, spans, max_chars=size)
