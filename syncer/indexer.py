"""Indexer: applies row changes to the search backend as whole ticket documents.

Input: RowChanges in commit order (from the tailer or the snapshot) and the position they lead up to.
Output: one versioned write per touched tenant; poison changes in the dead-letter store.
Guarantee: all changes of one batch that feed one document are merged in commit order into that
document (read-modify-write of the stored document: this process is the only writer of each index);
the backend write for a tenant records the position only after the document writes it covers;
a change that cannot be applied is dead-lettered with reason, tenant and position, and the batch goes on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from searchcore.backend import SearchBackend
from searchcore.documents import StoredTicket
from searchcore.positions import BinlogPosition
from syncer.assemble import DocChange, PoisonChange, merge, route
from syncer.deadletters import DeadLetterStore
from syncer.events import RowChange
from syncer.lookups import LookupDirectory
from syncer.source_mapping import SourceMapping

log = logging.getLogger(__name__)
PARALLEL_WRITE_MAX_DOCS = 2000


@dataclass(frozen=True)
class ApplyReport:
    changes: int
    documents_written: int
    stale: int
    dead_lettered: int
    tenants: tuple[int, ...]


class Indexer:
    def __init__(self, backend: SearchBackend, mapping: SourceMapping, lookups: LookupDirectory,
                 deadletters: DeadLetterStore, *, max_document_bytes: int, parallel_commits: bool = False,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self.backend = backend
        self.mapping = mapping
        self.lookups = lookups
        self.deadletters = deadletters
        self.max_document_bytes = max_document_bytes
        # parallel tenant commits (`pool`, or a pool of its own with `parallel_commits`): every write of a batch has
        # finished before apply returns or raises, so a caller may close the backend right after (a Kafka rebalance)
        self._pool = pool if pool is not None else (
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="tenant-write") if parallel_commits else None)

    def apply(self, changes: Sequence[RowChange], applied: BinlogPosition | None) -> ApplyReport:
        per_doc: dict[tuple[int, int], list[tuple[RowChange, DocChange]]] = defaultdict(list)
        dead = 0
        lookup_tables = self.lookups.tables()
        for change in changes:
            if change.table in lookup_tables:
                self.lookups.observe(change)
            try:
                routed = route(change, self.mapping, self.lookups.resolve)
            except PoisonChange as exc:
                self._dead(change, exc.reason, exc.tenant_id, None)
                dead += 1
                continue
            for dc in routed:
                per_doc[(dc.tenant_id, dc.ticket_id)].append((change, dc))
        by_tenant: dict[int, dict[int, list[tuple[RowChange, DocChange]]]] = defaultdict(dict)
        for (tenant, ticket), items in per_doc.items():
            by_tenant[tenant][ticket] = items
        written = stale = 0
        writes: list[tuple[int, list[StoredTicket]]] = []
        for tenant, tickets in sorted(by_tenant.items()):
            stored = self.backend.load(tenant, list(tickets))
            docs: list[StoredTicket] = []
            for ticket, items in tickets.items():
                before = stored.get(ticket)
                doc = merge(before, (dc for _, dc in items), tenant, ticket)
                if before is not None and doc == before:
                    stale += 1
                    continue
                size = len(doc.to_json().encode())
                if size > self.max_document_bytes:
                    for change, _ in items:
                        self._dead(change, f"document {doc.doc_key} would be {size} bytes, over the limit of "
                                   f"{self.max_document_bytes} (max_document_bytes)", tenant, ticket)
                        dead += 1
                    continue
                docs.append(doc)
            if docs:
                writes.append((tenant, docs))
        # One commit per tenant index. In small batches (steady streaming) the commits' fsyncs dominate and release
        # the GIL, so tenants commit in parallel (lower commit -> searchable latency); big catch-up batches are
        # dominated by analysis under the GIL and run one tenant after the other.
        parallel = (self._pool is not None and len(writes) > 1
                    and sum(len(d) for _, d in writes) <= PARALLEL_WRITE_MAX_DOCS)
        if parallel:
            assert self._pool is not None
            futures = [self._pool.submit(self.backend.write, t, d, applied) for t, d in writes]
            wait(futures)  # every write has finished (or failed) before this returns or raises
            outcomes = [f.result() for f in futures]
        else:
            outcomes = [self.backend.write(t, d, applied) for t, d in writes]
        for (tenant, docs), outcome in zip(writes, outcomes, strict=True):
            written += outcome.written
            stale += outcome.stale
            log.debug("applied batch", extra={"tenant": tenant, "position": str(applied), "docs": len(docs)})
        return ApplyReport(len(changes), written, stale, dead, tuple(sorted(by_tenant)))

    def _dead(self, change: RowChange, reason: str, tenant_id: int | None, ticket_id: int | None) -> None:
        log.warning("dead-lettered change: %s", reason,
                    extra={"tenant": tenant_id, "position": f"{change.file}:{change.offset}", "table": change.table})
        self.deadletters.add(change, reason, tenant_id=tenant_id, ticket_id=ticket_id)
