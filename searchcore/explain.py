"""Why a ticket scored: the query's matched terms per field, the weights applied and Tantivy's score tree.

Input: backend, tenant id (required), ticket id, the parsed query tree, the tenant's synonym set.
Output: a JSON-ready dict: matched (bool), score, per-field matched terms with the field boost, the ranking
settings in force, and the Tantivy explanation tree (score parts: idf, tf, field norm, boosts).
Guarantee: read-only; reads only the given tenant's index; a ticket that does not exist is reported as None.
"""

from __future__ import annotations

import json
from typing import Any

import tantivy

from analyzers.synonyms import EMPTY, SynonymSet
from searchcore.documents import StoredTicket
from searchcore.embedded import EmbeddedBackend
from searchcore.embedded_search import match_spans
from searchcore.query import Node
from searchcore.tantivy_query import compile_query

Q = tantivy.Query


def explain(backend: EmbeddedBackend, tenant_id: int, ticket_id: int, node: Node,
            synonyms: SynonymSet = EMPTY) -> dict[str, Any] | None:
    searcher = backend.searcher_for(tenant_id)
    found = searcher.search(Q.term_query(backend.schema, "ticket_id", ticket_id), 1).hits
    if not found:
        return None
    addr = found[0][1]
    doc = StoredTicket.from_json(bytes(searcher.doc(addr).to_dict()["stored"][0]))
    if not doc.visible:
        return None
    compiled = compile_query(backend, node, synonyms)
    scoped = Q.boolean_query([(tantivy.Occur.Must, compiled.query),
                              (tantivy.Occur.Must, Q.term_query(backend.schema, "ticket_id", ticket_id))])
    hit = searcher.search(scoped, 1).hits
    tree: Any = None
    if hit:
        try:
            tree = json.loads(compiled.query.explain(searcher, addr).to_json())
        except ValueError:
            tree = None
    boosts = dict(backend.mapping.text_fields())
    fields: list[dict[str, Any]] = []
    texts: list[tuple[str, str | None, str]] = []
    for name in ("subject", "body"):
        value = doc.fields.get(name)
        if isinstance(value, str):
            texts.append((name, None, value))
    texts.extend(("comments", key, str(row.get("text", ""))) for key, row in doc.live_children("comments"))
    for name, key, text in texts:
        spans = match_spans(backend, text, compiled.matchers)
        if spans:
            entry: dict[str, Any] = {"field": name, "boost": boosts.get(name, 1.0),
                                     "matched": sorted({text[a:b] for a, b in spans})}
            if key is not None:
                entry["comment"] = key
            fields.append(entry)
    ranking = backend.mapping.ranking.model_dump()
    exact = {n: f.exact_boost for n, f in backend.mapping.fields.items() if f.exact_boost}
    return {"ticket_id": ticket_id, "matched": bool(hit), "score": float(hit[0][0]) if hit else 0.0,
            "query_terms": compiled.terms, "fields": fields, "field_boosts": boosts, "exact_boosts": exact,
            "ranking": ranking, "synonyms_version": synonyms.version, "explanation": tree}
