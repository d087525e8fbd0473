"""The end-of-snapshot sweep, applied by the member that owns a partition.

Input: the member's writable backend, the partition the sweep message came in, the Sweep (floor version,
partition count, the tailer's partitioner). Output: documents of that partition's share rewritten without their
live parts older than the floor. Guarantee: only the documents this partition carries are touched (every
document of its tenants by tenant partitioner, the documents whose key maps to it by key), so each partition's
sweep is independent; replaying a sweep changes nothing.
"""

from __future__ import annotations

import logging

from searchcore.embedded import EmbeddedBackend
from syncer.envelope import Sweep, document_key
from syncer.kafka_bus import partition_for

log = logging.getLogger(__name__)


def apply_sweep(backend: EmbeddedBackend, partition: int, sweep: Sweep, held: set[tuple[int, int]]) -> None:
    """`held`: tickets whose snapshot row was dead-lettered (republished, then rejected): left alone."""
    by_tenant = sweep.partitioner == "tenant"
    for tenant in backend.tenants():
        if by_tenant and partition_for(f"{tenant}:sweep", sweep.partitions) != partition:
            continue     # another partition's tenant: its own sweep message handles it
        docs = [new for doc in backend.all_documents(tenant)
                if (by_tenant or partition_for(document_key(tenant, doc.ticket_id), sweep.partitions, "key")
                    == partition)   # by key: only the documents whose changes this partition carries
                and (tenant, doc.ticket_id) not in held
                and (new := doc.without_parts_older_than(sweep.floor)) is not doc]
        if docs:
            backend.write(tenant, docs, None)
            log.info("snapshot sweep removed rows gone from the source from %d documents", len(docs),
                     extra={"tenant": tenant, "position": str(sweep.position)})
