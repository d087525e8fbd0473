"""Query-time synonyms: a per-tenant, versioned set of equivalence groups.

Input: a `SynonymSet` (version + groups of equivalent words/phrases) and a query's plain-cut terms (analyzed with
the tenant's analyzer). Output: term *slots*: each slot is the query span it came from plus its alternatives (term
sequences; one term = a term query, several = a phrase).
Guarantee: applied at query time only (a new set is live at once, no reindex); every group entry is analyzed with
the same analyzer as the query, so casing/traditional/width variants agree; longest match wins at each query
position; a synonym alternative is matched (and highlighted) as its own term sequence only. `SynonymStore` reads
`<dir>/<tenant_id>.json` = {"version": "...", "groups": [["电脑", "计算机"], ...]} and re-reads it when it changes.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from analyzers.analyzer import Analyzer


@dataclass(frozen=True)
class SynonymSet:
    version: str = "0"
    groups: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Slot:
    """One query position group: `terms` (the query's own terms) and the alternatives that may match instead."""

    terms: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def options(self) -> tuple[tuple[str, ...], ...]:
        return (self.terms, *self.alternatives)


EMPTY = SynonymSet()


class _Compiled:
    def __init__(self, analyzer: Analyzer, synonyms: SynonymSet) -> None:
        self.by_first: dict[str, list[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]]] = {}
        for group in synonyms.groups:
            seqs = []
            for entry in group:
                seq = tuple(t.text for t in analyzer.analyze_query(entry))
                if seq and seq not in seqs:
                    seqs.append(seq)
            for seq in seqs:
                others = tuple(s for s in seqs if s != seq)
                if others:
                    self.by_first.setdefault(seq[0], []).append((seq, others))
        for cands in self.by_first.values():
            cands.sort(key=lambda c: -len(c[0]))


_cache: dict[tuple[int, SynonymSet], _Compiled] = {}
_cache_lock = threading.Lock()


def expand(analyzer: Analyzer, terms: list[str], synonyms: SynonymSet = EMPTY) -> list[Slot]:
    """Group `terms` into slots, attaching synonym alternatives (longest match first); duplicate slots dropped."""
    compiled: _Compiled | None = None
    if synonyms.groups:
        key = (id(analyzer), synonyms)
        with _cache_lock:
            compiled = _cache.get(key)
        if compiled is None:
            compiled = _Compiled(analyzer, synonyms)
            with _cache_lock:
                if len(_cache) > 256:
                    _cache.clear()
                _cache[key] = compiled
    out: list[Slot] = []
    i = 0
    while i < len(terms):
        slot = Slot((terms[i],))
        if compiled is not None:
            for seq, others in compiled.by_first.get(terms[i], ()):
                if tuple(terms[i : i + len(seq)]) == seq:
                    slot = Slot(seq, others)
                    break
        if slot not in out:
            out.append(slot)
        i += len(slot.terms)
    return out


class SynonymStore:
    """Per-tenant synonym files under `root`, re-read when their mtime changes (live at once)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[int, tuple[float, SynonymSet]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: int) -> SynonymSet:
        path = self.root / f"{tenant_id}.json"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return EMPTY
        with self._lock:
            hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        try:
            data = json.loads(path.read_text("utf-8"))
            groups = tuple(tuple(str(w) for w in g) for g in data.get("groups", []) if isinstance(g, list))
            found = SynonymSet(version=str(data.get("version", "0")), groups=groups)
        except (OSError, ValueError, AttributeError):
            found = hit[1] if hit is not None else EMPTY  # keep the last good set on a broken file
        with self._lock:
            self._cache[tenant_id] = (mtime, found)
        return found

    def put(self, tenant_id: int, synonyms: SynonymSet) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{tenant_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": synonyms.version, "groups": [list(g) for g in synonyms.groups]},
                                  ensure_ascii=False), "utf-8")
        tmp.replace(path)
