"""Exact binlog decoding: fixes for mysql-replication's lossy readers and ColumnSpecs from table maps.

Input: mysql-replication 1.0.x row events (their table map's columns, FULL row metadata) and, as hints,
the current information_schema types of the same table (for what the binlog cannot say: MariaDB's
UUID and INET6 are BINARY(16) there, its JSON is LONGTEXT).
Output: ColumnSpecs (searchcore.values) for every column of an event, and rows whose values
searchcore.values.normalize turns into the same values as the SELECT path.
Guarantee: `install()` replaces three private readers of the pinned library, which are wrong or lossy
(DESIGN.md, "Measured on this machine"): TIME2 (negative values with fractions), DATE and DATETIME2
(zero and partly-zero dates became None, indistinguishable from NULL: now digit strings such as
'2024-00-00'). A hint is used only when the binlog's physical type agrees with it, so a table whose
schema changed since the event never borrows the new layout's types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pymysqlreplication
from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.row_event import RowsEvent

from searchcore.values import ColumnSpec, Kind

_TIMEF_INT_OFS = 0x800000
_TIMEF_OFS = 0x800000000000

_INT_TYPES = {FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG}
_TEXT_TYPES = {FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING, FIELD_TYPE.STRING, FIELD_TYPE.BLOB, FIELD_TYPE.TINY_BLOB,
               FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB}
_SIMPLE = {
    FIELD_TYPE.NEWDECIMAL: Kind.DECIMAL, FIELD_TYPE.DECIMAL: Kind.DECIMAL, FIELD_TYPE.FLOAT: Kind.FLOAT,
    FIELD_TYPE.DOUBLE: Kind.DOUBLE, FIELD_TYPE.DATE: Kind.DATE, FIELD_TYPE.NEWDATE: Kind.DATE,
    FIELD_TYPE.DATETIME: Kind.DATETIME, FIELD_TYPE.DATETIME2: Kind.DATETIME, FIELD_TYPE.TIMESTAMP: Kind.TIMESTAMP,
    FIELD_TYPE.TIMESTAMP2: Kind.TIMESTAMP, FIELD_TYPE.TIME: Kind.TIME, FIELD_TYPE.TIME2: Kind.TIME,
    FIELD_TYPE.YEAR: Kind.YEAR, FIELD_TYPE.BIT: Kind.BIT, FIELD_TYPE.JSON: Kind.JSON,
    FIELD_TYPE.GEOMETRY: Kind.GEOMETRY,
}


def spec_from_binlog_column(column: Any, hint: ColumnSpec | None, json_column: bool = False) -> ColumnSpec:
    """The spec of one table-map column; `hint` (information_schema now) refines UUID/INET6/JSON only."""
    name = str(column.name)
    ctype = int(column.type)
    if ctype in _INT_TYPES:
        return ColumnSpec(name, Kind.INT)
    if ctype == FIELD_TYPE.ENUM:
        values = list(column.enum_values or [])
        return ColumnSpec(name, Kind.ENUM, tuple(values[1:]))
    if ctype == FIELD_TYPE.SET:
        return ColumnSpec(name, Kind.SET, tuple(column.set_values or ()))
    if ctype in _SIMPLE:
        return ColumnSpec(name, _SIMPLE[ctype])
    if ctype in _TEXT_TYPES:
        charset = (getattr(column, "character_set_name", None) or "").lower()
        if charset == "binary":
            length = int(getattr(column, "max_length", 0) or 0)
            if hint is not None and hint.kind in (Kind.UUID, Kind.INET6) and ctype == FIELD_TYPE.STRING \
                    and length == 16:
                return ColumnSpec(name, hint.kind)
            return ColumnSpec(name, Kind.BINARY, pad_to=length if ctype == FIELD_TYPE.STRING else 0)
        if json_column or (hint is not None and hint.kind == Kind.JSON):
            return ColumnSpec(name, Kind.JSON)
        return ColumnSpec(name, Kind.TEXT)
    return ColumnSpec(name, Kind.OTHER)


def specs_for_event(event: Any, hints: Mapping[str, ColumnSpec], json_columns: frozenset[str]) -> dict[str, ColumnSpec]:
    return {str(c.name): spec_from_binlog_column(c, hints.get(str(c.name)), str(c.name) in json_columns)
            for c in event.columns}


# ---- exact readers ----------------------------------------------------------------------------------
def _fsp_bytes(column: Any) -> int:
    return (int(column.fsp or 0) + 1) // 2


def _read_time2(self: Any, column: Any) -> dt.timedelta:
    """TIME2 as MySQL's my_time_packed_from_binary reads it (sign and fraction handled together)."""
    fsp = int(column.fsp or 0)
    if fsp >= 5:
        packed = int.from_bytes(self.packet.read(6), "big") - _TIMEF_OFS
    else:
        intpart = int.from_bytes(self.packet.read(3), "big") - _TIMEF_INT_OFS
        frac = 0
        if fsp in (1, 2):
            frac = self.packet.read(1)[0]
            if intpart < 0 and frac:
                intpart += 1
                frac -= 0x100
            frac *= 10_000
        elif fsp in (3, 4):
            frac = int.from_bytes(self.packet.read(2), "big")
            if intpart < 0 and frac:
                intpart += 1
                frac -= 0x10000
            frac *= 100
        packed = (intpart << 24) + frac
    sign = -1 if packed < 0 else 1
    packed = abs(packed)
    hms, micro = packed >> 24, packed % (1 << 24)
    delta = dt.timedelta(hours=(hms >> 12) % (1 << 10), minutes=(hms >> 6) % (1 << 6), seconds=hms % (1 << 6),
                         microseconds=micro)
    return delta if sign > 0 else -delta


def _read_date(self: Any) -> dt.date | str:
    value = self.packet.read_uint24()
    year, month, day = (value >> 9) & 0x7FFF, (value >> 5) & 0xF, value & 0x1F
    try:
        return dt.date(year, month, day)
    except ValueError:
        return f"{year:04d}-{month:02d}-{day:02d}"


def _read_datetime2(self: Any, column: Any) -> dt.datetime | str:
    data = int.from_bytes(self.packet.read(5), "big")
    year_month = (data >> 22) & ((1 << 17) - 1)
    year, month = divmod(year_month, 13)
    day, hour = (data >> 17) & 0x1F, (data >> 12) & 0x1F
    minute, second = (data >> 6) & 0x3F, data & 0x3F
    micro = 0
    n = _fsp_bytes(column)
    if n:
        micro = int.from_bytes(self.packet.read(n), "big") * 10 ** (6 - 2 * n)
    try:
        return dt.datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}.{micro:06d}"


_installed = False


def install() -> None:
    """Replace the library's lossy readers (idempotent). Checked against the pinned version."""
    global _installed
    if _installed:
        return
    version = getattr(pymysqlreplication, "__version__", "1.0")
    if not str(version).startswith("1."):
        raise RuntimeError(f"binlog_decoding was written for mysql-replication 1.x, found {version}")
    for attr in ("_RowsEvent__read_time2", "_RowsEvent__read_date", "_RowsEvent__read_datetime2"):
        if not hasattr(RowsEvent, attr):
            raise RuntimeError(f"mysql-replication changed: RowsEvent.{attr} is gone; review syncer/binlog_decoding.py")
    RowsEvent._RowsEvent__read_time2 = _read_time2  # type: ignore[attr-defined]
    RowsEvent._RowsEvent__read_date = _read_date  # type: ignore[attr-defined]
    RowsEvent._RowsEvent__read_datetime2 = _read_datetime2  # type: ignore[attr-defined]
    _installed = True


def row_values(values: Mapping[str, Any], none_sources: Mapping[str, str] | None) -> dict[str, Any]:
    """The library's row with its lossy Nones restored: an empty SET is the empty set, not NULL."""
    out = dict(values)
    for name, source in (none_sources or {}).items():
        if source == "empty set":
            out[name] = frozenset()
    return out
