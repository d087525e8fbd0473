"""Search, count and explain requests for Elasticsearch, and the handling of their responses.

Input: a tenant id (required), a SearchPlan (text + field filters + facets + sort + cursor; built from the
backend's SearchRequest today, see `plan_from_request`), the IndexMapping and the Analyzer of the tenant's
index generation; the decoded response.
Output: request bodies (`_search`, `_count`, `_explain`) and a ElasticSearchResult (hits as StoredTickets
with highlights on the original text, total, facet counts, the next cursor).
Guarantee: every query body filters on the tenant (`term tenant_id`) and on visible documents (tombstones
and meta documents never match); filters sit in `bool.filter` so they do not change BM25; the query terms
are the same Python-analyzed terms the embedded backend uses; every sort ends with the unique `ticket_id`
tiebreaker, so `search_after` cursors are stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from analyzers import Analyzer
from analyzers.highlight import make_snippet
from mappings import IndexMapping
from searchcore.backend import Highlight, SearchHit, SearchRequest, SearchResult
from searchcore.documents import StoredTicket
from searchcore.elastic_mapping import CJK, SUB, stored_from_source
from searchcore.elastic_query import Translator
from searchcore.query import SORT_FIELDS, Cursor, FacetCount, Node
from searchcore.tantivy_schema import term_text
from searchcore.values import datetime_to_ms

SUBWORD_WEIGHT = 0.5
CJK_WEIGHT = 0.3
HIGHLIGHT_FIELDS = ("subject", "body", "comments")
FACET_PREFIX = "facet_"
_EM = re.compile(r"<em>(.*?)</em>")

FilterOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]


class SearchPlanError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class FieldFilter:
    field: str
    op: FilterOp
    value: str | int


@dataclass(frozen=True)
class SortKey:
    field: str            # a mapped field, or "_score"
    descending: bool = True


@dataclass(frozen=True)
class SearchPlan:
    text: str
    filters: tuple[FieldFilter, ...] = ()
    facets: tuple[str, ...] = ()
    facet_size: int = 10
    sort: tuple[SortKey, ...] = ()            # empty: relevance (score desc), then ticket_id
    size: int = 10
    offset: int = 0
    search_after: tuple[Any, ...] | None = None
    highlight: bool = True
    tree: Node | None = None                  # the query model's tree (searchcore/query.py); replaces `text`


@dataclass(frozen=True)
class ElasticSearchResult:
    result: SearchResult
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    next_after: tuple[Any, ...] | None = None


def plan_from_request(request: SearchRequest) -> SearchPlan:
    """The query model's SearchRequest as a plan: tree, sort key (+ ticket_id tiebreaker), cursor, facets."""
    sort_field = SORT_FIELDS.get(request.sort.key)
    sort = (SortKey(sort_field or "_score", request.sort.order == "desc"),)
    after = None if request.after is None else (request.after.value, request.after.ticket_id)
    return SearchPlan(text=request.text, size=request.limit, offset=request.offset, sort=sort, search_after=after,
                      facets=request.facets, highlight=request.highlight, tree=request.tree())


def query_terms(analyzer: Analyzer, text: str) -> list[str]:
    terms: list[str] = []
    for tok in analyzer.analyze_query(text):
        t = term_text(tok.text).lower()   # the index's lowercase filter is Unicode-wide; the analyzer's is ASCII
        if t not in terms:
            terms.append(t)
    return terms


def _filter_value(mapping: IndexMapping, f: FieldFilter) -> str | int:
    fdef = mapping.fields.get(f.field)
    if fdef is None:
        raise SearchPlanError("unknown field", field=f.field)
    if fdef.type == "enum":
        rank = mapping.enum_rank(f.field, str(f.value))
        if rank is None:
            raise SearchPlanError(f"{f.value!r} is not one of {list(fdef.values)}", field=f.field)
        return rank
    if fdef.type == "datetime":
        ms = f.value if isinstance(f.value, int) else datetime_to_ms(str(f.value))
        if ms is None:
            raise SearchPlanError(f"{f.value!r} is not a date", field=f.field)
        return ms
    if fdef.type == "integer":
        return int(f.value)
    if fdef.type == "keyword":
        return str(f.value).lower()
    raise SearchPlanError(f"cannot filter on a {fdef.type} field", field=f.field)


def _filter_clause(mapping: IndexMapping, f: FieldFilter) -> dict[str, Any]:
    value = _filter_value(mapping, f)
    if f.op in ("eq", "ne"):
        return {"term": {f.field: value}}
    return {"range": {f.field: {f.op: value}}}


def query_body(tenant_id: int, plan: SearchPlan, mapping: IndexMapping, analyzer: Analyzer) -> tuple[dict[str, Any],
                                                                                                      list[str]]:
    """The `query` of a search/count/explain request, and the analyzed query terms."""
    filters: list[dict[str, Any]] = [{"term": {"tenant_id": tenant_id}}, {"term": {"visible": True}}]
    if plan.tree is not None:
        translator = Translator(mapping, analyzer)
        clause = translator.translate(plan.tree)
        for f in plan.filters:
            filters.append(_filter_clause(mapping, f))
        return {"bool": {"filter": filters, "must": [clause]}}, translator.terms
    terms = query_terms(analyzer, plan.text)
    must_not: list[dict[str, Any]] = []
    for f in plan.filters:
        (must_not if f.op == "ne" else filters).append(_filter_clause(mapping, f))
    matchers: list[dict[str, Any]] = []
    if terms:
        per_term = []
        for term in terms:
            alternatives: list[dict[str, Any]] = []
            for name, boost in mapping.text_fields():
                alternatives.append({"term": {name: {"value": term, "boost": boost}}})
                alternatives.append({"term": {name + SUB: {"value": term, "boost": boost * SUBWORD_WEIGHT}}})
                if mapping.elasticsearch.cjk_bigram:
                    alternatives.append({"match": {f"{name}.{CJK}": {"query": term, "boost": boost * CJK_WEIGHT}}})
            per_term.append({"bool": {"should": alternatives}})
        n = len(per_term)
        need = mapping.ranking.required_matches(n)
        matchers.append({"bool": {"should": per_term, "minimum_should_match": need}})
    exact = plan.text.strip().lower()
    if exact and " " not in exact:
        for name, fdef in mapping.fields.items():
            if fdef.type == "keyword" and fdef.exact_boost:
                matchers.append({"constant_score": {"filter": {"term": {name: exact}}, "boost": fdef.exact_boost}})
    boolean: dict[str, Any] = {"filter": filters}
    if matchers:
        boolean["must"] = [{"bool": {"should": matchers, "minimum_should_match": 1}}]
    elif plan.text.strip():
        boolean["must"] = [{"match_none": {}}]   # text that analyzes to nothing matches nothing (as embedded)
    if must_not:
        boolean["must_not"] = must_not
    return {"bool": boolean}, terms


def sort_clause(plan: SearchPlan, mapping: IndexMapping) -> list[dict[str, Any]]:
    keys = plan.sort or (SortKey("_score", True),)
    out: list[dict[str, Any]] = []
    for key in keys:
        if key.field != "_score" and (key.field not in mapping.fields or mapping.fields[key.field].type in
                                      ("text", "json")):
            raise SearchPlanError("not a sortable field", field=key.field)
        out.append({key.field: {"order": "desc" if key.descending else "asc"}})
    out.append({"ticket_id": {"order": "asc"}})
    return out


def search_body(tenant_id: int, plan: SearchPlan, mapping: IndexMapping, analyzer: Analyzer) -> tuple[dict[str, Any],
                                                                                                       list[str]]:
    query, terms = query_body(tenant_id, plan, mapping, analyzer)
    body: dict[str, Any] = {"query": query, "size": plan.size, "track_total_hits": True,
                            "_source": ["stored"], "sort": sort_clause(plan, mapping)}
    if plan.search_after is not None:
        body["search_after"] = list(plan.search_after)
    elif plan.offset:
        body["from"] = plan.offset
    if plan.facets:
        aggs: dict[str, Any] = {}
        for name in plan.facets:
            fdef = mapping.fields.get(name)
            if fdef is None or not fdef.facet:
                raise SearchPlanError("not a facet field", field=name)
            aggs[FACET_PREFIX + name] = {"terms": {"field": name, "size": plan.facet_size}}
        body["aggs"] = aggs
    if plan.highlight and terms:
        body["highlight"] = {
            "pre_tags": ["<em>"], "post_tags": ["</em>"], "number_of_fragments": 0, "require_field_match": True,
            "fields": {name: {} for name in HIGHLIGHT_FIELDS if name in mapping.fields},
        }
    return body, terms


def count_body(tenant_id: int, plan: SearchPlan, mapping: IndexMapping, analyzer: Analyzer) -> dict[str, Any]:
    return {"query": query_body(tenant_id, plan, mapping, analyzer)[0]}


# ---- responses ---------------------------------------------------------------------------------------
def parse_search(response: dict[str, Any], plan: SearchPlan, terms: list[str], mapping: IndexMapping,
                 analyzer: Analyzer, tenant_id: int) -> ElasticSearchResult:
    hits_obj = response.get("hits", {})
    total_obj = hits_obj.get("total", 0)
    total = int(total_obj.get("value", 0) if isinstance(total_obj, dict) else total_obj)
    hits: list[SearchHit] = []
    last_sort: list[Any] | None = None
    last_id = 0
    for raw in hits_obj.get("hits", []):
        doc = stored_from_source(raw["_source"])
        if doc.tenant_id != tenant_id:   # defence in depth: the tenant filter makes this impossible
            raise RuntimeError(f"hit {raw.get('_id')} belongs to tenant {doc.tenant_id}, not {tenant_id}")
        matched = _matched_terms(raw.get("highlight", {})) or set(terms)
        score = raw.get("_score")
        last_sort = raw.get("sort")
        sort_value = last_sort[0] if last_sort else None
        hits.append(_hit(doc, 0.0 if score is None else float(score), matched, mapping, analyzer, sort_value))
        last_id = doc.ticket_id
    facets: dict[str, list[tuple[str, int]]] = {}
    for name, agg in response.get("aggregations", {}).items():
        if not name.startswith(FACET_PREFIX):
            continue
        fname = name[len(FACET_PREFIX):]
        buckets = []
        for b in agg.get("buckets", []):
            key = b["key"]
            if mapping.fields[fname].type == "enum":
                key = mapping.enum_value(fname, int(key)) or str(key)
            buckets.append((str(key), int(b["doc_count"])))
        facets[fname] = buckets
    full_page = len(hits) == plan.size and last_sort is not None
    next_after = tuple(last_sort) if full_page and last_sort is not None else None
    cursor = None if next_after is None else Cursor(value=next_after[0], ticket_id=last_id)
    result = SearchResult(total=total, hits=hits, query_tokens=terms, next_cursor=cursor,
                          facets={f: [FacetCount(v, c) for v, c in counts] for f, counts in facets.items()})
    return ElasticSearchResult(result, facets, next_after)


def _matched_terms(highlight: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    for fragments in highlight.values():
        for fragment in fragments:
            found.update(_EM.findall(fragment))
    return found


def _hit(doc: StoredTicket, score: float, terms: set[str], mapping: IndexMapping, analyzer: Analyzer,
         sort_value: Any = None) -> SearchHit:
    fields = doc.fields
    size = mapping.ranking.highlight_fragment_chars
    highlights: list[Highlight] = []
    for name in ("subject", "body"):
        text = fields.get(name)
        if isinstance(text, str):
            frag = _fragment(analyzer, text, terms, size)
            if frag is not None:
                highlights.append(Highlight(field=name, fragment=frag))
    comments = doc.live_children("comments")
    for key, row in comments:
        frag = _fragment(analyzer, str(row.get("text", "")), terms, size)
        if frag is not None:
            highlights.append(Highlight(field="comments", fragment=frag, comment_key=key))
    tags = sorted(str(r.get("value")) for _, r in doc.live_children("tags"))
    return SearchHit(ticket_id=doc.ticket_id, score=score, fields=fields, tags=tags,
                     comment_count=len(comments), highlights=highlights, sort_value=sort_value)


def _fragment(analyzer: Analyzer, text: str, terms: set[str], size: int) -> str | None:
    spans = [(t.start, t.end) for t in analyzer.analyze_index(text) if term_text(t.text).lower() in terms]
    if not spans:
        return None
    return make_snippet(text, spans, max_chars=size)
