"""Translation of the backend-neutral query model (searchcore/query.py) into Elasticsearch query DSL.

Input: a query `Node` tree, the IndexMapping and the query Analyzer of the tenant's index generation.
Output: a query DSL clause (dict) and the analyzed terms of the positive scoring nodes (for highlights).
Guarantee: the semantics documented in searchcore/query.py: Text = per-term alternatives over every text field
and its sub-word field with the field boosts, minimum-should-match as the embedded backend; filters (FieldTerm,
CustomField, Compare, Has) sit in `bool.filter` and never score; `Not` alone matches everything except its child.
Not yet: query-time synonyms and the phrase-proximity bonus (see docs/elasticsearch.md).
"""

from __future__ import annotations

from typing import Any

from analyzers import Analyzer
from mappings import IndexMapping
from searchcore.elastic_mapping import CJK, SUB
from searchcore.query import (
    And,
    Compare,
    CustomField,
    Exact,
    FieldTerm,
    Has,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Text,
)
from searchcore.tantivy_schema import term_text

SUBWORD_WEIGHT = 0.5
CJK_WEIGHT = 0.3
_RANGE = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


class QueryTranslationError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}")
        self.field = field


def analyze(analyzer: Analyzer, text: str) -> list[str]:
    terms: list[str] = []
    for tok in analyzer.analyze_query(text):
        t = term_text(tok.text).lower()   # the index's lowercase filter is Unicode-wide; the analyzer's is ASCII
        if t not in terms:
            terms.append(t)
    return terms


class Translator:
    def __init__(self, mapping: IndexMapping, analyzer: Analyzer) -> None:
        self.mapping = mapping
        self.analyzer = analyzer
        self.terms: list[str] = []

    def translate(self, node: Node) -> dict[str, Any]:
        if isinstance(node, Text):
            return self.text(node.text)
        if isinstance(node, Phrase):
            return self.phrase(node.text)
        if isinstance(node, Exact):
            return self.exact(node)
        if isinstance(node, FieldTerm):
            return self.field_term(node)
        if isinstance(node, CustomField):
            return {"term": {f"custom_fields.{node.key}": node.value}}
        if isinstance(node, Compare):
            return {"range": {node.field: {_RANGE[node.op]: self.value(node.field, node.value)}}}
        if isinstance(node, Has):
            return {"range": {"comment_count": {"gte": 1}}}
        if isinstance(node, MatchAll):
            return {"match_all": {}}
        if isinstance(node, Not):
            return {"bool": {"must": [{"match_all": {}}], "must_not": [self.negated(node.child)]}}
        if isinstance(node, Or):
            return {"bool": {"should": [self.translate(c) for c in node.children], "minimum_should_match": 1}}
        if isinstance(node, And):
            scoring: list[dict[str, Any]] = []
            filters: list[dict[str, Any]] = []
            negated: list[dict[str, Any]] = []
            for child in node.children:
                if isinstance(child, Not):
                    negated.append(self.negated(child.child))
                elif isinstance(child, FieldTerm | CustomField | Compare | Has):
                    filters.append(self.translate(child))
                else:
                    scoring.append(self.translate(child))
            out: dict[str, Any] = {}
            if scoring:
                out["must"] = scoring
            if filters:
                out["filter"] = filters
            if negated:
                out["must_not"] = negated
            if not scoring and not filters:
                out["must"] = [{"match_all": {}}]
            return {"bool": out}
        raise QueryTranslationError(f"unsupported query node {type(node).__name__}")

    def negated(self, node: Node) -> dict[str, Any]:
        """Translate under a `Not`: its words are never highlighted."""
        kept = list(self.terms)
        clause = self.translate(node)
        self.terms = kept
        return clause

    def _remember(self, terms: list[str]) -> None:
        self.terms.extend(t for t in terms if t not in self.terms)

    def text(self, text: str) -> dict[str, Any]:
        terms = analyze(self.analyzer, text)
        if not terms:
            return {"match_none": {}}
        self._remember(terms)
        per_term = []
        for term in terms:
            alternatives: list[dict[str, Any]] = []
            for name, boost in self.mapping.text_fields():
                alternatives.append({"term": {name: {"value": term, "boost": boost}}})
                alternatives.append({"term": {name + SUB: {"value": term, "boost": boost * SUBWORD_WEIGHT}}})
                if self.mapping.elasticsearch.cjk_bigram:
                    alternatives.append({"match": {f"{name}.{CJK}": {"query": term, "boost": boost * CJK_WEIGHT}}})
            per_term.append({"bool": {"should": alternatives}})
        n = len(per_term)
        need = self.mapping.ranking.required_matches(n)
        return {"bool": {"should": per_term, "minimum_should_match": need}}

    def phrase(self, text: str) -> dict[str, Any]:
        terms = analyze(self.analyzer, text)
        if not terms:
            return {"match_none": {}}
        self._remember(terms)
        return {"bool": {"should": [{"match_phrase": {name: {"query": " ".join(terms), "boost": boost}}}
                                    for name, boost in self.mapping.text_fields()], "minimum_should_match": 1}}

    def exact(self, node: Exact) -> dict[str, Any]:
        value = node.keyword
        should: list[dict[str, Any]] = []
        best = 1.0
        for name, fdef in self.mapping.fields.items():
            if fdef.type == "keyword" and fdef.exact_boost:
                best = max(best, fdef.exact_boost)
                should.append({"constant_score": {"filter": {"term": {name: value}}, "boost": fdef.exact_boost}})
        if node.requester_ids:
            should.append({"constant_score": {"filter": {"terms": {"requester_id": list(node.requester_ids)}},
                                              "boost": best}})
        if node.ticket_id is not None:
            should.append({"constant_score": {"filter": {"term": {"ticket_id": node.ticket_id}}, "boost": best}})
        should.append(self.text(node.value))
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def field_term(self, node: FieldTerm) -> dict[str, Any]:
        if node.value is None:
            return {"bool": {"must_not": [{"exists": {"field": node.field}}]}}
        return {"term": {node.field: self.value(node.field, node.value)}}

    def value(self, field: str, value: str | int) -> str | int:
        fdef = self.mapping.fields.get(field)
        if fdef is None:
            raise QueryTranslationError("unknown field", field=field)
        if fdef.type == "enum":
            rank = self.mapping.enum_rank(field, str(value))
            if rank is None:
                raise QueryTranslationError(f"{value!r} is not one of {list(fdef.values)}", field=field)
            return rank
        if fdef.type in ("integer", "datetime"):
            return int(value)
        return str(value).lower()
