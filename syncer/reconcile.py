"""Compare a tenant's index (a generation) with MySQL by id ranges; repair only the drifted ranges.

Input: a consistent snapshot of the source at position Pv (rows of one tenant, assembled into the documents
they should produce) and the stored documents of one index generation (tombstones included).
Output: a `ReconcileReport`: per id range the counts and a content checksum on both sides, and the ticket ids
that are missing (in MySQL, not visible in the index), extra (visible in the index, not in MySQL) or stale
(different content); `repair_documents` gives the documents that fix them, at Pv's version.
Guarantee: a document whose version is newer than Pv changed after the snapshot and is neither compared nor
repaired (the live stream owns it), so comparison and repair are correct while the tenant keeps writing;
repairs tombstone every part the source no longer has (a replayed old insert cannot resurrect it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from searchcore.documents import Part, StoredTicket
from syncer.assemble import PoisonChange, merge, route
from syncer.lookups import LookupDirectory
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import SourceMapping

RANGE_TICKETS = 1000


@dataclass(frozen=True)
class RangeReport:
    lo: int
    hi: int
    source: int                 # visible tickets in MySQL (comparable ones)
    index: int                  # visible documents in the index (comparable ones)
    source_checksum: str
    index_checksum: str
    missing: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()
    stale: tuple[int, ...] = ()

    @property
    def drifted(self) -> bool:
        return bool(self.missing or self.extra or self.stale)


@dataclass(frozen=True)
class ReconcileReport:
    tenant: int
    generation: str | None
    position: dict[str, Any]          # Pv
    version: int                      # Pv's version: newer documents were skipped
    ranges: tuple[RangeReport, ...]
    skipped_newer: int
    repaired: int = 0
    extra_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not any(r.drifted for r in self.ranges)

    def drifted_ids(self) -> list[int]:
        return sorted({t for r in self.ranges for t in (*r.missing, *r.extra, *r.stale)})

    def to_json(self, *, all_ranges: bool = False) -> dict[str, Any]:
        def rng(r: RangeReport) -> dict[str, Any]:
            return {"lo": r.lo, "hi": r.hi, "source": r.source, "index": r.index, "source_checksum": r.source_checksum,
                    "index_checksum": r.index_checksum, "missing": list(r.missing)[:50], "extra": list(r.extra)[:50],
                    "stale": list(r.stale)[:50]}
        return {
            "tenant": self.tenant, "generation": self.generation, "position": self.position, "clean": self.clean,
            "ranges_checked": len(self.ranges), "skipped_newer": self.skipped_newer, "repaired": self.repaired,
            "source_tickets": sum(r.source for r in self.ranges), "index_tickets": sum(r.index for r in self.ranges),
            "missing": sum(len(r.missing) for r in self.ranges), "extra": sum(len(r.extra) for r in self.ranges),
            "stale": sum(len(r.stale) for r in self.ranges),
            "drifted_ranges": [rng(r) for r in self.ranges if all_ranges or r.drifted],
            **self.extra_fields,
        }


def expected_documents(cs: ConsistentSnapshot, mapping: SourceMapping, lookups: LookupDirectory, tenant: int,
                       chunk_rows: int) -> dict[int, StoredTicket]:
    """The documents the tenant's rows at the snapshot position produce (all parts at its version)."""
    cs.load_lookups(lookups, tenant)
    out: dict[int, StoredTicket] = {}
    for chunk in cs.chunks(tenant, 0, chunk_rows):
        per_doc: dict[int, list[Any]] = {}
        for change in chunk.changes:
            try:
                routed = route(change, mapping, lookups.resolve)
            except PoisonChange:
                continue            # dead-lettered by the indexer too: reported as missing/stale, never hidden
            for dc in routed:
                per_doc.setdefault(dc.ticket_id, []).append(dc)
        for ticket, dcs in per_doc.items():
            out[ticket] = merge(out.get(ticket), dcs, tenant, ticket)
    return out


def signature(doc: StoredTicket | None) -> str | None:
    """The content of a visible document without versions (None: absent or deleted)."""
    if doc is None or not doc.visible:
        return None
    children = {name: dict(doc.live_children(name)) for name in sorted(doc.children)}
    return json.dumps([doc.fields, {n: c for n, c in children.items() if c}], sort_keys=True, ensure_ascii=False,
                      default=str)


def compare(tenant: int, expected: dict[int, StoredTicket], stored: Iterable[StoredTicket], version: int,
            position: dict[str, Any], generation: str | None, range_tickets: int = RANGE_TICKETS) -> ReconcileReport:
    index = {d.ticket_id: d for d in stored}
    skipped = {t for t, d in index.items() if d.version > version}
    ids = sorted((set(expected) | {t for t, d in index.items() if d.visible}) - skipped)
    ranges = []
    for start in range(0, len(ids), range_tickets):
        part = ids[start:start + range_tickets]
        missing, extra, stale = [], [], []
        src_hash, idx_hash = hashlib.sha256(), hashlib.sha256()
        n_src = n_idx = 0
        for t in part:
            exp, got = signature(expected.get(t)), signature(index.get(t))
            if exp is not None:
                n_src += 1
                src_hash.update(f"{t}:{exp}\n".encode())
            if got is not None:
                n_idx += 1
                idx_hash.update(f"{t}:{got}\n".encode())
            if exp is not None and got is None:
                missing.append(t)
            elif exp is None and got is not None:
                extra.append(t)
            elif exp != got:
                stale.append(t)
        ranges.append(RangeReport(part[0], part[-1], n_src, n_idx, src_hash.hexdigest()[:16],
                                  idx_hash.hexdigest()[:16], tuple(missing), tuple(extra), tuple(stale)))
    return ReconcileReport(tenant, generation, position, version, tuple(ranges), len(skipped))


def repaired_document(tenant: int, ticket: int, current: StoredTicket | None, expected: StoredTicket | None,
                      version: int) -> StoredTicket:
    """`expected` (the source at `version`), with every other part of `current` tombstoned at `version`."""
    children: dict[str, dict[str, Part]] = {}
    if current is not None:
        for name, parts in current.children.items():
            children[name] = {k: Part(version, None) for k in parts}
    if expected is not None:
        for name, parts in expected.children.items():
            children.setdefault(name, {}).update(parts)
    head = expected.ticket if expected is not None and expected.ticket is not None else Part(version, None)
    return StoredTicket(tenant, ticket, head, children)


def repair_documents(report: ReconcileReport, expected: dict[int, StoredTicket],
                     current: dict[int, StoredTicket]) -> list[StoredTicket]:
    """Documents that fix every drifted ticket whose stored version is still not newer than the snapshot."""
    out = []
    for t in report.drifted_ids():
        now = current.get(t)
        if now is not None and now.version > report.version:
            continue        # changed since the comparison: the live stream wrote it
        out.append(repaired_document(report.tenant, t, now, expected.get(t), report.version))
    return out
