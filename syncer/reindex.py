"""Reindex of one tenant inside the running sync service: a new index generation, then an atomic switch.

Input: control requests (searchcore/control.py: reindex, cancel) served between two stream batches; the live
batches of the stream (`on_batch`, before the checkpoint moves); the source (consistent snapshots).
Output: job records <state>/jobs/<id>.json (phase, copied, rows/s, ETA, verification, Elasticsearch alias
actions); the tenant's CURRENT switched to the new generation; the old generation dropped.
Guarantee (no lost change): the new generation is a live target from a batch boundary before its snapshot
position P0, so it receives every change after P0 (and harmless older ones: versions); snapshot chunks are
written at their consistent read's version under the generation's lock (read-modify-write never interleaves
with a live write); the job record moves after the chunk's commit, so kill -9 resumes from the last completed
chunk with a new consistent read. Before the switch the generation is compared with MySQL per id range at a
position Pv the stream has passed (syncer/reconcile.py). The switch happens in the stream thread between
batches (both generations hold the same changes) with one rename of CURRENT; readers follow it.
Phases: snapshot -> catchup (verification) -> switching -> done | cancelled | failed | rejected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

from analyzers.dictionaries import DictionaryStore
from mappings import load_mapping
from searchcore import control
from searchcore.backend import SearchBackend, WriteOutcome
from searchcore.documents import StoredTicket
from searchcore.elastic_mapping import alias_swap_actions, dedicated_index
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition
from syncer.checkpoint import CheckpointStore
from syncer.deadletters import DeadLetterStore
from syncer.events import RowChange
from syncer.indexer import Indexer
from syncer.lookups import LookupDirectory
from syncer.reconcile import compare, expected_documents, repair_documents
from syncer.settings import SyncSettings
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import SourceMapping

log = logging.getLogger(__name__)
ACTIVE = ("snapshot", "catchup", "switching")
DROP_GRACE_S = 5.0          # an old generation outlives the switch this long (readers finishing a request)
VERIFY_ATTEMPTS = 3


class ReindexError(RuntimeError):
    def __init__(self, message: str, *, tenant_id: int, job_id: str, phase: str) -> None:
        super().__init__(f"reindex {job_id} of tenant {tenant_id} ({phase}): {message}")
        self.tenant_id, self.job_id, self.phase = tenant_id, job_id, phase


class _Stop(Exception):
    def __init__(self, cancelled: bool) -> None:
        super().__init__("cancelled" if cancelled else "service stopping")
        self.cancelled = cancelled


@dataclass(frozen=True)
class ReindexJob:
    id: str
    tenant: int
    phase: str = "snapshot"
    generation: str | None = None
    previous_generation: str | None = None
    dictionary_version: int | None = None
    mapping_version: int = 1
    throttle_rows_s: float | None = None
    snapshot_at: dict[str, Any] | None = None       # P0 of the first consistent read
    resumed_at: tuple[dict[str, Any], ...] = ()      # consistent reads after restarts
    after_id: int = 0                                # last ticket id copied (the resume point)
    copied: int = 0
    total: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    copy_seconds: float = 0.0
    rows_per_s: float = 0.0
    eta_s: float | None = None
    verify: dict[str, Any] | None = None
    verify_attempts: int = 0
    error: str | None = None
    elasticsearch_actions: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReindexJob:
        names = set(cls.__dataclass_fields__)
        clean = {k: v for k, v in data.items() if k in names}
        clean["resumed_at"] = tuple(clean.get("resumed_at", ()))
        clean["elasticsearch_actions"] = tuple(clean.get("elasticsearch_actions", ()))
        return cls(**clean)


class GenerationTarget:
    """The SearchBackend face of one generation being built (what the job's Indexer writes to)."""

    def __init__(self, backend: EmbeddedBackend, tenant: int, generation: str) -> None:
        self.backend, self.tenant, self.generation = backend, tenant, generation

    def load(self, tenant_id: int, ticket_ids: Sequence[int]) -> dict[int, StoredTicket]:
        return self.backend.load(tenant_id, ticket_ids, generation=self.generation)

    def write(self, tenant_id: int, docs: Sequence[StoredTicket], applied: BinlogPosition | None) -> WriteOutcome:
        if tenant_id != self.tenant:
            raise ValueError(f"generation {self.generation} of tenant {self.tenant} got tenant {tenant_id}")
        # force: the Indexer merged `docs` with this generation's stored documents under the job lock, so they are
        # never older per part; a snapshot row merged under a newer live part leaves the document version unchanged
        return self.backend.write(tenant_id, docs, applied, generation=self.generation, force=True)


class _Run:
    """One job being executed: its thread (snapshot, verification) and its live-apply path."""

    def __init__(self, mgr: ReindexManager, job: ReindexJob) -> None:
        assert job.generation is not None
        self.mgr, self.job, self.gen = mgr, job, job.generation
        self.lock = threading.Lock()
        self.cancel, self.stop, self.ready, self.finished = (threading.Event() for _ in range(4))
        self.lookups = LookupDirectory(mgr.mapping, None)
        target = cast(SearchBackend, GenerationTarget(mgr.backend, job.tenant, self.gen))
        self.indexer = Indexer(target, mgr.mapping, self.lookups, mgr.deadletters,
                               max_document_bytes=mgr.settings.max_document_bytes)
        self.outcome: tuple[str, str | None] | None = None
        self.thread = threading.Thread(target=self._main, name=f"reindex-{job.id}", daemon=True)

    def save(self, **changes: Any) -> None:
        self.job = replace(self.job, updated_at=time.time(), **changes)
        control.write_json_atomic(control.job_path(self.mgr.settings.state_dir, self.job.id), self.job.to_json())

    def apply_live(self, changes: list[RowChange], end: BinlogPosition) -> None:
        with self.lock:
            self.indexer.apply(changes, end)

    def _check(self) -> None:
        if self.cancel.is_set() or self.stop.is_set():
            raise _Stop(self.cancel.is_set())

    def _main(self) -> None:
        try:
            if self.job.phase == "snapshot":
                self._copy()
            if self.job.phase == "catchup":
                self._verify()
            self.ready.set()
        except _Stop as exc:
            self.outcome = ("cancelled", None) if exc.cancelled else None
        except Exception as exc:  # noqa: BLE001 - recorded in the job, the service goes on
            log.exception("reindex failed", extra={"tenant": self.job.tenant, "position": self.job.snapshot_at})
            self.outcome = ("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.set()

    def _copy(self) -> None:
        mgr, tenant = self.mgr, self.job.tenant
        chunk_rows = mgr.settings.snapshot_chunk_rows
        if self.job.throttle_rows_s:
            chunk_rows = max(20, min(chunk_rows, int(self.job.throttle_rows_s)))
        with ConsistentSnapshot(mgr.settings.source, mgr.mapping, mgr.epoch()) as cs:
            assert cs.position is not None
            pos = cs.position.to_json()
            if self.job.snapshot_at is None:
                self.save(snapshot_at=pos, total=_count(cs, mgr.mapping, tenant))
            else:
                self.save(resumed_at=(*self.job.resumed_at, pos))
            log.info("reindex %s snapshot at %s after id %d", self.job.id, cs.position, self.job.after_id,
                     extra={"tenant": tenant, "position": str(cs.position)})
            cs.load_lookups(self.lookups, tenant)
            started, copied_here, spent = time.monotonic(), 0, self.job.copy_seconds
            for chunk in cs.chunks(tenant, self.job.after_id, chunk_rows):
                self._check()
                with self.lock:
                    self.indexer.apply(chunk.changes, None)
                copied_here += chunk.tickets
                if self.job.throttle_rows_s:
                    ahead = copied_here / self.job.throttle_rows_s - (time.monotonic() - started)
                    if ahead > 0:
                        self.stop.wait(ahead)
                seconds = spent + time.monotonic() - started
                copied = self.job.copied + chunk.tickets
                rate = copied / max(seconds, 1e-6)
                self.save(after_id=chunk.last_id, copied=copied, copy_seconds=seconds, rows_per_s=round(rate, 1),
                          eta_s=round(max(self.job.total - copied, 0) / max(rate, 1e-6), 1))
        self.save(phase="catchup", eta_s=0.0)

    def _verify(self) -> None:
        mgr, tenant = self.mgr, self.job.tenant
        for attempt in range(1, VERIFY_ATTEMPTS + 1):
            self._check()
            with ConsistentSnapshot(mgr.settings.source, mgr.mapping, mgr.epoch()) as cs:
                assert cs.position is not None
                pv, version = cs.position, cs.version
                expected = expected_documents(cs, mgr.mapping, LookupDirectory(mgr.mapping, None), tenant,
                                              mgr.settings.snapshot_chunk_rows)
            while mgr.applied is None or mgr.applied < pv:     # catch-up: the stream passes Pv
                self._check()
                time.sleep(0.02)
            report = compare(tenant, expected, mgr.backend.stored_documents(tenant, self.gen), version,
                             pv.to_json(), self.gen)
            summary = report.to_json()
            if attempt == 1:
                summary["first_attempt_clean"] = report.clean
            self.save(verify={**(self.job.verify or {}), **summary}, verify_attempts=attempt)
            log.info("reindex %s verification %d: %s", self.job.id, attempt, "clean" if report.clean else "drift",
                     extra={"tenant": tenant, "position": str(pv)})
            if report.clean:
                self.save(phase="switching")
                return
            with self.lock:
                current = mgr.backend.load(tenant, report.drifted_ids(), generation=self.gen)
                mgr.backend.write(tenant, repair_documents(report, expected, current), None, generation=self.gen,
                                  force=True)
        raise ReindexError("verification found drift after repairs", tenant_id=tenant, job_id=self.job.id,
                           phase="catchup")


def _count(cs: ConsistentSnapshot, mapping: SourceMapping, tenant: int) -> int:
    doc = mapping.document
    with cs._conn.cursor() as cur:  # noqa: SLF001 - the same consistent read
        cur.execute(f"SELECT COUNT(*) AS n FROM `{doc.table}` WHERE `{doc.tenant_column}` = %s", (tenant,))
        return int(cur.fetchone()["n"])


class ReindexManager:
    """Owned by the SyncService; every method but the job threads runs in the stream thread."""

    def __init__(self, settings: SyncSettings, backend: EmbeddedBackend, mapping: SourceMapping,
                 deadletters: DeadLetterStore, dictionaries: DictionaryStore) -> None:
        self.settings, self.backend, self.mapping = settings, backend, mapping
        self.deadletters, self.dictionaries = deadletters, dictionaries
        self.applied: BinlogPosition | None = None
        self.running: dict[str, _Run] = {}
        self.background: list[threading.Thread] = []
        self._drops: list[tuple[float, int, str]] = []
        self._tasks: list[tuple[Any, threading.Event]] = []
        self._tasks_lock = threading.Lock()
        self._beat = 0.0
        self._tenant_cols = {mapping.document.table: mapping.document.tenant_column}
        for child in mapping.children:
            self._tenant_cols[child.table] = child.tenant_column
            if child.lookup is not None:
                self._tenant_cols[child.lookup.table] = child.lookup.tenant_column

    def epoch(self) -> int:
        ckpt = CheckpointStore(self.settings.state_dir).load()
        return 1 if ckpt is None else ckpt.epoch

    # ---- stream-thread hooks -------------------------------------------------------------------------
    def resume(self, position: BinlogPosition | None) -> None:
        """At stream start: reopen unfinished jobs (live targets before the first batch), drop orphans."""
        self.applied = position
        building = {(r.job.tenant, r.gen) for r in self.running.values()}
        for data in control.list_jobs(self.settings.state_dir):
            job = ReindexJob.from_json(data)
            if job.phase not in ACTIVE or job.generation is None or job.id in self.running:
                continue
            if self.backend.current_generation(job.tenant) == job.generation:
                self._finish_switch(_Run(self, job), previous=job.previous_generation)   # crashed mid-switch
                continue
            self.backend.open_generation(job.tenant, job.generation)
            run = _Run(self, job)
            run.save()
            self.running[job.id] = run
            building.add((job.tenant, job.generation))
            log.info("reindex %s resumed in phase %s after id %d", job.id, job.phase, job.after_id,
                     extra={"tenant": job.tenant, "position": str(position)})
            run.thread.start()
        for tenant in self.backend.tenants():
            current = self.backend.current_generation(tenant)
            for gen in self.backend.generations(tenant):
                if gen != current and (tenant, gen) not in building:
                    self.backend.drop_generation(tenant, gen)

    def on_batch(self, changes: list[RowChange], end: BinlogPosition) -> None:
        """After the active generations took the batch, before the checkpoint moves: the building ones too."""
        for run in list(self.running.values()):
            mine = [c for c in changes if self._tenant_of(c) == run.job.tenant]
            if mine:
                run.apply_live(mine, end)
        self.applied = end

    def _tenant_of(self, change: RowChange) -> int | None:
        row = change.after if change.after is not None else change.before
        col = self._tenant_cols.get(change.table)
        return None if row is None or col is None or row.get(col) is None else int(row[col])

    def poll(self) -> None:
        """Between two batches: serve requests, switch ready jobs, finish stopped ones, drop old generations."""
        now = time.monotonic()
        if now - self._beat > 1.0:
            self._beat = now
            control.heartbeat(self.settings.state_dir)
        for req in control.pending(self.settings.state_dir):
            try:
                self._serve(req)
            except Exception as exc:  # noqa: BLE001 - a bad request must not stop the stream
                log.exception("control request %s failed", req.id, extra={"tenant": req.tenant, "position": None})
                control.write_json_atomic(control.result_path(self.settings.state_dir, req.id), {"error": str(exc)})
            control.served(self.settings.state_dir, req)
        for run in list(self.running.values()):
            if run.finished.is_set() and run.outcome is not None:
                self.running.pop(run.job.id)
                self.backend.drop_generation(run.job.tenant, run.gen)
                run.save(phase=run.outcome[0], error=run.outcome[1])
            elif run.ready.is_set():
                self._switch(run)
        for due in [d for d in self._drops if d[0] <= now]:
            self._drops.remove(due)
            self.backend.drop_generation(due[1], due[2])
        with self._tasks_lock:
            tasks, self._tasks = self._tasks, []
        for task, done in tasks:
            task()
            done.set()

    def run_in_stream(self, task: Any) -> None:
        """For worker threads (reconcile repairs): run `task` in the stream thread and wait for it."""
        done = threading.Event()
        with self._tasks_lock:
            self._tasks.append((task, done))
        done.wait()

    def _switch(self, run: _Run) -> None:
        tenant = run.job.tenant
        with run.lock:
            self.backend.write(tenant, [], self.applied, generation=run.gen)   # the position both hold
            previous = self.backend.switch_generation(tenant, run.gen)
        self.running.pop(run.job.id, None)
        self._finish_switch(run, previous)

    def _finish_switch(self, run: _Run, previous: str | None) -> None:
        tenant, mv = run.job.tenant, run.job.mapping_version
        self.dictionaries.mark_active(tenant, run.job.dictionary_version)
        actions: tuple[dict[str, Any], ...] = ()
        if previous is not None and run.gen[4:].isdigit() and previous[4:].isdigit():
            actions = tuple(alias_swap_actions("ts", tenant, dedicated_index("ts", mv, tenant, int(previous[4:])),
                                               dedicated_index("ts", mv, tenant, int(run.gen[4:])), drop_old=True))
            self._drops.append((time.monotonic() + DROP_GRACE_S, tenant, previous))
        run.save(phase="done", previous_generation=previous, elasticsearch_actions=actions, eta_s=0.0)
        log.info("reindex %s switched tenant to %s (was %s)", run.job.id, run.gen, previous,
                 extra={"tenant": tenant, "position": str(self.applied)})

    def _serve(self, req: control.ControlRequest) -> None:
        if req.kind == "cancel":
            run = self.running.get(str(req.params.get("job")))
            if run is not None and run.job.phase != "switching":
                run.cancel.set()
            return
        if req.kind == "reconcile":
            from syncer.reconcile_service import start_reconcile

            self.background.append(start_reconcile(self, req))
            return
        if control.read_job(self.settings.state_dir, req.id) is not None:
            return      # served before a crash
        assert req.tenant is not None
        tenant = int(req.tenant)
        job = ReindexJob(req.id, tenant, throttle_rows_s=req.params.get("throttle"),
                         mapping_version=int(req.params.get("mapping_version") or self.settings.mapping_version))
        busy = [r.job.id for r in self.running.values() if r.job.tenant == tenant]
        problem = f"a reindex of this tenant is running: {busy[0]}" if busy else None
        if problem is None and self.backend.current_generation(tenant) is None:
            problem = "the tenant has no index yet (nothing synced for it)"
        version = req.params.get("dictionary_version")
        try:
            load_mapping("tickets", job.mapping_version)
            if version is None:
                version = self.dictionaries.state(tenant)["active"]
            analyzer = self.backend.analyzer if version is None else self.dictionaries.analyzer(tenant, int(version))
        except (ValueError, FileNotFoundError) as exc:
            problem = problem or str(exc)
        if problem is not None:
            control.write_json_atomic(control.job_path(self.settings.state_dir, req.id),
                                      replace(job, phase="rejected", error=problem).to_json())
            return
        dv = None if version is None else int(version)
        gen = self.backend.create_generation(tenant, analyzer, {"dictionary": dv, "job": req.id})
        run = _Run(self, replace(job, generation=gen, dictionary_version=dv))
        run.save()
        self.running[req.id] = run
        log.info("reindex %s of tenant into %s (dictionary %s)", req.id, gen, dv,
                 extra={"tenant": tenant, "position": str(self.applied)})
        run.thread.start()

    def close(self) -> None:
        for run in self.running.values():
            run.stop.set()
        for run in self.running.values():
            run.thread.join(timeout=30)
