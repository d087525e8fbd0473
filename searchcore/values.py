"""Normalization of source column values into JSON-compatible document values.

Input: a value as PyMySQL (snapshot) or mysql-replication (binlog) returns it. Output: a value that
json.dumps accepts, identical for both paths. Guarantee: exact values (decimals as strings, datetimes
with their fractional digits, JSON parsed to native types, bytes as hex), never floats for DECIMAL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any


def normalize_value(value: Any, *, json_column: bool = False) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | str) and not json_column:
        return value
    if json_column:
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, str):
            return json.loads(value) if value != "" else None
        return _jsonable(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {(k.decode() if isinstance(k, bytes) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def normalize_row(row: dict[str, Any], json_columns: frozenset[str]) -> dict[str, Any]:
    return {name: normalize_value(v, json_column=name in json_columns) for name, v in row.items()}


def datetime_to_ms(value: str | None) -> int | None:
    """Milliseconds since 1970-01-01 of a normalized DATETIME string (read as UTC wall time)."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
