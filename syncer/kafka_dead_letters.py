"""Dead letters of the Kafka indexer, between the Indexer that finds them and the dead-letter topic.

Input: the poison changes the Indexer reports (`add`, as a DeadLetterStore) with the Kafka record each came from.
Output: `send_deferred` hands them to the member's dead-letter sink (the topic) with the original record.
Guarantee: a letter found during an attempt that then fails is never sent (the retry finds it again), so a
retried batch dead-letters each poison change once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from syncer.events import RowChange


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


class DeadLetterBuffer:
    """The Indexer's dead-letter store, writing to the dead-letter topic with the original record."""

    def __init__(self, owner: DeadLetterSink) -> None:
        self.owner = owner
        self.origins: dict[int, Origin] = {}
        self.deferred: list[tuple[Origin, str, int | None, int | None, str]] = []

    def add(self, change: RowChange, reason: str, *, tenant_id: int | None, ticket_id: int | None) -> int:
        origin = self.origins.get(id(change))
        if origin is None:
            origin = Origin("?", -1, -1, None, json.dumps(change.to_json(), ensure_ascii=False).encode())
        # sent only if the attempt that found it succeeds: a retried batch must not dead-letter it again
        self.deferred.append((origin, reason, tenant_id, ticket_id, f"{change.file}:{change.offset}"))
        return 0

    def send_deferred(self) -> None:
        pending, self.deferred = self.deferred, []
        for origin, reason, tenant, ticket, position in pending:
            self.owner.dead_letter(origin, reason, tenant=tenant, ticket=ticket, position=position)
