"""Lag of the Kafka indexer group, measured against the binlog (never Kafka end offsets: Tansu reports them
wrongly).

Input: the members' status files (<state>/kafka/<member>.json: per partition the last applied watermark), the
change topic's real partition count and id, the source's current binlog position. Output: synced or not, the
slowest partition's position, bytes and ms behind. Guarantee: watermarks of an older incarnation of the topic
(another topic id) never count.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from searchcore.positions import BinlogPosition


def member_statuses(state_dir: Path) -> list[dict[str, Any]]:
    """Every member's status file (<state>/kafka/<member>.json; other files there, e.g. held-*.json, skipped)."""
    out = []
    for path in (state_dir / "kafka").glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "member" in data:
            out.append(data)
    return out


def applied_watermarks(state_dir: Path, topic_id: str | None = None,
                       statuses: list[dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    """Per partition, the furthest binlog watermark any member has applied and committed (only members that
    read the topic of `topic_id`, when given: a re-created topic starts a new history)."""
    best: dict[int, dict[str, Any]] = {}
    for data in member_statuses(state_dir) if statuses is None else statuses:
        if topic_id is not None and data.get("topic_id") not in (None, topic_id):
            continue
        for p, w in data.get("partitions", {}).items():
            cur = best.get(int(p))
            pos = BinlogPosition.from_json(w["position"])
            if cur is None or BinlogPosition.from_json(cur["position"]) < pos:
                best[int(p)] = w
    return best


def lag(state_dir: Path, partitions: int, source_position: BinlogPosition,
        topic_id: str | None = None) -> dict[str, Any]:
    """How far the index is behind the source: the slowest partition's binlog watermark (position, bytes when
    in the same file, and the time since the source was there). Kafka end offsets are never used.
    `partitions`: the topic's real partition count; `topic_id`: its id (older incarnations do not count)."""
    marks = {p: w for p, w in applied_watermarks(state_dir, topic_id).items() if p < partitions}
    if len(marks) < partitions:
        return {"synced": False, "partitions": partitions, "partitions_seen": len(marks),
                "source": source_position.to_json()}
    slowest = min(marks.values(), key=lambda w: BinlogPosition.from_json(w["position"]).key())
    pos = BinlogPosition.from_json(slowest["position"])
    behind_bytes = source_position.offset - pos.offset if pos.file == source_position.file else None
    return {"synced": source_position <= pos, "source": source_position.to_json(), "applied": pos.to_json(),
            "behind_bytes": behind_bytes, "behind_ms": max(0, int(time.time() * 1000) - int(slowest["observed_ms"]))}


def group_position(state_dir: Path) -> BinlogPosition | None:
    """The position the Kafka indexer group has applied everything before, in every partition of the change topic
    (the latest incarnation the members report): the slowest partition's watermark; None until every partition
    has one."""
    statuses = member_statuses(state_dir)
    if not statuses:
        return None
    latest = max(statuses, key=lambda d: int(d.get("updated_ms") or 0))
    total = int(latest.get("partitions_total") or 0)
    if total < 1:
        return None
    marks = {p: w for p, w in applied_watermarks(state_dir, latest.get("topic_id"), statuses).items() if p < total}
    if len(marks) < total:
        return None
    return min((BinlogPosition.from_json(w["position"]) for w in marks.values()), key=lambda pos: pos.key())


def synced_position(state_dir: Path) -> BinlogPosition | None:
    """Where the indexes of a state folder are complete up to: the sync service's checkpoint, or (distributed
    pipeline) the Kafka indexer group's position."""
    try:
        data = json.loads((state_dir / "checkpoint.json").read_text("utf-8"))
        if data.get("position") is not None:
            return BinlogPosition.from_json(data["position"])
    except (OSError, ValueError):
        pass
    return group_position(state_dir)
