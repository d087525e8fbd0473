"""Lookup tables a child row refers to (e.g. tag names for ticket_tags rows).

Input: the lookup tables named by the source mapping, read once from the source and then kept current
from the same row changes the tailer emits. Output: value by (table, tenant, key).
Known limit: renaming a lookup row (a tag) does not rewrite tickets already indexed with the old name.
"""

from __future__ import annotations

from typing import Any

import pymysql

from searchcore.dbconfig import MySQLSettings
from syncer.events import RowChange
from syncer.source_mapping import Lookup, SourceMapping


class LookupDirectory:
    def __init__(self, mapping: SourceMapping, source: MySQLSettings | None) -> None:
        self._lookups: dict[str, Lookup] = {
            c.lookup.table: c.lookup for c in mapping.children if c.lookup is not None
        }
        self._values: dict[tuple[str, int, str], Any] = {}
        self._source = source

    def tables(self) -> frozenset[str]:
        return frozenset(self._lookups)

    def load_all(self) -> None:
        if self._source is None:
            return
        conn = pymysql.connect(**self._source.connect_kwargs())
        try:
            with conn.cursor() as cur:
                for table, lk in self._lookups.items():
                    cur.execute(f"SELECT `{lk.tenant_column}`, `{lk.key_column}`, `{lk.value_column}` FROM `{table}`")
                    for tenant, key, value in cur.fetchall():
                        self._values[(table, int(tenant), str(key))] = value
        finally:
            conn.close()

    def observe(self, change: RowChange) -> None:
        lk = self._lookups.get(change.table)
        if lk is None:
            return
        if change.before is not None:
            before = change.before
            self._values.pop((change.table, int(before[lk.tenant_column]), str(before[lk.key_column])), None)
        if change.after is not None:
            key = (change.table, int(change.after[lk.tenant_column]), str(change.after[lk.key_column]))
            self._values[key] = change.after[lk.value_column]

    def resolve(self, table: str, tenant_id: int, key: Any) -> Any:
        found = self._values.get((table, tenant_id, str(key)))
        if found is not None or self._source is None:
            return found
        lk = self._lookups[table]
        conn = pymysql.connect(**self._source.connect_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"SELECT `{lk.value_column}` FROM `{table}` WHERE `{lk.tenant_column}`=%s AND `{lk.key_column}`=%s",
                    (tenant_id, key),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        self._values[(table, tenant_id, str(key))] = row[0]
        return row[0]

    def put(self, table: str, tenant_id: int, key: Any, value: Any) -> None:
        self._values[(table, tenant_id, str(key))] = value
