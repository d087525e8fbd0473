"""Embedded search backend: one on-disk Tantivy index per tenant.

Input: StoredTicket documents (writes) and SearchRequests (reads), always with a tenant id.
Output: committed per-tenant indexes; ranked, highlighted hits.
Guarantee: a write batch for a tenant is one Tantivy commit that also records the binlog position the
tenant has applied, so the index and its position never disagree after a crash. Documents whose version
is not higher than the stored one are not written. Deleted tickets stay as invisible versioned
tombstones, so a replayed older insert cannot bring them back.

Layout: <root>/tenants/<tenant_id>/gen-<n>/ (Tantivy files) and <root>/tenants/<tenant_id>/CURRENT
(the active generation). One writer per index; readers in other processes reload after commits.
Generations (issue 7, docs/reindex.md): the writer process may build gen-<n+1> next to the active one
(`create_generation`, writes with `generation=`), switch CURRENT atomically (write + fsync + rename) and
drop the old one. Each generation records its analyzer identity (and dictionary version) in its meta doc
and is written and queried with that analyzer (`analyzer_resolver`). Readers stat CURRENT on every read and
reopen when it changed; inside a `request_scope()` the first generation a request reads is pinned, so the
analyzer a query was compiled with and the searcher it runs on always belong to the same generation.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tantivy

from analyzers import Analyzer
from mappings import IndexMapping
from searchcore.backend import SearchRequest, SearchResult, TenantState, UnknownTenant, WriteOutcome
from searchcore.documents import StoredTicket
from searchcore.generations import _SCOPE, GenerationsMixin, _stat_key
from searchcore.positions import BinlogPosition
from searchcore.tantivy_schema import (
    META_KEY,
    SUB,
    build_schema,
    index_values,
    register_tokenizers,
    term_text,
)

log = logging.getLogger(__name__)
VERSION_CACHE_LIMIT = 2_000_000
TERMS_CACHE_LIMIT = 100_000


@dataclass
class _TenantIndex:
    tenant_id: int
    path: Path
    index: tantivy.Index
    writer: tantivy.IndexWriter | None
    meta: dict[str, Any]
    last_reload: float = 0.0
    # Versions of documents this process has loaded or written (it is the only writer). `complete` when the
    # index was created by this process: then an id missing here is missing from the index (no lookup).
    versions: dict[int, int] = field(default_factory=dict)
    complete: bool = False
    analyzer: Analyzer | None = None              # the generation's own analyzer (None: the backend default)
    current_stat: tuple[int, int] | None = None   # (inode, mtime) of CURRENT when this generation was opened

    def remember(self, ticket_id: int, version: int) -> None:
        if len(self.versions) >= VERSION_CACHE_LIMIT:
            self.versions.clear()
            self.complete = False
        self.versions[ticket_id] = version


class EmbeddedBackend(GenerationsMixin):
    """Tantivy indexes under `root`. `writable=True` in the sync process only (one writer per index)."""

    def __init__(self, root: Path, mapping: IndexMapping, analyzer: Analyzer, *, writable: bool,
                 writer_heap_bytes: int = 40_000_000, reload_interval_s: float = 0.0) -> None:
        self.root = root
        self.mapping = mapping
        self.analyzer = analyzer
        self.writable = writable
        # (tenant, generation meta) -> the analyzer recorded with that generation (None: the default)
        self.analyzer_resolver: Callable[[int, dict[str, Any]], Analyzer | None] | None = None
        self._building: dict[tuple[int, str], _TenantIndex] = {}
        self._gen_terms: dict[str, dict[str, tuple[str, str]]] = {}
        self.schema = build_schema(mapping)
        self._writer_heap = writer_heap_bytes
        self._reload_interval = reload_interval_s
        self._indexes: dict[int, _TenantIndex] = {}
        self._terms_cache: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        (root / "tenants").mkdir(parents=True, exist_ok=True)

    # ---- index lifecycle -------------------------------------------------------------------------
    def tenants(self) -> list[int]:
        base = self.root / "tenants"
        return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "CURRENT").exists())

    def _tenant_dir(self, tenant_id: int) -> Path:
        return self.root / "tenants" / str(tenant_id)

    def _open(self, tenant_id: int, *, create: bool) -> _TenantIndex:
        with self._lock:
            found = self._indexes.get(tenant_id)
            if found is not None:
                return found
            tdir = self._tenant_dir(tenant_id)
            created = False
            current = tdir / "CURRENT"
            if not current.exists():
                if not create:
                    raise UnknownTenant("no index for this tenant", tenant_id=tenant_id)
                gen_dir = tdir / "gen-1"
                if gen_dir.exists():
                    shutil.rmtree(gen_dir)  # a generation never made CURRENT is an interrupted creation
                gen_dir.mkdir(parents=True)
                index = tantivy.Index(self.schema, path=str(gen_dir))
                _write_atomic(current, "gen-1\n")
                created = True
            else:
                gen_dir = tdir / current.read_text().strip()
                index = tantivy.Index.open(str(gen_dir))
            register_tokenizers(index)
            writer = index.writer(self._writer_heap, 1) if self.writable else None
            ti = _TenantIndex(tenant_id, gen_dir, index, writer, {}, complete=created and self.writable)
            ti.meta = self._read_meta(ti)
            ti.analyzer = self._resolve_analyzer(tenant_id, ti.meta)
            ti.current_stat = _stat_key(current)
            ti.last_reload = time.monotonic()
            self._indexes[tenant_id] = ti
            return ti

    def _reader(self, tenant_id: int) -> _TenantIndex:
        scope = _SCOPE.get()
        if scope is not None and tenant_id in scope.pinned:
            return scope.pinned[tenant_id]
        ti = self._open(tenant_id, create=False)
        if not self.writable:
            ti = self._follow_current(ti)
            if time.monotonic() - ti.last_reload >= self._reload_interval:
                ti.index.reload()
                ti.last_reload = time.monotonic()
        if scope is not None:
            scope.pinned[tenant_id] = ti
        return ti

    def _follow_current(self, ti: _TenantIndex) -> _TenantIndex:
        """Reopen the tenant when CURRENT names another generation than the one open (an atomic switch)."""
        current = ti.path.parent / "CURRENT"
        key = _stat_key(current)
        if key is None or key == ti.current_stat:
            return ti
        if current.read_text().strip() == ti.path.name:
            ti.current_stat = key
            return ti
        with self._lock:
            if self._indexes.get(ti.tenant_id) is ti:
                del self._indexes[ti.tenant_id]
        log.info("tenant switched to %s", current.read_text().strip(), extra={"tenant": ti.tenant_id, "position": None})
        return self._open(ti.tenant_id, create=False)

    def _resolve_analyzer(self, tenant_id: int, meta: dict[str, Any]) -> Analyzer | None:
        return None if self.analyzer_resolver is None else self.analyzer_resolver(tenant_id, meta)

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer of the generation the current request reads (see `request_scope`), else the default."""
        scope = _SCOPE.get()
        if scope is not None and scope.tenant is not None:
            try:
                found = self._reader(scope.tenant).analyzer
            except UnknownTenant:
                found = None
            if found is not None:
                return found
        return self._default_analyzer

    @analyzer.setter
    def analyzer(self, value: Analyzer) -> None:
        self._default_analyzer = value

    def analyzer_for(self, tenant_id: int) -> Analyzer:
        try:
            return self._reader(tenant_id).analyzer or self._default_analyzer
        except UnknownTenant:
            return self._default_analyzer

    def _target(self, tenant_id: int, generation: str | None, *, create: bool) -> _TenantIndex:
        if generation is None:
            return self._open(tenant_id, create=create)
        with self._lock:
            found = self._building.get((tenant_id, generation))
        if found is not None:
            return found
        if generation == self.current_generation(tenant_id):
            return self._open(tenant_id, create=False)
        raise UnknownTenant(f"generation {generation} is not open for writing", tenant_id=tenant_id)

    def close(self) -> None:
        with self._lock:
            for ti in self._indexes.values():
                if ti.writer is not None:
                    ti.writer.wait_merging_threads()
            self._indexes.clear()

    # ---- meta (position, analyzer identity) -------------------------------------------------------
    def _read_meta(self, ti: _TenantIndex) -> dict[str, Any]:
        searcher = ti.index.searcher()
        hits = searcher.search(tantivy.Query.term_query(self.schema, "doc_key", META_KEY), 1).hits
        if not hits:
            return {}
        stored = searcher.doc(hits[0][1]).to_dict()["stored"][0]
        return dict(json.loads(bytes(stored)))

    def state(self, tenant_id: int) -> TenantState:
        ti = self._reader(tenant_id)
        if not self.writable:
            ti.meta = self._read_meta(ti)
        searcher = ti.index.searcher()
        visible = searcher.search(self._visible_filter(), 1, count=True).count  # type: ignore[attr-defined]
        applied = ti.meta.get("applied")
        return TenantState(
            tenant_id=tenant_id,
            documents=int(visible or 0),
            applied=None if applied is None else BinlogPosition.from_json(applied),
            analyzer=str(ti.meta.get("analyzer", "")),
            mapping_version=int(ti.meta.get("mapping_version", self.mapping.version)),
        )

    # ---- writes ----------------------------------------------------------------------------------
    def load(self, tenant_id: int, ticket_ids: Sequence[int], *, generation: str | None = None
             ) -> dict[int, StoredTicket]:
        try:
            ti = self._target(tenant_id, generation, create=False)
        except UnknownTenant:
            return {}
        wanted = set(ticket_ids)
        if ti.complete:
            wanted &= ti.versions.keys()
        if not wanted:
            return {}
        searcher = ti.index.searcher()
        query = tantivy.Query.term_set_query(self.schema, "ticket_id", list(wanted))
        result = searcher.search(query, len(wanted) + 1, count=False)
        found: dict[int, StoredTicket] = {}
        for _, addr in result.hits:
            doc = StoredTicket.from_json(bytes(searcher.doc(addr).to_dict()["stored"][0]))
            found[doc.ticket_id] = doc
            if self.writable:
                ti.remember(doc.ticket_id, doc.version)
        return found

    def write(self, tenant_id: int, docs: Sequence[StoredTicket], applied: BinlogPosition | None, *,
              generation: str | None = None, force: bool = False) -> WriteOutcome:
        """`force` is kept for callers of the former rule; equal versions always overwrite now."""
        if not self.writable:
            raise RuntimeError("backend opened read-only")
        ti = self._target(tenant_id, generation, create=True)
        analyzer = ti.analyzer or self._default_analyzer
        assert ti.writer is not None
        try:
            unknown = [d.ticket_id for d in docs if d.ticket_id not in ti.versions]
            if unknown and not ti.complete:
                self.load(tenant_id, unknown, generation=generation)  # fills ti.versions with what the index holds
            written = stale = 0
            for doc in docs:
                if doc.tenant_id != tenant_id:
                    raise ValueError(f"document {doc.doc_key} written to tenant {tenant_id}")
                old = ti.versions.get(doc.ticket_id)
                # lower: stale. Equal overwrites: documents are read-modify-write merges of their parts, so an equal
                # version can only add an older part (a replayed dead letter), never drop a newer one.
                if old is not None and old > doc.version:
                    stale += 1
                    continue
                if old is not None:
                    ti.writer.delete_documents_by_term("doc_key", doc.doc_key)
                ti.writer.add_document(self._to_tantivy(doc, analyzer))
                ti.remember(doc.ticket_id, doc.version)
                written += 1
            meta = dict(ti.meta)
            if applied is not None:
                meta["applied"] = applied.to_json()
            meta["analyzer"] = analyzer.identity
            meta["mapping_version"] = self.mapping.version
            ti.writer.delete_documents_by_term("doc_key", META_KEY)
            meta_doc = tantivy.Document()
            meta_doc.add_text("doc_key", META_KEY)
            meta_doc.add_integer("visible", 0)
            meta_doc.add_bytes("stored", json.dumps(meta).encode())
            ti.writer.add_document(meta_doc)
            ti.writer.commit()
            ti.index.reload()
            ti.meta = meta
        except BaseException:
            ti.writer.rollback()
            ti.versions.clear()  # it may name documents of the rolled-back batch
            ti.complete = False
            raise
        return WriteOutcome(written=written, stale=stale)

    def _to_tantivy(self, doc: StoredTicket, analyzer: Analyzer | None = None) -> tantivy.Document:
        analyzer = analyzer or self._default_analyzer
        values = index_values(doc, self.mapping)
        out = tantivy.Document()
        out.add_text("doc_key", doc.doc_key)
        out.add_integer("ticket_id", doc.ticket_id)
        out.add_integer("version", doc.version)
        out.add_integer("visible", 1 if doc.visible else 0)
        out.add_bytes("stored", doc.to_json().encode())
        if not doc.visible:
            return out  # tombstone: versioned, never matched
        out.add_integer("comment_count", len(values.texts.get("comments", [])))
        spaces = analyzer.terms_may_contain_spaces
        for name, texts in values.texts.items():
            for text in texts:
                plain_terms, sub_terms = self._terms(text, spaces, analyzer)
                out.add_text(name, plain_terms)
                if sub_terms:
                    out.add_text(name + SUB, sub_terms)
        for name, kws in values.keywords.items():
            for kw in kws:
                out.add_text(name, kw)
        for name, number in values.integers.items():
            out.add_integer(name, number)
        for name, obj in values.json_values.items():
            out.add_json(name, obj)
        return out

    def _terms(self, text: str, spaces: bool, analyzer: Analyzer | None = None) -> tuple[str, str]:
        """Whitespace-joined (plain, sub-word) terms of a text, cached: a document is rebuilt whole on every
        change of one of its rows, so its unchanged subject, body and comments are not analyzed again."""
        analyzer = analyzer or self._default_analyzer
        cache = self._terms_cache if analyzer is self._default_analyzer else \
            self._gen_terms.setdefault(analyzer.identity, {})
        found = cache.get(text)
        if found is not None:
            return found
        plain, sub = analyzer.index_terms(text)
        if spaces:
            plain, sub = list(map(term_text, plain)), list(map(term_text, sub))
        found = (" ".join(plain), " ".join(sub))
        if len(cache) >= TERMS_CACHE_LIMIT:
            cache.clear()
        cache[text] = found
        return found

    # ---- reads -----------------------------------------------------------------------------------
    def _visible_filter(self) -> tantivy.Query:
        return tantivy.Query.const_score_query(
            tantivy.Query.term_query(self.schema, "visible", 1, index_option="basic"), 0.0
        )

    def get(self, tenant_id: int, ticket_id: int) -> StoredTicket | None:
        ti = self._reader(tenant_id)
        searcher = ti.index.searcher()
        hits = searcher.search(tantivy.Query.term_query(self.schema, "ticket_id", ticket_id), 1).hits
        if not hits:
            return None
        return StoredTicket.from_json(bytes(searcher.doc(hits[0][1]).to_dict()["stored"][0]))

    def search(self, tenant_id: int, request: SearchRequest) -> SearchResult:
        from searchcore.embedded_search import search

        return search(self, tenant_id, request)

    def all_documents(self, tenant_id: int) -> list[StoredTicket]:
        """Every visible document of the tenant (verification and reconciliation; not for queries)."""
        ti = self._reader(tenant_id)
        searcher = ti.index.searcher()
        limit = max(1, searcher.num_docs)
        hits = searcher.search(self._visible_filter(), limit, count=False).hits
        return [StoredTicket.from_json(bytes(searcher.doc(addr).to_dict()["stored"][0])) for _, addr in hits]

    def searcher_for(self, tenant_id: int) -> tantivy.Searcher:
        return self._reader(tenant_id).index.searcher()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
