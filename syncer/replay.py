"""Replay of dead-lettered row changes after their cause is fixed.

Input: the dead-letter store. Output: the changes applied through the normal versioned indexer path;
the ones that now succeed are marked replayed, the ones that fail again stay (with no duplicate row).
When the sync service is running it owns the index writers, so the CLI leaves a request file that the
service serves between two batches, and waits for its answer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from syncer.deadletters import DeadLetterStore
from syncer.indexer import Indexer
from syncer.lookups import LookupDirectory
from syncer.settings import SyncSettings
from syncer.source_mapping import load_source_mapping

REQUEST = "replay.request"
RESULT = "replay.result"


def replay_with(indexer: Indexer, store: DeadLetterStore, tenant_id: int | None = None) -> dict[str, Any]:
    replayed: list[int] = []
    failed: list[dict[str, Any]] = []
    scratch = DeadLetterStore(Path(":memory:"))
    real_sink = indexer.deadletters
    indexer.deadletters = scratch
    try:
        for letter in store.entries(tenant_id=tenant_id):
            report = indexer.apply([letter.change], None)
            if report.dead_lettered:
                failed.append({"id": letter.id, "reason": scratch.entries()[-1].reason})
            else:
                replayed.append(letter.id)
    finally:
        indexer.deadletters = real_sink
        scratch.close()
    store.mark_replayed(replayed)
    return {"replayed": len(replayed), "failed": len(failed), "failures": failed}


def serve_pending_request(indexer: Indexer, store: DeadLetterStore, state_dir: Path) -> bool:
    """Called by the running service between batches. The request file may name one tenant
    (`{"tenant_id": T}`, as the admin API writes it); otherwise every pending dead letter is replayed."""
    request = state_dir / REQUEST
    if not request.exists():
        return False
    tenant_id: int | None = None
    try:
        asked = json.loads(request.read_text(encoding="utf-8"))
        if isinstance(asked, dict) and asked.get("tenant_id") is not None:
            tenant_id = int(asked["tenant_id"])
    except (ValueError, OSError):
        pass  # the CLI's plain request: all tenants
    result = replay_with(indexer, store, tenant_id)
    tmp = state_dir / (RESULT + ".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, state_dir / RESULT)
    request.unlink(missing_ok=True)
    return True


def replay_deadletters(settings: SyncSettings, *, wait_s: float = 120.0) -> dict[str, Any]:
    from syncer.service import open_backend
    from syncer.statelock import SyncAlreadyRunning, lock_state_dir, unlock_state_dir

    try:
        lock = lock_state_dir(settings.state_dir)  # no service runs: replay here, holding its lock meanwhile
    except SyncAlreadyRunning:
        return _ask_running_service(settings, wait_s)
    try:
        store = DeadLetterStore(settings.state_dir / "deadletters.sqlite")
        mapping = load_source_mapping(settings.source_mapping_path)
        backend = open_backend(settings, writable=True)
        lookups = LookupDirectory(mapping, settings.source)
        indexer = Indexer(backend, mapping, lookups, store, max_document_bytes=settings.max_document_bytes)
        try:
            return replay_with(indexer, store)
        finally:
            backend.close()
    finally:
        unlock_state_dir(lock)


def _ask_running_service(settings: SyncSettings, wait_s: float) -> dict[str, Any]:
    """The running service owns the index writers: leave it a request and wait for its answer."""
    (settings.state_dir / RESULT).unlink(missing_ok=True)
    (settings.state_dir / REQUEST).write_text(str(time.time()), encoding="utf-8")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        result_path = settings.state_dir / RESULT
        if result_path.exists():
            result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
            result_path.unlink()
            result["served_by_running_service"] = True
            return result
        time.sleep(0.1)
    raise TimeoutError(f"the sync service did not answer the replay request within {wait_s:.0f} s")
