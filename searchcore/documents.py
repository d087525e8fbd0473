"""The stored form of a ticket document and its searchable view.

A ticket document is assembled from several source rows (the ticket row, its comments, its tag
links). Each row is kept as a *part* with the version of the change that last wrote it, or as a
versioned tombstone when the row was deleted. Merging a change into a part is last-writer-wins by
version, so a replayed or reordered older change never overwrites a newer one (no regression) and a
replayed insert never revives a deleted row (no resurrection). The document's version is the highest
version of its parts, which is what an external-versioning backend (Elasticsearch) is given.

Input: parts. Output: StoredTicket (stored as JSON in the index) and its searchable fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class Part:
    version: int
    row: Row | None  # None: the row was deleted at `version` (tombstone)

    def to_json(self) -> list[Any]:
        return [self.version, self.row]


@dataclass(frozen=True)
class StoredTicket:
    tenant_id: int
    ticket_id: int
    ticket: Part | None = None
    children: Mapping[str, Mapping[str, Part]] = field(default_factory=dict)

    @property
    def doc_key(self) -> str:
        return doc_key(self.tenant_id, self.ticket_id)

    @property
    def version(self) -> int:
        versions = [self.ticket.version] if self.ticket is not None else []
        for parts in self.children.values():
            versions.extend(p.version for p in parts.values())
        return max(versions, default=0)

    @property
    def visible(self) -> bool:
        return self.ticket is not None and self.ticket.row is not None

    @property
    def fields(self) -> Row:
        return dict(self.ticket.row) if self.ticket is not None and self.ticket.row is not None else {}

    def live_children(self, name: str) -> list[tuple[str, Row]]:
        """(key, row) of the child rows that exist, ordered by key (numeric keys numerically)."""
        parts = self.children.get(name, {})
        live = [(k, p.row) for k, p in parts.items() if p.row is not None]
        return sorted(live, key=lambda kv: _key_order(kv[0]))

    def with_ticket(self, part: Part) -> StoredTicket:
        return StoredTicket(self.tenant_id, self.ticket_id, part, self.children)

    def with_child(self, name: str, key: str, part: Part) -> StoredTicket:
        children = {n: dict(p) for n, p in self.children.items()}
        children.setdefault(name, {})[key] = part
        return StoredTicket(self.tenant_id, self.ticket_id, self.ticket, children)

    def without_parts_older_than(self, floor: int) -> StoredTicket:
        """After a (re-)snapshot at version `floor` has rewritten every row the source still has: each live part
        older than `floor` belongs to a row gone from the source, and becomes a tombstone at `floor`. Returns
        `self` when there is none."""
        doc = self
        if doc.ticket is not None and doc.ticket.row is not None and doc.ticket.version < floor:
            doc = doc.with_ticket(Part(floor, None))
        for name, parts in self.children.items():
            for key, part in parts.items():
                if part.row is not None and part.version < floor:
                    doc = doc.with_child(name, key, Part(floor, None))
        return doc

    def to_json(self) -> str:
        return self._json

    @cached_property
    def _json(self) -> str:
        return json.dumps(
            {
                "tenant_id": self.tenant_id,
                "ticket_id": self.ticket_id,
                "ticket": None if self.ticket is None else self.ticket.to_json(),
                "children": {n: {k: p.to_json() for k, p in parts.items()} for n, parts in self.children.items()},
            },
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> StoredTicket:
        data = json.loads(text)
        ticket = data.get("ticket")
        return cls(
            tenant_id=int(data["tenant_id"]),
            ticket_id=int(data["ticket_id"]),
            ticket=None if ticket is None else Part(int(ticket[0]), ticket[1]),
            children={
                n: {k: Part(int(p[0]), p[1]) for k, p in parts.items()}
                for n, parts in data.get("children", {}).items()
            },
        )


def _key_order(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


def doc_key(tenant_id: int, ticket_id: int) -> str:
    """The document id: tenant-qualified, so equal ticket ids of two tenants never collide."""
    return f"{tenant_id}:{ticket_id}"


def merge_part(current: Part | None, incoming: Part) -> Part | None:
    """Last writer wins by version. Returns the new part, or None when `incoming` is stale."""
    if current is not None and current.version >= incoming.version:
        return None
    return incoming
