"""Running a reconciliation: inside the sync service (a worker thread; repairs run in the stream thread, which
owns the writers) or offline from the CLI when no service runs.

Input: a tenant (or all), `repair`. Output: one `ReconcileReport` per tenant; in the service, the result file
<state>/control/results/<request id>.json.
Guarantee: the index is compared only after the stream has applied the snapshot position Pv (in the service),
so lag is never reported as drift; repairs write only drifted tickets, in the thread that owns the writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from searchcore import control
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition
from syncer.lookups import LookupDirectory
from syncer.reconcile import ReconcileReport, compare, expected_documents, repair_documents
from syncer.settings import SyncSettings
from syncer.snapshot import ConsistentSnapshot
from syncer.source_mapping import SourceMapping

if TYPE_CHECKING:
    from syncer.reindex import ReindexManager

log = logging.getLogger(__name__)


def reconcile_tenant(settings: SyncSettings, backend: EmbeddedBackend, mapping: SourceMapping, tenant: int,
                     epoch: int, *, repair: bool, wait_for: Callable[[BinlogPosition], None] | None = None,
                     run_writes: Callable[[Callable[[], None]], None] | None = None) -> ReconcileReport:
    with ConsistentSnapshot(settings.source, mapping, epoch) as cs:
        assert cs.position is not None
        pv, version = cs.position, cs.version
        expected = expected_documents(cs, mapping, LookupDirectory(mapping, None), tenant,
                                      settings.snapshot_chunk_rows)
    if wait_for is not None:
        wait_for(pv)
    generation = backend.current_generation(tenant)
    stored = backend.stored_documents(tenant) if generation is not None else []
    report = compare(tenant, expected, stored, version, pv.to_json(), generation)
    log.info("reconcile: %s", "clean" if report.clean else f"{len(report.drifted_ids())} drifted tickets",
             extra={"tenant": tenant, "position": str(pv)})
    if not repair or report.clean:
        return report
    repaired = [0]

    def task() -> None:
        current = backend.load(tenant, report.drifted_ids())
        docs = repair_documents(report, expected, current)
        if docs:
            backend.write(tenant, docs, None, force=True)
        repaired[0] = len(docs)

    (run_writes or (lambda t: t()))(task)
    return replace(report, repaired=repaired[0])


def start_reconcile(mgr: ReindexManager, req: control.ControlRequest) -> threading.Thread:
    def wait_for(pv: BinlogPosition) -> None:
        while mgr.applied is None or mgr.applied < pv:
            time.sleep(0.02)

    def main() -> None:
        tenants = [int(req.tenant)] if req.tenant is not None else mgr.backend.tenants()
        out: dict[str, Any] = {"id": req.id, "tenants": []}
        try:
            for tenant in tenants:
                report = reconcile_tenant(mgr.settings, mgr.backend, mgr.mapping, tenant, mgr.epoch(),
                                          repair=bool(req.params.get("repair")), wait_for=wait_for,
                                          run_writes=mgr.run_in_stream)
                out["tenants"].append(report.to_json())
            out["clean"] = all(t["clean"] for t in out["tenants"])
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            log.exception("reconcile failed", extra={"tenant": req.tenant, "position": None})
            out["error"] = f"{type(exc).__name__}: {exc}"
        control.write_json_atomic(control.result_path(mgr.settings.state_dir, req.id), out)

    thread = threading.Thread(target=main, name=f"reconcile-{req.id}", daemon=True)
    thread.start()
    return thread
