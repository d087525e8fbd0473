"""Initial (and per-tenant) snapshot: a consistent read of the mapped tables with its binlog position.

Input: the source settings, the source mapping, where to resume (tenant, last ticket id).
Output: chunks of RowChanges (op "r") for whole tickets, each with the version of the snapshot position
P, plus P itself.
Guarantee: every chunk is read inside one `START TRANSACTION WITH CONSISTENT SNAPSHOT`, whose binlog
position MariaDB reports without locks (`binlog_snapshot_file/position`), so the rows are exactly the
state at P: streaming from P afterwards misses nothing and re-applies nothing newer. Keyset pagination
(tenant, id), never OFFSET. A resumed snapshot takes a new consistent read at P' >= P for the rest; the
stream then restarts from the first P, and versions make the overlap harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pymysql.cursors

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition, make_version
from searchcore.values import ColumnSpec, normalize_typed_row
from syncer.column_specs import select_list, table_specs
from syncer.events import Op, RowChange
from syncer.lookups import LookupDirectory
from syncer.source_mapping import SourceMapping


class SnapshotError(RuntimeError):
    pass


@dataclass(frozen=True)
class SnapshotChunk:
    tenant_id: int
    last_id: int
    tickets: int
    changes: tuple[RowChange, ...]


class ConsistentSnapshot:
    """One consistent read of the source. Use as a context manager."""

    def __init__(self, source: MySQLSettings, mapping: SourceMapping, epoch: int) -> None:
        self.source = source
        self.mapping = mapping
        self.epoch = epoch
        self._conn: Any = None
        self.position: BinlogPosition | None = None

    def __enter__(self) -> ConsistentSnapshot:
        kwargs = self.source.connect_kwargs()
        kwargs["autocommit"] = False
        self._conn = pymysql.connect(cursorclass=pymysql.cursors.DictCursor, **kwargs)
        with self._conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")   # TIMESTAMP as UTC, whatever the server's zone
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {r["Variable_name"]: r["Value"] for r in cur.fetchall()}
        file = status.get("Binlog_snapshot_file")
        pos = status.get("Binlog_snapshot_position")
        if not file or pos is None:
            raise SnapshotError(
                "the source did not report binlog_snapshot_file/position (MariaDB with log_bin is required"
                " for lock-free snapshots)"
            )
        with self._conn.cursor() as cur:
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s) AS g", (str(file), int(pos)))
            row = cur.fetchone()
        gtid = str(row["g"]) if row and row["g"] else None
        self.position = BinlogPosition(str(file), int(pos), gtid)
        self._specs: dict[str, dict[str, ColumnSpec]] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()
            finally:
                self._conn.close()

    @property
    def version(self) -> int:
        assert self.position is not None
        return make_version(self.epoch, self.position.file, self.position.offset)

    def specs(self, table: str) -> dict[str, ColumnSpec]:
        """Column specs of `table` (information_schema, read once per snapshot)."""
        if table not in self._specs:
            json_cols = self.mapping.document.json_columns if table == self.mapping.document.table else frozenset()
            with self._conn.cursor(pymysql.cursors.Cursor) as cur:
                self._specs[table] = table_specs(cur, self.source.database, table, json_cols)
        return self._specs[table]

    def _rows(self, table: str, where: str, args: tuple[Any, ...], order: str) -> list[dict[str, Any]]:
        specs = self.specs(table)
        if not specs:       # a mapped child table that does not exist (dropped): it holds no rows
            return []
        with self._conn.cursor() as cur:
            cur.execute(f"SELECT {select_list(specs)} FROM `{table}` WHERE {where} ORDER BY {order}", args)
            rows = cur.fetchall()
        json_cols = self.mapping.document.json_columns if table == self.mapping.document.table else frozenset()
        return [normalize_typed_row(r, specs, json_cols) for r in rows]

    def tenants(self) -> list[int]:
        doc = self.mapping.document
        with self._conn.cursor() as cur:
            cur.execute(f"SELECT DISTINCT `{doc.tenant_column}` AS t FROM `{doc.table}` ORDER BY 1")
            return [int(r["t"]) for r in cur.fetchall()]

    def load_lookups(self, lookups: LookupDirectory, tenant_id: int) -> None:
        for child in self.mapping.children:
            lk = child.lookup
            if lk is None:
                continue
            with self._conn.cursor() as cur:
                cur.execute(
                    f"SELECT `{lk.key_column}` AS k, `{lk.value_column}` AS v FROM `{lk.table}`"
                    f" WHERE `{lk.tenant_column}` = %s",
                    (tenant_id,),
                )
                for r in cur.fetchall():
                    lookups.put(lk.table, tenant_id, r["k"], r["v"])

    def chunks(self, tenant_id: int, after_id: int, chunk_rows: int) -> Iterator[SnapshotChunk]:
        doc = self.mapping.document
        assert self.position is not None
        version = self.version
        file, offset = self.position.file, self.position.offset
        last = after_id
        while True:
            tickets = self._rows(doc.table, f"`{doc.tenant_column}` = %s AND `{doc.id_column}` > %s",
                                 (tenant_id, last, chunk_rows), f"`{doc.id_column}` LIMIT %s")
            if not tickets:
                return
            first_id = int(tickets[0][doc.id_column])
            last_id = int(tickets[-1][doc.id_column])
            changes = [
                RowChange(doc.table, Op.SNAPSHOT, None, r, version, file, offset) for r in tickets
            ]
            for child in self.mapping.children:
                order = ", ".join(f"`{c}`" for c in child.key_columns)
                where = f"`{child.tenant_column}` = %s AND `{child.parent_column}` BETWEEN %s AND %s"
                rows = self._rows(child.table, where, (tenant_id, first_id, last_id),
                                  f"`{child.parent_column}`, {order}")
                changes.extend(RowChange(child.table, Op.SNAPSHOT, None, r, version, file, offset) for r in rows)
            yield SnapshotChunk(tenant_id, last_id, len(tickets), tuple(changes))
            last = last_id
            if len(tickets) < chunk_rows:
                return
