"""Elasticsearch search backend: the SearchBackend interface over an Elasticsearch 9 cluster (9.x client).

Input: StoredTicket writes and SearchRequests/SearchPlans, always with a tenant id; an Elasticsearch client.
Output: per-tenant index generations behind per-tenant aliases; ranked, highlighted hits, facets, cursors.
Guarantee: every document is written with `version_type=external` and the StoredTicket's version (derived
from the binlog position), so an older change never overwrites a newer one (409 = stale = success); deleted
tickets are versioned tombstone documents, so a replay cannot resurrect them whatever `index.gc_deletes` is;
the tenant's applied position is recorded only after every document of the batch is confirmed (written,
stale, or handed to the dead-letter sink); every read goes through the tenant's alias with a `tenant_id`
filter (and, for a shared index, the tenant's routing); alias swaps are one atomic `_aliases` request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from analyzers import Analyzer
from mappings import IndexMapping
from searchcore.backend import BackendError, SearchRequest, SearchResult, TenantState, UnknownTenant, WriteOutcome
from searchcore.documents import StoredTicket, doc_key
from searchcore.elastic_bulk import BulkOp, BulkReport, RejectedDocument, RetryPolicy, run_bulk
from searchcore.elastic_mapping import (
    IndexName,
    alias_add,
    alias_name,
    alias_pattern,
    alias_swap_actions,
    dedicated_index,
    document_source,
    index_body,
    meta_id,
    meta_source,
    shared_index,
    stored_from_source,
    tenant_of_alias,
    tenant_routing,
)
from searchcore.elastic_search import (
    ElasticSearchResult,
    SearchPlan,
    count_body,
    parse_search,
    plan_from_request,
    query_body,
    search_body,
)
from searchcore.positions import BinlogPosition

Refresh = Literal["false", "wait_for", "true"]
DeadLetterSink = Callable[[RejectedDocument], None]


class BulkRejected(BackendError):
    """Documents Elasticsearch refused (400 …) and no dead-letter sink was configured: nothing is dropped."""

    def __init__(self, rejected: Sequence[RejectedDocument], *, tenant_id: int) -> None:
        first = rejected[0]
        super().__init__(f"{len(rejected)} document(s) rejected, first {first.doc_id}: {first.status} "
                         f"{first.error_type}: {first.reason}", tenant_id=tenant_id)
        self.rejected = tuple(rejected)


@dataclass(frozen=True)
class ElasticWriteOutcome(WriteOutcome):
    """WriteOutcome plus what went to the dead-letter sink (a WriteOutcome everywhere one is expected)."""

    rejected: tuple[RejectedDocument, ...] = ()


@dataclass(frozen=True)
class ElasticConfig:
    prefix: str = "ts"
    shared_tenants: frozenset[int] = frozenset()   # tenants placed in the shared index (filtered + routed aliases)
    shared_group: str = "shared"
    refresh: Refresh = "false"                     # "wait_for" makes writes searchable before write() returns
    retry: RetryPolicy = RetryPolicy()


class ElasticBackend:
    """The SearchBackend protocol on Elasticsearch. One writer per tenant (the indexer that owns it)."""

    def __init__(self, client: Elasticsearch, mapping: IndexMapping, analyzer: Analyzer,
                 config: ElasticConfig = ElasticConfig(), *, dead_letter: DeadLetterSink | None = None) -> None:
        self.client = client
        self.mapping = mapping
        self.analyzer = analyzer
        self.config = config
        self.dead_letter = dead_letter
        self._known_aliases: set[int] = set()

    # ---- layout ----------------------------------------------------------------------------------
    def alias(self, tenant_id: int) -> str:
        return alias_name(self.config.prefix, tenant_id)

    def is_shared(self, tenant_id: int) -> bool:
        return tenant_id in self.config.shared_tenants

    def _routing(self, tenant_id: int) -> str | None:
        return tenant_routing(tenant_id) if self.is_shared(tenant_id) else None

    def tenants(self) -> list[int]:
        try:
            found = self.client.indices.get_alias(name=alias_pattern(self.config.prefix))
        except NotFoundError:
            return []
        tenants: set[int] = set()
        for entry in found.body.values():
            for alias in entry.get("aliases", {}):
                tenant = tenant_of_alias(self.config.prefix, alias)
                if tenant is not None:
                    tenants.add(tenant)
        return sorted(tenants)

    def current_index(self, tenant_id: int) -> IndexName | None:
        """The concrete index the tenant's alias points at, or None when the tenant has no alias."""
        try:
            found = self.client.indices.get_alias(name=self.alias(tenant_id))
        except NotFoundError:
            return None
        names = sorted(found.body)
        if len(names) != 1:
            raise BackendError(f"alias {self.alias(tenant_id)} points at {names}, expected one index",
                               tenant_id=tenant_id)
        return IndexName.parse(names[0])

    def create_index(self, index: IndexName) -> None:
        body = index_body(self.mapping, self.analyzer.identity)
        self.client.indices.create(index=index.name, settings=body["settings"], mappings=body["mappings"])

    def new_generation(self, tenant_id: int) -> IndexName:
        """Create the tenant's next dedicated index generation (not yet behind the alias): the reindex target."""
        current = self.current_index(tenant_id)
        generation = 1 if current is None else current.generation + 1
        index = dedicated_index(self.config.prefix, self.mapping.version, tenant_id, generation)
        self.create_index(index)
        return index

    def swap_alias(self, tenant_id: int, new: IndexName, *, drop_old: bool = False) -> list[dict[str, Any]]:
        """Point the tenant's alias at `new` in one atomic request; returns the actions sent."""
        old = self.current_index(tenant_id)
        actions = alias_swap_actions(self.config.prefix, tenant_id, old, new, drop_old=drop_old)
        self.client.indices.update_aliases(actions=actions)
        self._known_aliases.add(tenant_id)
        return actions

    def ensure_tenant(self, tenant_id: int) -> None:
        if tenant_id in self._known_aliases:
            return
        if self.client.indices.exists_alias(name=self.alias(tenant_id)):
            self._known_aliases.add(tenant_id)
            return
        if self.is_shared(tenant_id):
            index = shared_index(self.config.prefix, self.mapping.version, self.config.shared_group, 1)
            if not self.client.indices.exists(index=index.name):
                try:
                    self.create_index(index)
                except BadRequestError as exc:   # another indexer created it first
                    if exc.error != "resource_already_exists_exception":
                        raise
        else:
            index = dedicated_index(self.config.prefix, self.mapping.version, tenant_id, 1)
            self.create_index(index)
        self.client.indices.update_aliases(actions=[alias_add(index, tenant_id, self.config.prefix)])
        self._known_aliases.add(tenant_id)

    # ---- writes ----------------------------------------------------------------------------------
    def bulk_ops(self, tenant_id: int, docs: Sequence[StoredTicket], *, target: str | None = None) -> list[BulkOp]:
        """Index actions with external versions; tombstones are indexed documents too (never bare deletes)."""
        ops: list[BulkOp] = []
        for doc in docs:
            if doc.tenant_id != tenant_id:
                raise ValueError(f"document {doc.doc_key} written to tenant {tenant_id}")
            meta: dict[str, Any] = {"_index": target or self.alias(tenant_id), "_id": doc.doc_key,
                                    "version": doc.version, "version_type": "external_gte"}
            routing = self._routing(tenant_id)
            if routing is not None:
                meta["routing"] = routing
            ops.append(BulkOp({"index": meta}, document_source(doc, self.mapping, self.analyzer), tenant_id,
                              doc.ticket_id, doc.version))
        return ops

    def purge_ops(self, tenant_id: int, tombstones: Sequence[tuple[int, int]], *, safe_below: int) -> list[BulkOp]:
        """Delete actions for tombstones (ticket id, tombstone version), as external version tombstone+1.

        Only for tombstones every change of which is durably applied (version + 1 < safe_below, the version of
        the oldest change that can still be replayed): once `index.gc_deletes` has passed, Elasticsearch forgets
        the deleted version, and only the checkpoint keeps an older insert from being replayed."""
        ops: list[BulkOp] = []
        for ticket_id, version in tombstones:
            if version + 1 >= safe_below:
                continue
            meta: dict[str, Any] = {"_index": self.alias(tenant_id), "_id": doc_key(tenant_id, ticket_id),
                                    "version": version + 1, "version_type": "external"}
            routing = self._routing(tenant_id)
            if routing is not None:
                meta["routing"] = routing
            ops.append(BulkOp({"delete": meta}, None, tenant_id, ticket_id, version + 1))
        return ops

    def _send(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self.client.bulk(operations=lines, refresh=self.config.refresh).body)

    def run(self, tenant_id: int, ops: Sequence[BulkOp]) -> BulkReport:
        return run_bulk(ops, self._send, self.config.retry, tenant_id=tenant_id)

    def write(self, tenant_id: int, docs: Sequence[StoredTicket], applied: BinlogPosition | None) -> WriteOutcome:
        self.ensure_tenant(tenant_id)
        report = self.run(tenant_id, self.bulk_ops(tenant_id, docs)) if docs else BulkReport()
        if report.rejected:
            if self.dead_letter is None:
                raise BulkRejected(report.rejected, tenant_id=tenant_id)
            for rejected in report.rejected:
                self.dead_letter(rejected)
        self._write_meta(tenant_id, applied)
        return ElasticWriteOutcome(written=report.written, stale=report.stale, rejected=report.rejected)

    def _write_meta(self, tenant_id: int, applied: BinlogPosition | None) -> None:
        meta = dict(self._read_meta(tenant_id))
        if applied is not None:
            meta["applied"] = applied.to_json()
        meta["analyzer"] = self.analyzer.identity
        meta["mapping_version"] = self.mapping.version
        self.client.index(index=self.alias(tenant_id), id=meta_id(tenant_id), document=meta_source(tenant_id, meta),
                          routing=self._routing(tenant_id), refresh=self.config.refresh)

    def _read_meta(self, tenant_id: int) -> dict[str, Any]:
        try:
            found = self.client.get(index=self.alias(tenant_id), id=meta_id(tenant_id),
                                    routing=self._routing(tenant_id))
        except NotFoundError:
            return {}
        source = found.body.get("_source", {})
        return dict(source.get("meta", {})) if source.get("tenant_id") == tenant_id else {}

    # ---- reads -----------------------------------------------------------------------------------
    def load(self, tenant_id: int, ticket_ids: Sequence[int]) -> dict[int, StoredTicket]:
        """Stored documents (tombstones included) by ticket id: realtime `_mget` through the tenant's alias."""
        if not ticket_ids:
            return {}
        ids = [doc_key(tenant_id, t) for t in sorted(set(ticket_ids))]
        try:
            found = self.client.mget(index=self.alias(tenant_id), ids=ids, routing=self._routing(tenant_id))
        except NotFoundError:
            return {}
        out: dict[int, StoredTicket] = {}
        for entry in found.body.get("docs", []):
            if not entry.get("found"):
                continue
            doc = stored_from_source(entry["_source"])
            if doc.tenant_id == tenant_id:
                out[doc.ticket_id] = doc
        return out

    def get(self, tenant_id: int, ticket_id: int) -> StoredTicket | None:
        """The stored document, a tombstone included (as the embedded backend: callers check `visible`)."""
        self._require(tenant_id)
        return self.load(tenant_id, [ticket_id]).get(ticket_id)

    def _require(self, tenant_id: int) -> None:
        if tenant_id not in self._known_aliases and not self.client.indices.exists_alias(name=self.alias(tenant_id)):
            raise UnknownTenant("no index for this tenant", tenant_id=tenant_id)

    def state(self, tenant_id: int) -> TenantState:
        self._require(tenant_id)
        meta = self._read_meta(tenant_id)
        count = self.count(tenant_id, SearchPlan(text=""))
        applied = meta.get("applied")
        return TenantState(tenant_id=tenant_id, documents=count,
                           applied=None if applied is None else BinlogPosition.from_json(applied),
                           analyzer=str(meta.get("analyzer", "")),
                           mapping_version=int(meta.get("mapping_version", self.mapping.version)))

    def count(self, tenant_id: int, plan: SearchPlan) -> int:
        body = count_body(tenant_id, plan, self.mapping, self.analyzer)
        return int(self.client.count(index=self.alias(tenant_id), body=body, routing=self._routing(tenant_id))["count"])

    def search(self, tenant_id: int, request: SearchRequest) -> SearchResult:
        return self.search_plan(tenant_id, plan_from_request(request)).result

    def search_plan(self, tenant_id: int, plan: SearchPlan) -> ElasticSearchResult:
        self._require(tenant_id)
        body, terms = search_body(tenant_id, plan, self.mapping, self.analyzer)
        response = self.client.search(index=self.alias(tenant_id), body=body, routing=self._routing(tenant_id))
        return parse_search(dict(response.body), plan, terms, self.mapping, self.analyzer, tenant_id)

    def explain(self, tenant_id: int, ticket_id: int, plan: SearchPlan) -> dict[str, Any]:
        """Elasticsearch's explanation of the ticket's score for the plan's query (developer endpoint)."""
        self._require(tenant_id)
        query = query_body(tenant_id, plan, self.mapping, self.analyzer)[0]
        response = self.client.explain(index=self.alias(tenant_id), id=doc_key(tenant_id, ticket_id),
                                       body={"query": query}, routing=self._routing(tenant_id))
        return dict(response.body)

    def drop_tenant_indices(self) -> None:
        """Delete every index under this backend's prefix (tests and teardown only)."""
        found = self.client.indices.get(index=f"{self.config.prefix}-tickets-*", allow_no_indices=True)
        names = sorted(found.body)   # by name: ES 9 refuses wildcard deletes (action.destructive_requires_name)
        if names:
            self.client.indices.delete(index=",".join(names))
        self._known_aliases.clear()
