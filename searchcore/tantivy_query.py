"""Translation of the query model (searchcore/query.py) into a Tantivy query for one tenant's index.

Input: the query tree, the backend (schema, mapping with weights, analyzer) and the tenant's synonym set.
Output: `Compiled`: the Tantivy query (visible documents only) and the highlight matchers (term sequences of the
positive scoring nodes).
Guarantee: filters (field terms, comparisons, has:, custom fields) never change scores (const-score 0); all
weights come from the mapping (field `boost`, `exact_boost`, `ranking.*`); a scoring node whose text analyzes to
no term matches nothing; a tree made only of negations matches everything except them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import tantivy

from analyzers.synonyms import EMPTY, Slot, SynonymSet, expand
from analyzers.types import SOURCE_SUBWORD
from searchcore.embedded import EmbeddedBackend
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
from searchcore.tantivy_schema import SUB, term_text

Q = tantivy.Query
Occur = tantivy.Occur
MAX_PROXIMITY_TERMS = 8
SHINGLE_TERMS = 4
T = TypeVar("T")


def proximity_windows(seq: list[T]) -> list[list[T]]:
    """Term sequences that earn the phrase-proximity bonus. A short query: itself, and without its first and last
    terms (a fragment pasted from a ticket often cuts its edge words differently from the ticket's own text).
    A longer one (a pasted sentence): overlapping shingles of SHINGLE_TERMS terms."""
    if len(seq) > MAX_PROXIMITY_TERMS:
        return [seq[i:i + SHINGLE_TERMS] for i in range(0, len(seq) - SHINGLE_TERMS + 1, 2)]
    if len(seq) >= 5:
        return [seq, seq[1:-1]]
    return [seq]


@dataclass
class Compiled:
    query: tantivy.Query
    matchers: list[tuple[str, ...]] = field(default_factory=list)   # term sequences to highlight
    terms: list[str] = field(default_factory=list)                   # every positive query term (display)


class Translator:
    def __init__(self, backend: EmbeddedBackend, synonyms: SynonymSet = EMPTY) -> None:
        self.b = backend
        self.schema = backend.schema
        self.mapping = backend.mapping
        self.ranking = backend.mapping.ranking
        self.synonyms = synonyms
        self.matchers: list[tuple[str, ...]] = []
        self.terms: list[str] = []

    # ---- entry ---------------------------------------------------------------------------------
    def compile(self, node: Node) -> Compiled:
        inner = self.node(node, positive=True)
        query = Q.boolean_query([(Occur.Must, self.b._visible_filter()), (Occur.Must, inner)])
        return Compiled(query, self.matchers, self.terms)

    def node(self, node: Node, positive: bool) -> tantivy.Query:
        if isinstance(node, Text):
            return self.text(node.text, positive)
        if isinstance(node, Phrase):
            return self.phrase(node.text, positive)
        if isinstance(node, Exact):
            return self.exact(node, positive)
        if isinstance(node, FieldTerm):
            return self.field_term(node)
        if isinstance(node, CustomField):
            return self.custom(node)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Has):
            return _filter(Q.range_query(self.schema, "comment_count", tantivy.FieldType.Integer, 1, None))
        if isinstance(node, MatchAll):
            return _filter(Q.all_query())
        if isinstance(node, Not):
            return Q.boolean_query([(Occur.Must, _filter(Q.all_query())),
                                    (Occur.MustNot, self.node(node.child, not positive))])
        if isinstance(node, And):
            clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
            for child in node.children:
                if isinstance(child, Not):
                    clauses.append((Occur.MustNot, self.node(child.child, not positive)))
                else:
                    clauses.append((Occur.Must, self.node(child, positive)))
            if all(o == Occur.MustNot for o, _ in clauses):
                clauses.append((Occur.Must, _filter(Q.all_query())))
            return Q.boolean_query(clauses)
        if isinstance(node, Or):
            return Q.boolean_query([(Occur.Should, self.node(c, positive)) for c in node.children])
        raise TypeError(f"unknown query node {node!r}")

    # ---- scoring nodes -------------------------------------------------------------------------
    def analyze(self, text: str) -> list[str]:
        return [term_text(t.text) for t in self.b.analyzer.analyze_query(text)]

    def slots(self, text: str) -> list[Slot]:
        terms = [t.text for t in self.b.analyzer.analyze_query(text)]
        out = []
        for s in expand(self.b.analyzer, terms, self.synonyms):
            slot = Slot(tuple(map(term_text, s.terms)), tuple(tuple(map(term_text, a)) for a in s.alternatives))
            if slot not in out:
                out.append(slot)
        return out

    def text(self, text: str, positive: bool) -> tantivy.Query:
        slots = self.slots(text)
        if not slots:
            return Q.empty_query()
        if positive:
            for s in slots:
                self.matchers.extend(s.options)
                self.terms.extend(t for t in s.terms if t not in self.terms)
        per_slot = [self.slot_query(s) for s in slots]
        n = len(per_slot)
        need = self.ranking.required_matches(n)
        core = per_slot[0] if n == 1 else Q.boolean_query([(Occur.Should, q) for q in per_slot],
                                                             minimum_number_should_match=need)
        bonus: list[tantivy.Query] = []
        seq: list[str | tuple[int, str]] = [t for s in slots for t in s.terms]
        if self.ranking.phrase_boost > 0 and len(seq) >= 2:
            for window in proximity_windows(seq):
                bonus += [Q.boost_query(Q.phrase_query(self.schema, f, window, slop=self.ranking.phrase_slop),
                                        boost * self.ranking.phrase_boost)
                          for f, boost in self.mapping.text_fields()]
        qsub = self.ranking.query_subword_weight
        if qsub > 0:
            plain = set(seq)
            subs = {term_text(t.text) for t in self.b.analyzer.analyze_index(text) if t.source == SOURCE_SUBWORD}
            for term in sorted(subs - plain):
                for f, boost in self.mapping.text_fields():
                    bonus.append(Q.boost_query(Q.term_query(self.schema, f, term), boost * qsub))
                    bonus.append(Q.boost_query(Q.term_query(self.schema, f + SUB, term), boost * qsub))
        if not bonus:
            return core
        return Q.boolean_query([(Occur.Must, core), *((Occur.Should, b) for b in bonus)])

    def slot_query(self, slot: Slot) -> tantivy.Query:
        alts = [self.sequence_query(opt) for opt in slot.options]
        return alts[0] if len(alts) == 1 else Q.boolean_query([(Occur.Should, a) for a in alts])

    def sequence_query(self, seq: tuple[str, ...]) -> tantivy.Query:
        sub_w = self.ranking.subword_weight
        parts: list[tantivy.Query] = []
        for f, boost in self.mapping.text_fields():
            if len(seq) == 1:
                parts.append(Q.boost_query(Q.term_query(self.schema, f, seq[0]), boost))
                if sub_w > 0:
                    parts.append(Q.boost_query(Q.term_query(self.schema, f + SUB, seq[0]), boost * sub_w))
            else:
                parts.append(Q.boost_query(Q.phrase_query(self.schema, f, list[str | tuple[int, str]](seq)), boost))
        return Q.boolean_query([(Occur.Should, p) for p in parts])

    def phrase(self, text: str, positive: bool) -> tantivy.Query:
        seq = tuple(self.analyze(text))
        if not seq:
            return Q.empty_query()
        if positive:
            self.matchers.append(seq)
            self.terms.extend(t for t in seq if t not in self.terms)
        return self.sequence_query(seq)

    def exact(self, node: Exact, positive: bool) -> tantivy.Query:
        value = node.keyword
        parts: list[tantivy.Query] = []
        for name, fdef in self.mapping.fields.items():
            if fdef.type == "keyword" and fdef.exact_boost:
                parts.append(Q.boost_query(Q.const_score_query(Q.term_query(self.schema, name, value), 1.0),
                                           fdef.exact_boost))
        people_boost = max((f.exact_boost or 0.0 for f in self.mapping.fields.values()), default=0.0)
        if node.requester_ids and people_boost > 0:
            people = Q.term_set_query(self.schema, "requester_id", list(node.requester_ids))
            parts.append(Q.boost_query(Q.const_score_query(people, 1.0), people_boost))
        if node.ticket_id is not None and people_boost > 0:
            by_id = Q.term_query(self.schema, "ticket_id", node.ticket_id)
            parts.append(Q.boost_query(Q.const_score_query(by_id, 1.0), people_boost))
        parts.append(self.text(node.value, positive))
        return Q.boolean_query([(Occur.Should, p) for p in parts])

    # ---- filters -------------------------------------------------------------------------------
    def field_term(self, node: FieldTerm) -> tantivy.Query:
        fdef = self.mapping.fields.get(node.field)
        if fdef is None:
            return Q.empty_query()
        if node.value is None:
            if fdef.type in ("enum", "integer", "datetime") or (fdef.type == "keyword"):
                return Q.boolean_query([(Occur.Must, _filter(Q.all_query())),
                                        (Occur.MustNot, Q.exists_query(node.field))])
            return Q.empty_query()
        if fdef.type == "enum":
            rank = self.mapping.enum_rank(node.field, str(node.value))
            return Q.empty_query() if rank is None else _filter(Q.term_query(self.schema, node.field, rank))
        if fdef.type == "integer":
            if isinstance(node.value, int):
                return _filter(Q.term_query(self.schema, node.field, node.value))
            return Q.empty_query()   # an unresolved person reference matches nothing
        if fdef.type == "keyword":
            return _filter(Q.term_query(self.schema, node.field, str(node.value).lower()))
        return Q.empty_query()

    def custom(self, node: CustomField) -> tantivy.Query:
        path = f"custom_fields.{node.key}"
        opts = [Q.term_query(self.schema, path, node.value)]
        if node.value.lstrip("-").isdigit() and -(2**63) <= int(node.value) < 2**63:  # JSON numbers are i64/u64
            opts.append(Q.term_query(self.schema, path, int(node.value)))
        if node.value in ("true", "false"):
            opts.append(Q.term_query(self.schema, path, node.value == "true"))
        return _filter(Q.boolean_query([(Occur.Should, o) for o in opts]))

    def compare(self, node: Compare) -> tantivy.Query:
        fdef = self.mapping.fields.get(node.field)
        if fdef is None:
            return Q.empty_query()
        value: int | None
        if fdef.type == "enum":
            value = self.mapping.enum_rank(node.field, str(node.value))
        else:
            value = int(node.value) if isinstance(node.value, int) or str(node.value).lstrip("-").isdigit() else None
        if value is None:
            return Q.empty_query()
        ft = tantivy.FieldType.Integer
        if node.op in (">", ">="):
            q = Q.range_query(self.schema, node.field, ft, value, None, include_lower=node.op == ">=")
        else:
            q = Q.range_query(self.schema, node.field, ft, None, value, include_upper=node.op == "<=")
        return _filter(q)


def _filter(q: tantivy.Query) -> tantivy.Query:
    return Q.const_score_query(q, 0.0)


def compile_query(backend: EmbeddedBackend, node: Node, synonyms: SynonymSet = EMPTY) -> Compiled:
    return Translator(backend, synonyms).compile(node)
