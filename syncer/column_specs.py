"""Column specs of a source table from information_schema (the SELECT path, and hints for the binlog path).

Input: a PyMySQL cursor (tuple rows), the database, a table and the mapping's JSON columns.
Output: {column: ColumnSpec} in ordinal order, and the SELECT list that reads every column exactly.
Guarantee: MariaDB's JSON (LONGTEXT with a json_valid CHECK) is recognised as JSON; FLOAT columns are
read as CAST(... AS DOUBLE), because the text protocol prints FLOAT with 6 significant digits.
"""

from __future__ import annotations

import re
from typing import Any

from searchcore.values import ColumnSpec, Kind, spec_from_information_schema


def table_specs(cur: Any, database: str, table: str,
                json_columns: frozenset[str] = frozenset()) -> dict[str, ColumnSpec]:
    cur.execute(
        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
        " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s", (database, table))
    json_valid = set(json_columns)
    for row in cur.fetchall():
        clause = str(_col(row, 0, "CHECK_CLAUSE"))
        json_valid.update(re.findall(r"json_valid\(`((?:[^`]|``)+)`\)", clause, re.I))
    cur.execute(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (database, table))
    out: dict[str, ColumnSpec] = {}
    for row in cur.fetchall():
        name = str(_col(row, 0, "COLUMN_NAME"))
        out[name] = spec_from_information_schema(
            name, str(_col(row, 1, "DATA_TYPE")), str(_col(row, 2, "COLUMN_TYPE")),
            _col(row, 3, "CHARACTER_OCTET_LENGTH"), is_json=name in json_valid)
    return out


def select_list(specs: dict[str, ColumnSpec]) -> str:
    if not specs:
        return "*"
    cols = []
    for name, spec in specs.items():
        q = "`" + name.replace("`", "``") + "`"
        cols.append(f"CAST({q} AS DOUBLE) AS {q}" if spec.kind == Kind.FLOAT else q)
    return ", ".join(cols)


def _col(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]
