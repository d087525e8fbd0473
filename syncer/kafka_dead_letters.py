"""Dead letters of the Kafka indexer, between the Indexer that finds them and the dead-letter topic.

Input: the poison changes the Indexer reports (`add`, as a DeadLetterStore) with the Kafka record each came from.
Output: `send_deferred` hands them to the member's dead-letter sink (the topic) with the original record.
Guarantee: a letter found during an attempt that then fails is never sent (the retry finds it again), so a
retried batch dead-letters each poison change once. A dead-lettered snapshot row *holds* its ticket
(<state>/kafka/held-<member>.json) until the dead-letter replay refreshes it: the snapshot's sweep must not take
the row for gone from the source (it was republished, then rejected) and delete the document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from searchcore.control import write_json_atomic
from syncer.envelope import key_ticket
from syncer.events import Op, RowChange


@dataclass
class Origin:
    """Where a change came from: the record to dead-letter if it fails."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes



class DeadLetterSink(Protocol):
    def dead_letter(self, origin: Origin, reason: str, *, tenant: int | None, ticket: int | None,
                    position: str | None) -> None: ...

    def hold(self, tenant: int, ticket: int) -> None: ...


class DeadLetterBuffer:
    """The Indexer's dead-letter store, writing to the dead-letter topic with the original record."""

    def __init__(self, owner: DeadLetterSink) -> None:
        self.owner = owner
        self.origins: dict[int, Origin] = {}
        self.deferred: list[tuple[Origin, str, int | None, int | None, str]] = []
        self.holds: list[tuple[int, int]] = []

    def add(self, change: RowChange, reason: str, *, tenant_id: int | None, ticket_id: int | None) -> int:
        origin = self.origins.get(id(change))
        if origin is None:
            origin = Origin("?", -1, -1, None, json.dumps(change.to_json(), ensure_ascii=False).encode())
        # sent only if the attempt that found it succeeds: a retried batch must not dead-letter it again
        self.deferred.append((origin, reason, tenant_id, ticket_id, f"{change.file}:{change.offset}"))
        ticket = ticket_id if ticket_id is not None else key_ticket((origin.key or b"").decode(errors="replace"))
        if change.op is Op.SNAPSHOT and tenant_id is not None and ticket is not None:
            self.holds.append((tenant_id, ticket))
        return 0

    def send_deferred(self) -> None:
        pending, self.deferred = self.deferred, []
        holds, self.holds = self.holds, []
        for held_tenant, held_ticket in holds:
            self.owner.hold(held_tenant, held_ticket)
        for origin, reason, tenant, ticket, position in pending:
            self.owner.dead_letter(origin, reason, tenant=tenant, ticket=ticket, position=position)

    def discard(self) -> None:
        self.deferred, self.holds = [], []


def _read_held(path: Path) -> set[tuple[int, int]] | None:
    try:
        return {(int(t), int(i)) for t, i in json.loads(path.read_text())}
    except (OSError, ValueError, TypeError):
        return None


def held_tickets(state_dir: Path) -> set[tuple[int, int]]:
    """Tickets whose snapshot row was dead-lettered and not yet refreshed by a replay (every member's file)."""
    out: set[tuple[int, int]] = set()
    for path in (state_dir / "kafka").glob("held-*.json"):
        out |= _read_held(path) or set()
    return out


def hold_ticket(state_dir: Path, member: str, tenant: int, ticket: int) -> None:
    """Record a held ticket in this member's file (each member writes only its own)."""
    path = state_dir / "kafka" / f"held-{member}.json"
    held = _read_held(path) or set()
    if (tenant, ticket) not in held:
        write_json_atomic(path, sorted(held | {(tenant, ticket)}))


def release_held(state_dir: Path, tickets: set[tuple[int, int]]) -> None:
    """After a replay refreshed `tickets` from the source: sweeps may treat them normally again."""
    for path in (state_dir / "kafka").glob("held-*.json"):
        mine = _read_held(path)
        if mine and mine & tickets:
            write_json_atomic(path, sorted(mine - tickets))
