"""Schema changes seen in the binlog: which DDL statements change what the index mirrors.

Input: the text of a binlog QueryEvent (not BEGIN/COMMIT), the session's default schema and the source
database. Output: a SchemaChange naming the statement's kind and the tables of the source database it
touches (renames as (old, new) pairs), or None for statements that concern no table of that database.
Guarantee: pure and conservative. `replaced_tables` lists every mapped table whose rows may no longer
be what the index holds: TRUNCATE or DROP of it, or a RENAME that moves it away or moves another table
(a gh-ost/pt-osc shadow table) under its name. The service answers those with a re-snapshot of the
affected tenants; an ALTER that only changes columns needs nothing, because every row event carries
its own column names (binlog_row_metadata=FULL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class DDLKind(StrEnum):
    TRUNCATE = "truncate"
    DROP = "drop"
    RENAME = "rename"
    ALTER = "alter"
    CREATE = "create"


@dataclass(frozen=True)
class SchemaChange:
    kind: DDLKind
    tables: tuple[str, ...]                       # tables of the source database the statement names
    renames: tuple[tuple[str, str], ...] = ()     # (old, new) for RENAME TABLE / ALTER ... RENAME
    query: str = ""

    def replaced_tables(self, mapped: frozenset[str]) -> frozenset[str]:
        if self.kind in (DDLKind.TRUNCATE, DDLKind.DROP):
            return frozenset(t for t in self.tables if t in mapped)
        if self.kind == DDLKind.RENAME:
            names = {n for pair in self.renames for n in pair}
            return frozenset(n for n in names if n in mapped)
        return frozenset()


_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_QUALIFIED = rf"{_NAME}(?:\s*\.\s*{_NAME})?"
_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*|#[^\n]*", re.S)


def _split_name(text: str, default_schema: str) -> tuple[str, str]:
    parts = re.findall(_NAME, text)
    names = [p[1:-1].replace("``", "`") if p.startswith("`") else p for p in parts]
    if len(names) == 2:
        return names[0], names[1]
    return default_schema, names[0]


def _in_db(pairs: list[tuple[str, str]], database: str) -> tuple[str, ...]:
    return tuple(t for s, t in pairs if s == database)


def parse_ddl(query: str, default_schema: str, database: str) -> SchemaChange | None:
    text = _COMMENTS.sub(" ", query).strip().rstrip(";")
    upper = text.upper()
    m = re.match(rf"TRUNCATE\s+(?:TABLE\s+)?({_QUALIFIED})", text, re.I)
    if m:
        tables = _in_db([_split_name(m[1], default_schema)], database)
        return SchemaChange(DDLKind.TRUNCATE, tables, query=query) if tables else None
    m = re.match(r"DROP\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?(.*)", text, re.I | re.S)
    if m and not upper.startswith("DROP TEMPORARY"):
        names = re.findall(_QUALIFIED, re.sub(r"\s+(RESTRICT|CASCADE)\s*$", "", m[1], flags=re.I))
        tables = _in_db([_split_name(n, default_schema) for n in names], database)
        return SchemaChange(DDLKind.DROP, tables, query=query) if tables else None
    m = re.match(r"RENAME\s+TABLES?\s+(.*)", text, re.I | re.S)
    if m:
        renames = []
        for pair in re.split(r"\s*,\s*(?=(?:[^`]*`[^`]*`)*[^`]*$)", m[1]):
            pm = re.match(rf"\s*({_QUALIFIED})\s+(?:WAIT\s+\d+\s+|NOWAIT\s+)?TO\s+({_QUALIFIED})\s*$", pair, re.I)
            if pm is None:
                continue
            (s1, t1), (s2, t2) = _split_name(pm[1], default_schema), _split_name(pm[2], default_schema)
            renames.append((t1 if s1 == database else "", t2 if s2 == database else ""))
        renames = [r for r in renames if r != ("", "")]
        if not renames:
            return None
        tables = tuple(n for pair in renames for n in pair if n)
        return SchemaChange(DDLKind.RENAME, tables, tuple(renames), query)
    m = re.match(rf"ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:IF\s+EXISTS\s+)?({_QUALIFIED})(.*)", text, re.I | re.S)
    if m:
        schema, table = _split_name(m[1], default_schema)
        rm = re.search(rf"\bRENAME\s+(?:TO\s+|AS\s+)?({_QUALIFIED})\s*(?:,|$)", m[2], re.I)
        if rm and not re.match(r"\s*(COLUMN|INDEX|KEY)\b", m[2][rm.start() + 6:], re.I):
            s2, t2 = _split_name(rm[1], schema)
            pair = (table if schema == database else "", t2 if s2 == database else "")
            if pair != ("", ""):
                return SchemaChange(DDLKind.RENAME, tuple(n for n in pair if n), (pair,), query)
        return SchemaChange(DDLKind.ALTER, (table,), query=query) if schema == database else None
    m = re.match(rf"CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_QUALIFIED})", text, re.I)
    if m:
        schema, table = _split_name(m[1], default_schema)
        if schema != database:
            return None
        # CREATE OR REPLACE drops the old table first
        kind = DDLKind.DROP if re.match(r"CREATE\s+OR\s+REPLACE", text, re.I) else DDLKind.CREATE
        return SchemaChange(kind, (table,), query=query)
    return None
