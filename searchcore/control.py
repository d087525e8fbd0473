"""The control channel between admin callers (API process, CLI) and the running sync service: files in the
state dir, shared by `queryapi` and `syncer` (which must not import each other).

Input: requests `{"id", "kind", "tenant", "params"}` written atomically to <state>/control/requests/<id>.json
(kind: reindex | cancel | reconcile). Output: job records <state>/jobs/<id>.json and results
<state>/control/results/<id>.json, written atomically by the service.
Guarantee: a reader sees a whole file or none (temp file, fsync, rename); a request is deleted only after the
service has recorded what it did with it, so a crash in between serves it again (idempotent by id).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("reindex", "cancel", "reconcile")


class ControlError(ValueError):
    def __init__(self, message: str, *, kind: str | None = None, tenant_id: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class ControlRequest:
    id: str
    kind: str
    tenant: int | None
    params: dict[str, Any] = field(default_factory=dict)


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _requests_dir(state_dir: Path) -> Path:
    return state_dir / "control" / "requests"


def submit(state_dir: Path, kind: str, tenant: int | None, params: dict[str, Any] | None = None) -> str:
    """Leave a request for the service; returns its id (also the job id of a reindex)."""
    if kind not in KINDS:
        raise ControlError(f"unknown request kind {kind!r}; known: {KINDS}", kind=kind, tenant_id=tenant)
    prefix = {"reindex": "ri", "cancel": "cx", "reconcile": "rc"}[kind]
    req_id = f"{prefix}-{'all' if tenant is None else tenant}-{int(time.time() * 1000)}-{secrets.token_hex(3)}"
    write_json_atomic(_requests_dir(state_dir) / f"{req_id}.json",
                      {"id": req_id, "kind": kind, "tenant": tenant, "params": params or {}})
    return req_id


def pending(state_dir: Path) -> list[ControlRequest]:
    folder = _requests_dir(state_dir)
    if not folder.exists():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        data = read_json(path)
        if isinstance(data, dict) and data.get("kind") in KINDS:
            out.append(ControlRequest(str(data["id"]), str(data["kind"]), data.get("tenant"), data.get("params") or {}))
    return out


def served(state_dir: Path, request: ControlRequest) -> None:
    (_requests_dir(state_dir) / f"{request.id}.json").unlink(missing_ok=True)


def is_pending(state_dir: Path, req_id: str) -> bool:
    return (_requests_dir(state_dir) / f"{req_id}.json").exists()


def job_path(state_dir: Path, job_id: str) -> Path:
    return state_dir / "jobs" / f"{job_id}.json"


def read_job(state_dir: Path, job_id: str) -> dict[str, Any] | None:
    data = read_json(job_path(state_dir, job_id))
    return data if isinstance(data, dict) else None


def list_jobs(state_dir: Path, tenant: int | None = None) -> list[dict[str, Any]]:
    folder = state_dir / "jobs"
    jobs = [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.exists() else []
    return [j for j in jobs if isinstance(j, dict) and (tenant is None or j.get("tenant") == tenant)]


def result_path(state_dir: Path, req_id: str) -> Path:
    return state_dir / "control" / "results" / f"{req_id}.json"


def read_result(state_dir: Path, req_id: str) -> dict[str, Any] | None:
    data = read_json(result_path(state_dir, req_id))
    return data if isinstance(data, dict) else None


def service_alive(state_dir: Path, within_s: float = 5.0) -> bool:
    """The service touches <state>/control/heartbeat between batches."""
    try:
        return time.time() - (state_dir / "control" / "heartbeat").stat().st_mtime < within_s
    except FileNotFoundError:
        return False


def heartbeat(state_dir: Path) -> None:
    path = state_dir / "control" / "heartbeat"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
