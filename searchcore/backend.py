"""The search-backend interface shared by the syncer (writes) and the query API (reads).

Every read takes the tenant as a required argument: there is no call that reads across tenants.
Writes are versioned: a document whose version is lower than the stored one is reported stale and not
written (Elasticsearch's `external_gte` versioning). An equal version overwrites: documents are the
read-modify-write merge of their parts (per-part versions), so an equal version can only add an older
part — a replayed dead letter — and never drops a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from searchcore.documents import StoredTicket
from searchcore.positions import BinlogPosition
from searchcore.query import Cursor, FacetCount, SearchRequest

__all__ = ["Cursor", "FacetCount", "SearchRequest"]  # the request model lives in searchcore/query.py


class BackendError(RuntimeError):
    def __init__(self, message: str, *, tenant_id: int | None = None) -> None:
        super().__init__(message if tenant_id is None else f"tenant {tenant_id}: {message}")
        self.tenant_id = tenant_id


class UnknownTenant(BackendError):
    """The tenant has no index (nothing synced for it yet)."""


@dataclass(frozen=True)
class WriteOutcome:
    written: int
    stale: int  # rejected because the stored document is as new or newer: success, not an error


@dataclass(frozen=True)
class TenantState:
    tenant_id: int
    documents: int                      # visible tickets
    applied: BinlogPosition | None      # every change before this position is in this tenant's index
    analyzer: str                       # analyzer identity the index was built with
    mapping_version: int


@dataclass(frozen=True)
class Highlight:
    field: str                 # subject | body | comments
    fragment: str              # HTML-escaped original text with <em> around matches
    comment_key: str | None = None


@dataclass(frozen=True)
class SearchHit:
    ticket_id: int
    score: float
    fields: dict[str, Any]
    tags: list[str]
    comment_count: int
    highlights: list[Highlight] = field(default_factory=list)
    sort_value: float | int | None = None  # the value the hit was sorted by (score for relevance)


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    query_tokens: list[str]
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    next_cursor: Cursor | None = None     # set when more hits may follow (decoded; the API signs it)


class SearchBackend(Protocol):
    def tenants(self) -> list[int]: ...

    def load(self, tenant_id: int, ticket_ids: Sequence[int]) -> dict[int, StoredTicket]: ...

    def write(self, tenant_id: int, docs: Sequence[StoredTicket], applied: BinlogPosition | None) -> WriteOutcome: ...

    def state(self, tenant_id: int) -> TenantState: ...

    def search(self, tenant_id: int, request: SearchRequest) -> SearchResult: ...

    def get(self, tenant_id: int, ticket_id: int) -> StoredTicket | None: ...
