"""Index generations of one tenant in the embedded backend (a mixin of `EmbeddedBackend`), and read scopes.

Input: a tenant, an analyzer and the meta to record; generation names `gen-<n>` under
<root>/tenants/<tenant>/. Output: a new generation being built, an atomic switch of CURRENT, dropped
generations, every stored document of a generation (tombstones included).
Guarantee: CURRENT changes only by one rename of a fsynced file (readers see the old or the new generation,
never a mix or none); a generation is written with the analyzer recorded in its meta; the CURRENT
generation cannot be dropped. `request_scope` pins, per API request, the generation first read for a
tenant, so a query's analyzer and searcher always come from one generation.
"""

from __future__ import annotations

import contextvars
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tantivy

from analyzers import Analyzer
from searchcore.documents import StoredTicket
from searchcore.tantivy_schema import register_tokenizers

if TYPE_CHECKING:
    from searchcore.embedded import _TenantIndex


@dataclass
class _Scope:
    tenant: int | None = None
    pinned: dict[int, _TenantIndex] = field(default_factory=dict)


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("ticketsearch_read_scope", default=None)


@contextmanager
def request_scope(tenant_id: int | None = None) -> Iterator[None]:
    """One API request: the first generation read per tenant is pinned until the scope ends."""
    token = _SCOPE.set(_Scope(tenant_id))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def bind_request_tenant(tenant_id: int) -> None:
    """Record the authenticated tenant of the current request scope (its queries use its generation's analyzer)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.tenant = tenant_id


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



class GenerationsMixin:
    """Generation management; the attributes below are `EmbeddedBackend`'s."""

    root: Path
    schema: tantivy.Schema
    writable: bool
    _writer_heap: int
    _lock: threading.Lock
    _indexes: dict[int, _TenantIndex]
    _building: dict[tuple[int, str], _TenantIndex]

    def _tenant_dir(self, tenant_id: int) -> Path:
        return self.root / "tenants" / str(tenant_id)

    def _read_meta(self, ti: _TenantIndex) -> dict[str, Any]:
        raise NotImplementedError

    def _resolve_analyzer(self, tenant_id: int, meta: dict[str, Any]) -> Analyzer | None:
        raise NotImplementedError

    def _reader(self, tenant_id: int) -> _TenantIndex:
        raise NotImplementedError

    def _target(self, tenant_id: int, generation: str | None, *, create: bool) -> _TenantIndex:
        raise NotImplementedError

    def write(self, tenant_id: int, docs: Any, applied: Any, *, generation: str | None = None,
              force: bool = False) -> Any:
        raise NotImplementedError

    def current_generation(self, tenant_id: int) -> str | None:
        current = self._tenant_dir(tenant_id) / "CURRENT"
        return current.read_text().strip() if current.exists() else None

    def generations(self, tenant_id: int) -> list[str]:
        tdir = self._tenant_dir(tenant_id)
        if not tdir.exists():
            return []
        return sorted((p.name for p in tdir.glob("gen-*") if p.name[4:].isdigit()), key=lambda n: int(n[4:]))

    def create_generation(self, tenant_id: int, analyzer: Analyzer, meta: dict[str, Any]) -> str:
        """A new empty generation gen-<n+1> (not CURRENT), written with `analyzer`; `meta` is recorded in it."""
        if not self.writable:
            raise RuntimeError("backend opened read-only")
        gens = self.generations(tenant_id)
        gen = f"gen-{int(gens[-1][4:]) + 1 if gens else 1}"
        gen_dir = self._tenant_dir(tenant_id) / gen
        gen_dir.mkdir(parents=True)
        index = tantivy.Index(self.schema, path=str(gen_dir))
        register_tokenizers(index)
        from searchcore.embedded import _TenantIndex

        ti = _TenantIndex(tenant_id, gen_dir, index, index.writer(self._writer_heap, 1), dict(meta), complete=True,
                          analyzer=analyzer)
        with self._lock:
            self._building[(tenant_id, gen)] = ti
        self.write(tenant_id, [], None, generation=gen)
        return gen

    def open_generation(self, tenant_id: int, gen: str) -> dict[str, Any]:
        """Reopen a generation being built (a resumed reindex); returns its meta."""
        with self._lock:
            found = self._building.get((tenant_id, gen))
        if found is not None:
            return found.meta
        from searchcore.embedded import _TenantIndex

        index = tantivy.Index.open(str(self._tenant_dir(tenant_id) / gen))
        register_tokenizers(index)
        ti = _TenantIndex(tenant_id, self._tenant_dir(tenant_id) / gen, index, index.writer(self._writer_heap, 1), {})
        ti.meta = self._read_meta(ti)
        ti.analyzer = self._resolve_analyzer(tenant_id, ti.meta)
        with self._lock:
            self._building[(tenant_id, gen)] = ti
        return ti.meta

    def switch_generation(self, tenant_id: int, gen: str) -> str | None:
        """Make `gen` the tenant's CURRENT (one atomic rename); returns the previous generation's name."""
        with self._lock:
            ti = self._building.pop((tenant_id, gen))
            old = self._indexes.get(tenant_id)
            previous = self.current_generation(tenant_id)
            write_atomic(self._tenant_dir(tenant_id) / "CURRENT", gen + "\n")
            _fsync_dir(self._tenant_dir(tenant_id))
            ti.current_stat = _stat_key(self._tenant_dir(tenant_id) / "CURRENT")
            self._indexes[tenant_id] = ti
        if old is not None and old.writer is not None:
            old.writer.wait_merging_threads()
        return previous

    def drop_generation(self, tenant_id: int, gen: str) -> None:
        """Delete a generation that is not CURRENT (an old one after a switch, or a cancelled build)."""
        if gen == self.current_generation(tenant_id):
            raise ValueError(f"tenant {tenant_id}: {gen} is CURRENT and cannot be dropped")
        with self._lock:
            ti = self._building.pop((tenant_id, gen), None)
        if ti is not None and ti.writer is not None:
            ti.writer.rollback()
            ti.writer.wait_merging_threads()
        shutil.rmtree(self._tenant_dir(tenant_id) / gen, ignore_errors=True)

    def stored_documents(self, tenant_id: int, generation: str | None = None) -> list[StoredTicket]:
        """Every stored document of a generation, tombstones included (verification, reconciliation)."""
        ti = self._target(tenant_id, generation, create=False) if self.writable else self._reader(tenant_id)
        searcher = ti.index.searcher()
        hits = searcher.search(tantivy.Query.all_query(), max(1, searcher.num_docs), count=False).hits
        out = []
        for _, addr in hits:
            stored = bytes(searcher.doc(addr).to_dict()["stored"][0])
            if b'"tenant_id"' in stored[:40] or b'"ticket_id"' in stored:   # not the meta document
                out.append(StoredTicket.from_json(stored))
        return out
