"""Pure transform: row changes -> changes of ticket documents -> merged StoredTicket documents.

Input: normalized RowChanges and the SourceMapping. Output: DocChanges (which document, which part,
what value at which version) and merged StoredTickets.
Guarantee: every row that feeds a ticket document is routed to that document by (tenant, ticket id),
whatever its table; an update that moves a row to another ticket (or changes a ticket's id) removes it
from the old document and adds it to the new one; merging is last-writer-wins per part by version, so
applying the same changes again, or older ones later, changes nothing. A mapped optional column missing
from a row (dropped by ALTER TABLE; names come from the event's own metadata) leaves its field out of
that write; a missing required column (subject, body) is a poison change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from searchcore.documents import Part, StoredTicket, merge_part
from syncer.events import Op, Row, RowChange
from syncer.source_mapping import REQUIRED_DOCUMENT_FIELDS, ChildMapping, SourceMapping

TICKET_SLOT = "__ticket__"
LookupResolver = Callable[[str, int, Any], Any]  # (lookup table, tenant id, key) -> value


class PoisonChange(ValueError):
    """A row change that cannot become part of a document (goes to the dead-letter store)."""

    def __init__(self, reason: str, *, table: str, tenant_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.table = table
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class DocChange:
    tenant_id: int
    ticket_id: int
    child: str          # TICKET_SLOT for the ticket row itself, else the child's index field
    key: str            # the child row's key ("" for the ticket row)
    part: Part


def _int(row: Row, column: str, table: str) -> int:
    if column not in row:
        raise PoisonChange(f"column {column!r} missing from {table} row (columns: {sorted(row)})", table=table)
    value = row[column]
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        raise PoisonChange(f"column {column!r} of {table} is {value!r}, not an id", table=table)
    try:
        number = int(value)
    except ValueError as exc:
        raise PoisonChange(f"column {column!r} of {table} is {value!r}, not an id", table=table) from exc
    if not -(2**63) <= number < 2**63:
        raise PoisonChange(f"column {column!r} of {table} is {number}, outside the index's signed 64-bit range",
                           table=table)
    return number


def ticket_part_row(mapping: SourceMapping, row: Row) -> Row:
    table = mapping.document.table
    out: Row = {}
    for field, column in mapping.document.fields:
        if column not in row:
            if field in REQUIRED_DOCUMENT_FIELDS:
                raise PoisonChange(f"column {column!r} (for field {field!r}) missing from {table} row", table=table)
            continue   # the column was dropped (names come from the event): the field is no longer indexed
        value = row[column]
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise PoisonChange(f"column {column!r} of {table} is {value}, outside the index's signed 64-bit range",
                               table=table)
        out[field] = value
    return out


def child_part_row(child: ChildMapping, row: Row, tenant_id: int, resolve: LookupResolver) -> Row:
    out: Row = {c: row.get(c) for c in child.columns}
    if child.text_column is not None:
        value = row.get(child.text_column)
        out["text"] = "" if value is None else str(value)
    if child.lookup is not None:
        key = row.get(child.lookup.local_column)
        value = resolve(child.lookup.table, tenant_id, key)
        if value is None:
            raise PoisonChange(
                f"{child.lookup.table} row {key!r} of tenant {tenant_id} not found for {child.table}",
                table=child.table, tenant_id=tenant_id,
            )
        out["value"] = value
    return out


def route(change: RowChange, mapping: SourceMapping, resolve: LookupResolver) -> list[DocChange]:
    """The document changes one row change makes (empty for tables that feed no document)."""
    doc = mapping.document
    if change.table == doc.table:
        return _route_rows(change, doc.tenant_column, doc.id_column, TICKET_SLOT,
                           key_of=lambda row: "", row_of=lambda row, tenant: ticket_part_row(mapping, row))
    child = mapping.child_for_table(change.table)
    if child is None:
        return []
    return _route_rows(change, child.tenant_column, child.parent_column, child.index_field,
                       key_of=child.row_key,
                       row_of=lambda row, tenant: child_part_row(child, row, tenant, resolve))


def _route_rows(change: RowChange, tenant_col: str, ticket_col: str, slot: str, *,
                key_of: Callable[[Row], str], row_of: Callable[[Row, int], Row]) -> list[DocChange]:
    out: list[DocChange] = []
    table, v = change.table, change.version
    if change.before is not None and change.op in (Op.UPDATE, Op.DELETE):
        old = _identity(change.before, tenant_col, ticket_col, key_of, table)
        new = None if change.after is None else _identity(change.after, tenant_col, ticket_col, key_of, table)
        if new != old:
            out.append(DocChange(old[0], old[1], slot, old[2], Part(v, None)))
    if change.after is not None and change.op in (Op.INSERT, Op.UPDATE, Op.SNAPSHOT):
        tenant = _int(change.after, tenant_col, table)
        ticket = _int(change.after, ticket_col, table)
        part = Part(v, row_of(change.after, tenant))
        out.append(DocChange(tenant, ticket, slot, _key(key_of, change.after, table), part))
    return out


def _identity(row: Row, tenant_col: str, ticket_col: str, key_of: Callable[[Row], str],
              table: str) -> tuple[int, int, str]:
    return _int(row, tenant_col, table), _int(row, ticket_col, table), _key(key_of, row, table)


def _key(key_of: Callable[[Row], str], row: Row, table: str) -> str:
    try:
        return key_of(row)
    except KeyError as exc:
        raise PoisonChange(f"key column {exc.args[0]!r} missing from {table} row", table=table) from exc


def merge(stored: StoredTicket | None, changes: Iterable[DocChange], tenant_id: int, ticket_id: int) -> StoredTicket:
    doc = stored if stored is not None else StoredTicket(tenant_id, ticket_id)
    for ch in changes:
        if ch.child == TICKET_SLOT:
            merged = merge_part(doc.ticket, ch.part)
            if merged is not None:
                doc = doc.with_ticket(merged)
        else:
            merged = merge_part(doc.children.get(ch.child, {}).get(ch.key), ch.part)
            if merged is not None:
                doc = doc.with_child(ch.child, ch.key, merged)
    return doc
