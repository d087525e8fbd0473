"""Dead-letter store: row changes the indexer could not apply, with payload, reason, tenant, position.

Input: a RowChange and why it failed. Output: rows in <state_dir>/deadletters.sqlite.
Guarantee: nothing rejected is lost; `replay` re-applies stored changes through the normal versioned
path (so a change made stale meanwhile is a harmless no-op) and marks the ones that now succeed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from syncer.events import RowChange

SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at REAL NOT NULL,
  tenant_id INTEGER,
  ticket_id INTEGER,
  source_table TEXT NOT NULL,
  binlog_file TEXT NOT NULL,
  binlog_offset INTEGER NOT NULL,
  version INTEGER NOT NULL,
  reason TEXT NOT NULL,
  payload TEXT NOT NULL,
  replayed_at REAL
)
"""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    created_at: float
    tenant_id: int | None
    ticket_id: int | None
    table: str
    file: str
    offset: int
    reason: str
    change: RowChange
    replayed_at: float | None


class DeadLetterStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def add(self, change: RowChange, reason: str, *, tenant_id: int | None, ticket_id: int | None) -> int:
        cur = self._db.execute(
            "INSERT INTO deadletters (created_at, tenant_id, ticket_id, source_table, binlog_file, binlog_offset,"
            " version, reason, payload) VALUES (?,?,?,?,?,?,?,?,?)",
            (time.time(), tenant_id, ticket_id, change.table, change.file, change.offset, change.version, reason,
             json.dumps(change.to_json(), ensure_ascii=False)),
        )
        return int(cur.lastrowid or 0)

    def entries(self, *, include_replayed: bool = False, tenant_id: int | None = None) -> list[DeadLetter]:
        sql = "SELECT * FROM deadletters WHERE 1=1"
        args: list[object] = []
        if not include_replayed:
            sql += " AND replayed_at IS NULL"
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            args.append(tenant_id)
        rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            DeadLetter(id=r[0], created_at=r[1], tenant_id=r[2], ticket_id=r[3], table=r[4], file=r[5],
                       offset=r[6], reason=r[8], change=RowChange.from_json(json.loads(r[9])), replayed_at=r[10])
            for r in rows
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM deadletters WHERE replayed_at IS NULL").fetchone()[0])

    def mark_replayed(self, ids: list[int]) -> None:
        now = time.time()
        self._db.executemany("UPDATE deadletters SET replayed_at = ? WHERE id = ?", [(now, i) for i in ids])

    def close(self) -> None:
        self._db.close()
