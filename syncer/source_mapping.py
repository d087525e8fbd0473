"""Source mapping: which source tables and columns make up one ticket document.

Input: a TOML file (default: syncer/sources/helpdesk.toml). Output: a frozen, validated SourceMapping.
Guarantee: an invalid file is refused with the file, the key and the problem; nothing is guessed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCUMENT_FIELDS = frozenset(
    {
        "ticket_number", "subject", "body", "status", "priority", "category", "channel", "requester_id",
        "assignee_id", "order_number", "custom_fields", "created_at", "updated_at",
    }
)
REQUIRED_DOCUMENT_FIELDS = frozenset({"subject", "body"})


class SourceMappingError(ValueError):
    def __init__(self, message: str, *, path: str, key: str) -> None:
        super().__init__(f"{path}: [{key}] {message}")
        self.path = path
        self.key = key


@dataclass(frozen=True)
class Lookup:
    table: str
    tenant_column: str
    key_column: str
    value_column: str
    local_column: str


@dataclass(frozen=True)
class ChildMapping:
    name: str
    table: str
    tenant_column: str
    parent_column: str
    key_columns: tuple[str, ...]
    index_field: str
    columns: tuple[str, ...]
    text_column: str | None = None
    lookup: Lookup | None = None

    def row_key(self, row: dict[str, Any]) -> str:
        return "/".join(str(row[c]) for c in self.key_columns)


@dataclass(frozen=True)
class DocumentMapping:
    table: str
    tenant_column: str
    id_column: str
    fields: tuple[tuple[str, str], ...]  # (index field, source column)
    json_columns: frozenset[str]

    def column_of(self, field: str) -> str | None:
        return dict(self.fields).get(field)


@dataclass(frozen=True)
class SourceMapping:
    document: DocumentMapping
    children: tuple[ChildMapping, ...]
    origin: str

    def tables(self) -> frozenset[str]:
        names = {self.document.table}
        for child in self.children:
            names.add(child.table)
            if child.lookup is not None:
                names.add(child.lookup.table)
        return frozenset(names)

    def child_for_table(self, table: str) -> ChildMapping | None:
        for child in self.children:
            if child.table == table:
                return child
        return None

    def lookup_children(self, table: str) -> tuple[ChildMapping, ...]:
        return tuple(c for c in self.children if c.lookup is not None and c.lookup.table == table)


def _require(section: dict[str, Any], key: str, path: str, where: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value:
        raise SourceMappingError(f"missing or empty string '{key}'", path=path, key=where)
    return value


def parse_source_mapping(data: dict[str, Any], origin: str) -> SourceMapping:
    doc = data.get("document")
    if not isinstance(doc, dict):
        raise SourceMappingError("missing [document] table", path=origin, key="document")
    fields = doc.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise SourceMappingError("missing [document.fields]", path=origin, key="document.fields")
    unknown = set(fields) - DOCUMENT_FIELDS
    if unknown:
        raise SourceMappingError(
            f"unknown index fields {sorted(unknown)}; known: {sorted(DOCUMENT_FIELDS)}",
            path=origin, key="document.fields",
        )
    missing = REQUIRED_DOCUMENT_FIELDS - set(fields)
    if missing:
        raise SourceMappingError(f"required index fields missing: {sorted(missing)}", path=origin,
                                 key="document.fields")
    document = DocumentMapping(
        table=_require(doc, "table", origin, "document"),
        tenant_column=_require(doc, "tenant_column", origin, "document"),
        id_column=_require(doc, "id_column", origin, "document"),
        fields=tuple((str(k), str(v)) for k, v in fields.items()),
        json_columns=frozenset(doc.get("json_columns", [])),
    )
    children = []
    for i, child in enumerate(data.get("children", [])):
        where = f"children[{i}]"
        lookup = None
        if "lookup" in child:
            lk = child["lookup"]
            lookup = Lookup(
                table=_require(lk, "table", origin, where + ".lookup"),
                tenant_column=_require(lk, "tenant_column", origin, where + ".lookup"),
                key_column=_require(lk, "key_column", origin, where + ".lookup"),
                value_column=_require(lk, "value_column", origin, where + ".lookup"),
                local_column=_require(lk, "local_column", origin, where + ".lookup"),
            )
        key_columns = tuple(child.get("key_columns", []))
        if not key_columns:
            raise SourceMappingError("key_columns must list the child's key columns", path=origin, key=where)
        text_column = child.get("text_column")
        if text_column is None and lookup is None:
            raise SourceMappingError("a child needs a text_column or a lookup", path=origin, key=where)
        children.append(
            ChildMapping(
                name=_require(child, "name", origin, where),
                table=_require(child, "table", origin, where),
                tenant_column=_require(child, "tenant_column", origin, where),
                parent_column=_require(child, "parent_column", origin, where),
                key_columns=key_columns,
                index_field=_require(child, "index_field", origin, where),
                columns=tuple(child.get("columns", [])),
                text_column=text_column,
                lookup=lookup,
            )
        )
    return SourceMapping(document=document, children=tuple(children), origin=origin)


def load_source_mapping(path: Path | None = None) -> SourceMapping:
    if path is None:
        text = (Path(__file__).parent / "sources" / "helpdesk.toml").read_text(encoding="utf-8")
        origin = "syncer/sources/helpdesk.toml"
    else:
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceMappingError(str(exc), path=origin, key="<toml>") from exc
    return parse_source_mapping(data, origin)
