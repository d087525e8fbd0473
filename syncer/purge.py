"""Tenant offboarding: `ticketsearch tenant purge T`.

Input: sync settings (state folder, source database) and a tenant id. Output: a PurgeReport of what was removed.
Guarantee: afterwards nothing of the tenant is stored or readable through this product: its index (every
generation), per-tenant dictionaries and synonyms, reindex and other per-tenant checkpoints, dead letters,
metrics status entries and API keys are deleted, and the tenant is recorded in `<state>/purged_tenants.json`,
which the API refuses (403 `tenant_purged`) for any credential, JWTs included.
The source rows belong to the helpdesk: delete them first (the command refuses while tickets of the tenant
remain in the source, unless `force`), or a later change would index them again. Run it with the sync stopped
(the sync process keeps its index writers open); the API picks the purge up at once.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pymysql

from queryapi.auth import delete_tenant_keys, mark_purged
from syncer.settings import SyncSettings

log = logging.getLogger(__name__)


class PurgeRefused(Exception):
    def __init__(self, tenant_id: int, reason: str) -> None:
        super().__init__(f"tenant {tenant_id}: {reason}")
        self.tenant_id = tenant_id
        self.reason = reason


@dataclass(frozen=True)
class PurgeReport:
    tenant_id: int
    removed_paths: tuple[str, ...]
    api_keys: int
    deadletters: int


def _source_tickets(settings: SyncSettings, tenant_id: int) -> int:
    conn = pymysql.connect(**settings.source.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM tickets WHERE tenant_id=%s", (tenant_id,))
            row = cur.fetchone()
    finally:
        conn.close()
    return int(row[0]) if row else 0


def _per_tenant_paths(state_dir: Path, tenant_id: int) -> list[Path]:
    """Everything under the state folder that belongs to one tenant, by the layouts the product uses."""
    t = str(tenant_id)
    found: list[Path] = []
    for folder in ("index/tenants", "synonyms", "dictionaries", "reindex", "generations"):
        base = state_dir / folder
        if not base.is_dir():
            continue
        for p in base.iterdir():
            stem = p.name.split(".", 1)[0]
            if stem == t or stem.startswith(t + "-") or stem.startswith(f"tenant-{t}") or p.name == t:
                found.append(p)
    metrics = state_dir / "metrics"
    if metrics.is_dir():
        found.extend(p for p in metrics.glob(f"reindex-{t}.*"))
    return found


def _scrub_metrics(state_dir: Path, tenant_id: int) -> None:
    for path in (state_dir / "metrics").glob("*.json") if (state_dir / "metrics").is_dir() else []:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        changed = False
        for section in ("latency", "reindex"):
            if str(tenant_id) in (data.get(section) or {}):
                del data[section][str(tenant_id)]
                changed = True
        if changed:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data), "utf-8")
            tmp.replace(path)


def purge_tenant(settings: SyncSettings, tenant_id: int, *, force: bool = False) -> PurgeReport:
    from syncer.statelock import SyncAlreadyRunning, lock_state_dir, unlock_state_dir

    try:
        lock = lock_state_dir(settings.state_dir)  # the running service owns the index writers
    except SyncAlreadyRunning as exc:
        raise PurgeRefused(tenant_id, f"the sync service (pid {exc.owner or '?'}) is running; stop it first") from exc
    try:
        return _purge(settings, tenant_id, force=force)
    finally:
        unlock_state_dir(lock)


def _purge(settings: SyncSettings, tenant_id: int, *, force: bool) -> PurgeReport:
    left = _source_tickets(settings, tenant_id)
    if left and not force:
        raise PurgeRefused(tenant_id, f"{left} tickets are still in the source database; delete them first "
                                      "(or pass --force: a later change would index them again)")
    mark_purged(settings.state_dir / "purged_tenants.json", [tenant_id])   # first: the API refuses at once
    removed = []
    for path in _per_tenant_paths(settings.state_dir, tenant_id):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(settings.state_dir)))
    _scrub_metrics(settings.state_dir, tenant_id)
    dead = 0
    dl_path = settings.state_dir / "deadletters.sqlite"
    if dl_path.exists():
        db = sqlite3.connect(str(dl_path))
        try:
            dead = db.execute("DELETE FROM deadletters WHERE tenant_id = ?", (tenant_id,)).rowcount
            db.commit()
            db.execute("VACUUM")   # deleted payloads must not linger in free pages
        finally:
            db.close()
    keys = delete_tenant_keys(settings.source, tenant_id)
    log.warning("tenant purged: %d paths, %d API keys, %d dead letters", len(removed), keys, dead,
                extra={"tenant": tenant_id})
    return PurgeReport(tenant_id, tuple(removed), keys, dead)
