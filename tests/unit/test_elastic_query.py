"""The query model (searchcore/query.py) as Elasticsearch DSL: tree, sort, cursor, facets."""

from __future__ import annotations

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore.elastic_search import plan_from_request, search_body
from searchcore.query import And, Compare, Cursor, FieldTerm, Has, Not, Sort, Text
from searchcore.query import SearchRequest as QueryRequest

MAPPING = load_mapping("tickets", 1)
ANALYZER = Analyzer(AnalyzerConfig())


def test_request_with_tree_sort_cursor_and_facets() -> None:
    tree = And((Text("printer"), FieldTerm("status", "Open"), Compare("priority", ">=", "high"),
                Compare("created_at", ">", 1704067200000), Has("comments"), Not(FieldTerm("channel", "email"))))
    request = QueryRequest(query=tree, limit=5, sort=Sort("updated", "desc"), after=Cursor(1704153600000, 42),
                           facets=("status", "tags"))
    body, terms = search_body(7, plan_from_request(request), MAPPING, ANALYZER)
    assert terms == ["printer"]
    outer = body["query"]["bool"]
    assert outer["filter"] == [{"term": {"tenant_id": 7}}, {"term": {"visible": True}}]
    inner = outer["must"][0]["bool"]
    assert inner["filter"] == [{"term": {"status": "open"}}, {"range": {"priority": {"gte": 3}}},
                               {"range": {"created_at": {"gt": 1704067200000}}},
                               {"range": {"comment_count": {"gte": 1}}}]
    assert inner["must_not"] == [{"term": {"channel": "email"}}]
    assert inner["must"][0]["bool"]["minimum_should_match"] == 1
    assert body["sort"] == [{"updated_at": {"order": "desc"}}, {"ticket_id": {"order": "asc"}}]
    assert body["search_after"] == [1704153600000, 42] and "from" not in body
    assert body["aggs"] == {"facet_status": {"terms": {"field": "status", "size": 10}},
                            "facet_tags": {"terms": {"field": "tags", "size": 10}}}


def test_relevance_sort_and_negation_only_query() -> None:
    body, terms = search_body(7, plan_from_request(QueryRequest(query=Not(Text("退款")))), MAPPING, ANALYZER)
    assert body["sort"] == [{"_score": {"order": "desc"}}, {"ticket_id": {"order": "asc"}}]
    clause = body["query"]["bool"]["must"][0]["bool"]
    assert clause["must"] == [{"match_all": {}}] and "must_not" in clause
    assert terms == []          # negated words are never highlighted
