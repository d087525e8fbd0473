"""The sync service's checkpoint: the binlog position before which every change is durably indexed.

Input/output: <state_dir>/checkpoint.json, written atomically (temp file, fsync, rename).
Guarantee: saved only after the index commits that cover it, and only at transaction boundaries, so a
crash at any point resumes at or before the last durable change (replays are harmless: versions).
The file also records an unfinished initial snapshot, so a restart resumes it instead of streaming,
and the version epoch with the source identity it belongs to: a new binlog history (RESET MASTER,
failover, another server id or GTID domain) raises the epoch, so every version written afterwards
outranks every older one, and forces a re-snapshot (position None) in the new epoch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from searchcore.positions import BinlogPosition


@dataclass(frozen=True)
class SnapshotProgress:
    started_at: BinlogPosition          # P0 of the first attempt: streaming resumes here
    tenants_done: tuple[int, ...] = ()
    tenant: int | None = None           # tenant in progress
    after_id: int = 0                   # last ticket id copied of that tenant


@dataclass(frozen=True)
class Checkpoint:
    position: BinlogPosition | None     # None until the initial snapshot is complete
    epoch: int = 1
    snapshot: SnapshotProgress | None = None
    source: str | None = None           # the source's identity (server_id/gtid_domain_id) of this epoch

    def to_json(self) -> dict[str, Any]:
        snap = None
        if self.snapshot is not None:
            snap = {
                "started_at": self.snapshot.started_at.to_json(),
                "tenants_done": list(self.snapshot.tenants_done),
                "tenant": self.snapshot.tenant,
                "after_id": self.snapshot.after_id,
            }
        return {"position": None if self.position is None else self.position.to_json(),
                "epoch": self.epoch, "snapshot": snap, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        snap = data.get("snapshot")
        return cls(
            position=None if data.get("position") is None else BinlogPosition.from_json(data["position"]),
            epoch=int(data.get("epoch", 1)),
            snapshot=None if snap is None else SnapshotProgress(
                started_at=BinlogPosition.from_json(snap["started_at"]),
                tenants_done=tuple(int(t) for t in snap.get("tenants_done", [])),
                tenant=snap.get("tenant"),
                after_id=int(snap.get("after_id", 0)),
            ),
            source=data.get("source"),
        )

    def advanced(self, position: BinlogPosition) -> Checkpoint:
        return replace(self, position=position)


class CheckpointStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "checkpoint.json"
        state_dir.mkdir(parents=True, exist_ok=True)

    def load(self) -> Checkpoint | None:
        if not self.path.exists():
            return None
        return Checkpoint.from_json(json.loads(self.path.read_text(encoding="utf-8")))

    def save(self, checkpoint: Checkpoint) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(checkpoint.to_json(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
