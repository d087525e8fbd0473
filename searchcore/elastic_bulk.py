"""Bulk writes to Elasticsearch: action lines with external versions, item classification, retries.

Input: BulkOps (an action line + optional source, with the document it came from), a `send` function that
posts NDJSON lines to `_bulk` and returns the decoded response, a retry policy.
Output: a BulkReport: written, stale (409), rejected (400 & other 4xx, for the dead-letter path).
Guarantee: every item is classified from its own status: 2xx written; 409 version conflict = the index holds
the same or a newer version = success (stale); 429 and 5xx (and a whole request failing with 429/5xx or a
connection error) are retried with exponential backoff, resending only the items that failed; other 4xx
(e.g. 400 mapper_parsing_exception) are rejected with their reason and payload and never retried. When
retries run out, BulkRetryExhausted names the items still failing; nothing is reported written that was not.

Why not `elasticsearch.helpers.streaming_bulk`: its retry covers 429 only (not 5xx items), and it treats a 409
as an error; the classification here is the contract the indexer relies on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class BulkOp:
    action: dict[str, Any]                 # {"index": {...}} or {"delete": {...}}
    source: dict[str, Any] | None          # None for delete
    tenant_id: int
    ticket_id: int | None
    version: int | None

    @property
    def op_type(self) -> str:
        return next(iter(self.action))

    @property
    def doc_id(self) -> str:
        return str(self.action[self.op_type]["_id"])

    def lines(self) -> list[dict[str, Any]]:
        return [self.action] if self.source is None else [self.action, self.source]


@dataclass(frozen=True)
class RejectedDocument:
    """A document Elasticsearch refused for good (dead-letter record: payload, reason, tenant, version)."""

    tenant_id: int
    ticket_id: int | None
    doc_id: str
    version: int | None
    status: int
    error_type: str
    reason: str
    action: dict[str, Any]
    source: dict[str, Any] | None


@dataclass(frozen=True)
class BulkReport:
    written: int = 0
    stale: int = 0
    rejected: tuple[RejectedDocument, ...] = ()
    attempts: int = 1
    retried_items: int = 0


class BulkRetryExhausted(RuntimeError):
    def __init__(self, *, attempts: int, failing: Sequence[tuple[str, int, str]], tenant_id: int | None) -> None:
        sample = ", ".join(f"{doc} ({status} {reason})" for doc, status, reason in failing[:3])
        super().__init__(f"bulk write still failing after {attempts} attempts: {len(failing)} item(s): {sample}")
        self.attempts = attempts
        self.failing = tuple(failing)        # (doc id, status, reason)
        self.tenant_id = tenant_id


class BulkResponseError(RuntimeError):
    def __init__(self, message: str, *, expected: int, received: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.received = received


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, self.initial_backoff_s * (2 ** (attempt - 1))))


@dataclass(frozen=True)
class ItemOutcome:
    kind: str        # "written" | "stale" | "retry" | "rejected"
    status: int
    error_type: str
    reason: str


def classify_item(item: dict[str, Any]) -> ItemOutcome:
    """One entry of a bulk response's `items` (`{"index": {"status": ..., "error": {...}}}`)."""
    body = next(iter(item.values()))
    status = int(body.get("status", 0))
    error = body.get("error") or {}
    etype = str(error.get("type", "")) if isinstance(error, dict) else str(error)
    reason = str(error.get("reason", "")) if isinstance(error, dict) else str(error)
    if 200 <= status < 300:
        return ItemOutcome("written", status, "", "")
    if status == 409:
        return ItemOutcome("stale", status, etype, reason)
    if status in RETRYABLE_STATUS or status >= 500:
        return ItemOutcome("retry", status, etype, reason)
    return ItemOutcome("rejected", status, etype, reason)


SendBulk = Callable[[list[dict[str, Any]]], dict[str, Any]]


def run_bulk(ops: Sequence[BulkOp], send: SendBulk, policy: RetryPolicy, *, tenant_id: int | None = None) -> BulkReport:
    """Send `ops`, classify every item, retry the failed subset with backoff. See the module guarantee."""
    pending = list(ops)
    written = stale = retried = 0
    rejected: list[RejectedDocument] = []
    attempt = 0
    failing: list[tuple[str, int, str]] = []
    while pending:
        attempt += 1
        lines = [line for op in pending for line in op.lines()]
        try:
            response = send(lines)
        except (ConnectionError, ConnectionTimeout) as exc:
            failing = [(op.doc_id, 0, f"{type(exc).__name__}: {exc}") for op in pending]
            response = None
        except ApiError as exc:
            if exc.meta.status not in RETRYABLE_STATUS:
                raise
            failing = [(op.doc_id, exc.meta.status, str(exc.message)) for op in pending]
            response = None
        if response is not None:
            items = list(response.get("items", []))
            if len(items) != len(pending):
                raise BulkResponseError(f"bulk response has {len(items)} items for {len(pending)} actions",
                                        expected=len(pending), received=len(items))
            retry: list[BulkOp] = []
            failing = []
            for op, item in zip(pending, items, strict=True):
                outcome = classify_item(item)
                if outcome.kind == "written":
                    written += 1
                elif outcome.kind == "stale":
                    stale += 1
                elif outcome.kind == "retry":
                    retry.append(op)
                    failing.append((op.doc_id, outcome.status, f"{outcome.error_type}: {outcome.reason}"))
                else:
                    rejected.append(RejectedDocument(op.tenant_id, op.ticket_id, op.doc_id, op.version,
                                                     outcome.status, outcome.error_type, outcome.reason,
                                                     op.action, op.source))
            pending = retry
        if not pending:
            break
        if attempt >= policy.max_attempts:
            raise BulkRetryExhausted(attempts=attempt, failing=failing, tenant_id=tenant_id)
        retried += len(pending)
        policy.sleep(policy.delay(attempt))
    return BulkReport(written=written, stale=stale, rejected=tuple(rejected), attempts=max(attempt, 1),
                      retried_items=retried)
