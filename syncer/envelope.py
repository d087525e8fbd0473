"""The Kafka change envelope: one message per row change, Debezium-shaped, keyed by ticket document.

Input: RowChanges of one committed transaction (syncer.events) and the source's server id and database.
Output: Envelopes, their JSON bytes (the message value) and their Kafka keys; Watermark messages.
Guarantee: `Envelope.decode(env.encode()) == env` and `env.to_change()` gives back the RowChange that was
published (same table, op, rows, version, file, offset, gtid, ts_ms). Every row that feeds a ticket
document is keyed `<tenant>:ticket:<ticket id>` by the same routing as the indexer (syncer.assemble.route),
so all changes of one document share a key; a row that moves between documents gets one key per document.
Values are encoded exactly as searchcore.values normalizes them (docs/kafka.md lists every type); the
version is derived from the binlog position (searchcore.positions), never from a Kafka offset.

Message value (UTF-8 JSON, `schema_version` 1):
    {"schema_version": 1, "op": "c|u|d|r", "before": {...}|null, "after": {...}|null, "ts_ms": int,
     "source": {"connector": "ticketsearch", "server_id": int, "file": str, "pos": int, "row": int,
                "gtid": str|null, "db": str, "table": str, "snapshot": bool},
     "version": int}
`pos` is the start of the rows event, `row` the row's index inside it: the version encodes `pos + row`.
A claim-checked change (too large for the broker) carries "claim_check": {"path", "sha256", "bytes"}
instead of before/after. A watermark ({"schema_version": 1, "op": "m", ...}, key `__watermark__`) says
that every change before `position` has been published to that partition. A sweep ({"op": "sweep", "floor",
"position", "partitions", "partitioner"}, key `__sweep__`) ends a snapshot in a partition: rows older than `floor`
of the documents that partition carries are gone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from searchcore.positions import BinlogPosition
from syncer.assemble import PoisonChange, route
from syncer.events import Op, Row, RowChange
from syncer.source_mapping import SourceMapping

SCHEMA_VERSION = 1
CONNECTOR = "ticketsearch"
WATERMARK_KEY = b"__watermark__"
SWEEP_KEY = b"__sweep__"


class EnvelopeError(ValueError):
    """A message that is not a valid envelope (it goes to the dead-letter topic)."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason if field is None else f"{field}: {reason}")
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class SourceInfo:
    server_id: int
    file: str
    pos: int                 # start of the rows event (snapshot: the snapshot position)
    row: int                 # index of the row inside the event
    gtid: str | None
    db: str
    table: str
    snapshot: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"connector": CONNECTOR, "server_id": self.server_id, "file": self.file, "pos": self.pos,
                "row": self.row, "gtid": self.gtid, "db": self.db, "table": self.table, "snapshot": self.snapshot}


@dataclass(frozen=True)
class ClaimCheck:
    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Envelope:
    op: Op
    before: Row | None
    after: Row | None
    ts_ms: int
    source: SourceInfo
    version: int
    claim_check: ClaimCheck | None = None

    @property
    def position(self) -> str:
        return f"{self.source.file}:{self.source.pos + self.source.row}"

    def to_change(self) -> RowChange:
        if self.claim_check is not None:
            raise EnvelopeError("claim-checked envelope: resolve it first", field="claim_check")
        return RowChange(table=self.source.table, op=self.op, before=self.before, after=self.after,
                         version=self.version, file=self.source.file, offset=self.source.pos + self.source.row,
                         gtid=self.source.gtid, ts_ms=self.ts_ms)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "op": self.op.value, "before": self.before,
                               "after": self.after, "ts_ms": self.ts_ms, "source": self.source.to_json(),
                               "version": self.version}
        if self.claim_check is not None:
            out["claim_check"] = {"path": self.claim_check.path, "sha256": self.claim_check.sha256,
                                  "bytes": self.claim_check.bytes}
        return out

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Envelope:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise EnvelopeError(f"unsupported schema_version {data.get('schema_version')!r}", field="schema_version")
        try:
            op = Op(data["op"])
            src = data["source"]
            source = SourceInfo(server_id=int(src["server_id"]), file=str(src["file"]), pos=int(src["pos"]),
                                row=int(src["row"]), gtid=src.get("gtid"), db=str(src["db"]),
                                table=str(src["table"]), snapshot=bool(src.get("snapshot", False)))
            cc = data.get("claim_check")
            claim = None if cc is None else ClaimCheck(str(cc["path"]), str(cc["sha256"]), int(cc["bytes"]))
            env = cls(op=op, before=data.get("before"), after=data.get("after"), ts_ms=int(data.get("ts_ms", 0)),
                      source=source, version=int(data["version"]), claim_check=claim)
        except (KeyError, TypeError, ValueError) as exc:
            raise EnvelopeError(f"malformed envelope ({type(exc).__name__}: {exc})") from exc
        for name in ("before", "after"):
            value = getattr(env, name)
            if value is not None and not isinstance(value, dict):
                raise EnvelopeError("must be an object or null", field=name)
        if not 0 <= env.version < 2**63:
            raise EnvelopeError(f"version {env.version} outside 0..2^63-1", field="version")
        if env.claim_check is None:
            need = {Op.INSERT: ("after",), Op.SNAPSHOT: ("after",), Op.UPDATE: ("before", "after"),
                    Op.DELETE: ("before",)}[env.op]
            for name in need:
                if getattr(env, name) is None:
                    raise EnvelopeError(f"op {env.op.value!r} needs {name!r}", field=name)
        return env

    @classmethod
    def decode(cls, value: bytes) -> Envelope:
        return cls.from_json(parse_json(value))


@dataclass(frozen=True)
class Watermark:
    """Every change before `position` is in this partition; the source was there at `observed_ms`."""

    position: BinlogPosition
    observed_ms: int

    def encode(self) -> bytes:
        return json.dumps({"schema_version": SCHEMA_VERSION, "op": "m", "position": self.position.to_json(),
                           "observed_ms": self.observed_ms}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        return cls(BinlogPosition.from_json(data["position"]), int(data["observed_ms"]))


@dataclass(frozen=True)
class Sweep:
    """End of a snapshot in one partition: every row the source had at `position` has been published before this
    message, at versions >= `floor`. So for each document this partition carries (of `partitions`, by the
    tailer's `partitioner`: every document of the partition's tenants, or the documents whose key maps here), a
    live part older than `floor` is a row gone from the source (TRUNCATE, a table swap, a new binlog history):
    the indexer turns it into a tombstone at `floor`."""

    floor: int
    position: BinlogPosition
    partitions: int
    partitioner: str = "tenant"

    def encode(self) -> bytes:
        return json.dumps({"schema_version": SCHEMA_VERSION, "op": "sweep", "floor": self.floor,
                           "position": self.position.to_json(), "partitions": self.partitions,
                           "partitioner": self.partitioner}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sweep:
        if data.get("op") != "sweep":
            raise EnvelopeError(f"op {data.get('op')!r} is not 'sweep'", field="op")
        partitioner = str(data.get("partitioner", "tenant"))
        if partitioner not in ("tenant", "key"):
            raise EnvelopeError(f"unknown partitioner {partitioner!r}", field="partitioner")
        sweep = cls(int(data["floor"]), BinlogPosition.from_json(data["position"]), int(data["partitions"]),
                    partitioner)
        if sweep.partitions < 1 or not 0 <= sweep.floor < 2**63:
            raise EnvelopeError(f"partitions {sweep.partitions} / floor {sweep.floor} out of range", field="partitions")
        return sweep


def parse_json(value: bytes) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("not a JSON object")
    return data


def envelopes_for(changes: Sequence[RowChange], *, server_id: int, db: str) -> list[Envelope]:
    """Envelopes of the changes of one transaction (or snapshot chunk), in order.

    Rows of one binlog event have consecutive offsets (event start + row index) while two events are at
    least an event header apart, so a change whose offset follows the previous one's by exactly 1 in the
    same table is the next row of the same event: that gives `pos` and `row` exactly."""
    out: list[Envelope] = []
    prev: RowChange | None = None
    pos = row = 0
    for ch in changes:
        if prev is not None and ch.table == prev.table and ch.file == prev.file and ch.offset == prev.offset + 1:
            row += 1
        else:
            pos, row = ch.offset, 0
        source = SourceInfo(server_id=server_id, file=ch.file, pos=pos, row=row, gtid=ch.gtid, db=db,
                            table=ch.table, snapshot=ch.op is Op.SNAPSHOT)
        out.append(Envelope(ch.op, ch.before, ch.after, ch.ts_ms, source, ch.version))
        prev = ch
    return out


def no_lookup(table: str, tenant_id: int, key: Any) -> Any:
    """A lookup resolver for routing only (keys and identities need no lookup values)."""
    return ""   # keys need identities only, never lookup values


def document_key(tenant_id: int, ticket_id: int) -> str:
    """The Kafka key of one ticket document."""
    return f"{tenant_id}:ticket:{ticket_id}"


def document_keys(change: RowChange, mapping: SourceMapping) -> list[str]:
    """The Kafka keys of a change: `<tenant>:ticket:<id>` for every document it feeds (two when a row moves
    between tickets), `<tenant>:<table>:<key>` for lookup rows (tags), `<table>:unroutable` for a row the
    routing rejects (the indexer dead-letters it with the reason)."""
    try:
        routed = route(change, mapping, no_lookup)
    except PoisonChange:
        return [f"{change.table}:unroutable"]
    keys = list(dict.fromkeys(document_key(dc.tenant_id, dc.ticket_id) for dc in routed))
    if keys:
        return keys
    for child in mapping.children:
        lk = child.lookup
        if lk is not None and lk.table == change.table:
            row = change.after if change.after is not None else change.before
            if row is not None and row.get(lk.tenant_column) is not None:
                return [f"{row[lk.tenant_column]}:{change.table}:{row.get(lk.key_column)}"]
    return [f"{change.table}:unroutable"] if change.table in mapping.tables() else []


def key_tenant(key: str) -> int | None:
    """The tenant of a key (`7:ticket:42` -> 7), None for keys without one."""
    head = key.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def key_ticket(key: str) -> int | None:
    """The ticket of a document key (`7:ticket:42` -> 42), None for other keys."""
    parts = key.split(":")
    return int(parts[2]) if len(parts) == 3 and parts[1] == "ticket" and parts[2].isdigit() else None
