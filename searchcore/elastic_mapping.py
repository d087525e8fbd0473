"""Elasticsearch index layout: names, index-creation bodies and document sources, as pure functions.

Input: an IndexMapping (mappings/definitions), tenant ids and generations, StoredTickets and an Analyzer.
Output: index and alias names, the `PUT /<index>` body, the `_source` of a ticket document, the alias actions.
Guarantee: the same pre-tokenized terms as the embedded backend (analysis happens in Python; the index only
splits on whitespace and lowercases); a deleted ticket is a versioned tombstone document (`visible: false`),
never a bare delete, so a replayed older insert is rejected by external versioning and cannot resurrect it;
every alias of a shared index carries the tenant filter and the tenant routing.

Index per tenant generation: `<prefix>-tickets-v<mapping>-t<tenant>-g<gen>` behind the alias
`<prefix>-tickets-t<tenant>`. Shared mode: `<prefix>-tickets-v<mapping>-<group>-g<gen>` holds several tenants;
each tenant's alias is filtered (`term tenant_id`) and routed (routing = tenant id).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from analyzers import Analyzer
from mappings import IndexMapping
from searchcore.documents import StoredTicket
from searchcore.tantivy_schema import index_values, term_text

SUB = "_sub"                  # search-mode sub-words of a text field (recall), like the embedded `__sub`
CJK = "cjk"                   # multi-field name of the CJK-bigram sub-field (mapping option)
PRETOKENIZED = "ts_pretokenized"
CJK_BIGRAM = "ts_cjk_bigram"
LOWERCASE = "ts_lowercase"
META_ID_PREFIX = "__meta__:"

_INDEX_NAME = re.compile(r"^(?P<prefix>.+)-tickets-v(?P<mv>\d+)-(?P<scope>t\d+|[a-z][a-z0-9_]*)-g(?P<gen>\d+)$")


class ElasticLayoutError(ValueError):
    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class IndexName:
    """A parsed concrete index name."""

    prefix: str
    mapping_version: int
    scope: str          # "t<tenant>" (dedicated) or the shared group's name
    generation: int

    @property
    def name(self) -> str:
        return f"{self.prefix}-tickets-v{self.mapping_version}-{self.scope}-g{self.generation}"

    @property
    def shared(self) -> bool:
        return not (self.scope.startswith("t") and self.scope[1:].isdigit())

    @classmethod
    def parse(cls, name: str) -> IndexName:
        match = _INDEX_NAME.match(name)
        if match is None:
            raise ElasticLayoutError("not a ticket index name", name=name)
        return cls(match["prefix"], int(match["mv"]), match["scope"], int(match["gen"]))


def alias_name(prefix: str, tenant_id: int) -> str:
    return f"{prefix}-tickets-t{tenant_id}"


def alias_pattern(prefix: str) -> str:
    return f"{prefix}-tickets-t*"


def tenant_of_alias(prefix: str, alias: str) -> int | None:
    head = f"{prefix}-tickets-t"
    rest = alias[len(head):] if alias.startswith(head) else ""
    return int(rest) if rest.isdigit() else None


def dedicated_index(prefix: str, mapping_version: int, tenant_id: int, generation: int) -> IndexName:
    return IndexName(prefix, mapping_version, f"t{tenant_id}", generation)


def shared_index(prefix: str, mapping_version: int, group: str, generation: int) -> IndexName:
    return IndexName(prefix, mapping_version, group, generation)


def meta_id(tenant_id: int) -> str:
    return f"{META_ID_PREFIX}{tenant_id}"


def tenant_routing(tenant_id: int) -> str:
    return str(tenant_id)


# ---- index creation --------------------------------------------------------------------------------
def index_body(mapping: IndexMapping, analyzer_identity: str) -> dict[str, Any]:
    """The body of `PUT /<index>`: settings (analysis, gc_deletes) and strict mappings."""
    es = mapping.elasticsearch
    analyzers: dict[str, Any] = {
        PRETOKENIZED: {"type": "custom", "tokenizer": "whitespace", "filter": ["lowercase"]},
    }
    if es.cjk_bigram:
        analyzers[CJK_BIGRAM] = {"type": "custom", "tokenizer": "standard",
                                 "filter": ["cjk_width", "lowercase", "cjk_bigram"]}
    properties: dict[str, Any] = {
        "tenant_id": {"type": "long"},
        "ticket_id": {"type": "long"},
        "visible": {"type": "boolean"},
        "version": {"type": "long"},
        "comment_count": {"type": "integer"},
        "stored": {"type": "object", "enabled": False},
        "meta": {"type": "object", "enabled": False},
    }
    for name, fdef in mapping.fields.items():
        if fdef.type == "text":
            text: dict[str, Any] = {"type": "text", "analyzer": PRETOKENIZED}
            if es.cjk_bigram:
                text["fields"] = {CJK: {"type": "text", "analyzer": CJK_BIGRAM}}
            properties[name] = text
            properties[name + SUB] = {"type": "text", "analyzer": PRETOKENIZED, "index_options": "freqs"}
        elif fdef.type == "keyword":
            properties[name] = {"type": "keyword", "normalizer": LOWERCASE}
        elif fdef.type in ("enum", "integer"):
            properties[name] = {"type": "long"}
        elif fdef.type == "datetime":
            properties[name] = {"type": "date", "format": "epoch_millis"}
        elif fdef.type == "json":
            properties[name] = {"type": "flattened"}
    return {
        "settings": {
            "index": {
                "number_of_shards": es.number_of_shards,
                "number_of_replicas": es.number_of_replicas,
                "refresh_interval": es.refresh_interval,
                "gc_deletes": es.gc_deletes,
                "max_result_window": es.max_result_window,
            },
            "analysis": {
                "analyzer": analyzers,
                "normalizer": {LOWERCASE: {"type": "custom", "filter": ["lowercase"]}},
            },
        },
        "mappings": {
            "dynamic": "strict",
            "_meta": {"mapping": mapping.name, "mapping_version": mapping.version, "analyzer": analyzer_identity},
            "properties": properties,
        },
    }


# ---- aliases -----------------------------------------------------------------------------------------
def alias_add(index: IndexName, tenant_id: int, prefix: str) -> dict[str, Any]:
    """The `add` action for a tenant's alias; on a shared index it is filtered and routed."""
    action: dict[str, Any] = {"index": index.name, "alias": alias_name(prefix, tenant_id)}
    if index.shared:
        action["filter"] = {"term": {"tenant_id": tenant_id}}
        action["routing"] = tenant_routing(tenant_id)
    return {"add": action}


def alias_swap_actions(prefix: str, tenant_id: int, old: IndexName | None, new: IndexName,
                       *, drop_old: bool) -> list[dict[str, Any]]:
    """One atomic `POST /_aliases` body: the alias leaves `old` and points at `new` in the same step.
    `drop_old` removes the old index in that same step (never for a shared index: other tenants live there)."""
    actions: list[dict[str, Any]] = []
    if old is not None and old.name != new.name:
        actions.append({"remove": {"index": old.name, "alias": alias_name(prefix, tenant_id)}})
    actions.append(alias_add(new, tenant_id, prefix))
    if old is not None and old.name != new.name and drop_old and not old.shared:
        actions.append({"remove_index": {"index": old.name}})
    return actions


# ---- documents ------------------------------------------------------------------------------------------
def stored_object(doc: StoredTicket) -> dict[str, Any]:
    return dict(json.loads(doc.to_json()))


def stored_from_source(source: dict[str, Any]) -> StoredTicket:
    return StoredTicket.from_json(json.dumps(source["stored"], ensure_ascii=False))


def document_source(doc: StoredTicket, mapping: IndexMapping, analyzer: Analyzer) -> dict[str, Any]:
    """The `_source` of a ticket document. A tombstone keeps only its identity, version and stored form."""
    source: dict[str, Any] = {
        "tenant_id": doc.tenant_id,
        "ticket_id": doc.ticket_id,
        "visible": doc.visible,
        "version": doc.version,
        "stored": stored_object(doc),
    }
    if not doc.visible:
        return source
    values = index_values(doc, mapping)
    source["comment_count"] = len(values.texts.get("comments", []))
    for name, texts in values.texts.items():
        plain_values: list[str] = []
        sub_values: list[str] = []
        for text in texts:
            plain, sub = analyzer.index_terms(text)
            plain_values.append(" ".join(term_text(t) for t in plain))
            sub_values.append(" ".join(term_text(t) for t in sub))
        subs = [s for s in sub_values if s]
        if name == "comments":
            source[name] = plain_values
            if subs:
                source[name + SUB] = subs
        elif plain_values:
            source[name] = plain_values[0]
            if subs:
                source[name + SUB] = subs[0]
    for name, kws in values.keywords.items():
        source[name] = kws if name == "tags" else kws[0]
    source.update(values.integers)
    source.update(values.json_values)
    return source


def meta_source(tenant_id: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The tenant's meta document (applied position, analyzer identity, mapping version): never visible."""
    return {"tenant_id": tenant_id, "visible": False, "meta": meta}
