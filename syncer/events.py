"""The typed, frozen event model shared by the pipeline stages (tailer, snapshot, indexer).

A RowChange is one row of one table changed at one binlog position, with values already normalized
(searchcore.values) so the binlog path and the snapshot path produce identical rows. A Transaction groups
the changes of one committed source transaction and carries the position just after its commit: the
only place a checkpoint may be taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from searchcore.positions import BinlogPosition
from syncer.schema_events import SchemaChange

Row = dict[str, Any]  # column name -> normalized JSON-compatible value


class Op(StrEnum):
    INSERT = "c"
    UPDATE = "u"
    DELETE = "d"
    SNAPSHOT = "r"


@dataclass(frozen=True)
class RowChange:
    table: str
    op: Op
    before: Row | None
    after: Row | None
    version: int            # searchcore.positions.make_version of (epoch, file, event start + row index)
    file: str               # binlog file of the event
    offset: int             # event start + row index (the position the version encodes)
    gtid: str | None = None
    ts_ms: int = 0          # commit time on the source, milliseconds since the epoch (0 when unknown)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "op": self.op.value, "before": self.before, "after": self.after,
            "version": self.version, "file": self.file, "offset": self.offset, "gtid": self.gtid,
            "ts_ms": self.ts_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowChange:
        return cls(
            table=data["table"], op=Op(data["op"]), before=data["before"], after=data["after"],
            version=int(data["version"]), file=data["file"], offset=int(data["offset"]),
            gtid=data.get("gtid"), ts_ms=int(data.get("ts_ms", 0)),
        )


@dataclass(frozen=True)
class Transaction:
    """The row changes of one committed source transaction, in binlog order."""

    changes: tuple[RowChange, ...]
    end: BinlogPosition     # the position right after the commit event: resume point
    ts_ms: int = 0
    schema_changes: tuple[SchemaChange, ...] = ()   # DDL of the source database (syncer.schema_events)
