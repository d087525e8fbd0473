"""Normalization of source column values into JSON-compatible document values (docs/values.md).

Input: a value as PyMySQL (snapshot/SELECT path) or mysql-replication (binlog path, with the decoding
fixes of syncer.binlog_decoding) returns it, plus the column's ColumnSpec, built from column metadata:
the binlog's table map (FULL row metadata) on one path, information_schema.COLUMNS on the other.
Output: a value json.dumps accepts.
Guarantee: one documented rule per type, applied identically on both paths, so a row read by SELECT
and the same row decoded from the binlog normalize to equal values. Exact: DECIMAL as a decimal
string (never a float), FLOAT as the shortest decimal that round-trips to the same 32-bit float,
DATETIME/TIME with all six fractional digits, TIMESTAMP as a UTC instant ("...Z"), unsigned integers up
to 2^64-1, BIT as an integer, SET as a list in definition order ([] for the empty set, None for NULL),
ENUM's invalid value as "", zero and partly-zero dates as digit strings distinct from NULL, binary
values as lowercase hex (never text), UUID/INET6 in canonical text form, JSON parsed to native types.

`normalize_value(value, json_column=...)` is the older type-inferred form, kept for callers without
column metadata; for the helpdesk schema's types it gives the same results as `normalize`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    INT = "int"
    DECIMAL = "decimal"
    FLOAT = "float"            # 32-bit FLOAT
    DOUBLE = "double"
    DATE = "date"
    DATETIME = "datetime"
    TIMESTAMP = "timestamp"
    TIME = "time"
    YEAR = "year"
    TEXT = "text"
    BINARY = "binary"          # BINARY/VARBINARY/BLOB
    BIT = "bit"
    ENUM = "enum"
    SET = "set"
    JSON = "json"
    UUID = "uuid"
    INET6 = "inet6"
    GEOMETRY = "geometry"
    OTHER = "other"


@dataclass(frozen=True)
class ColumnSpec:
    """What normalization needs to know about one column."""

    name: str
    kind: Kind
    members: tuple[str, ...] = ()   # ENUM/SET members in definition order
    pad_to: int = 0                 # BINARY(n): bytes to right-pad with 0x00 (the binlog strips them)


class ValueNormalizationError(ValueError):
    """A value that does not fit its column's type (a decoding bug, never silently indexed)."""

    def __init__(self, column: str, kind: Kind, value: Any) -> None:
        super().__init__(f"column {column!r} ({kind}): cannot normalize {value!r}")
        self.column = column
        self.kind = kind
        self.value = value


ZERO_TIMESTAMP = dt.datetime(1970, 1, 1)  # the binlog's decoding of TIMESTAMP 0 ('0000-00-00 00:00:00')
_DATE_DIGITS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$")


def normalize(value: Any, spec: ColumnSpec) -> Any:
    """The documented normalization of one value of a column of `spec` (NULL -> None)."""
    if value is None:
        return None
    try:
        return _NORMALIZERS[spec.kind](value, spec)
    except (TypeError, ValueError, decimal.InvalidOperation, struct.error) as exc:
        if isinstance(exc, ValueNormalizationError):
            raise
        raise ValueNormalizationError(spec.name, spec.kind, value) from exc


def normalize_typed_row(row: Mapping[str, Any], specs: Mapping[str, ColumnSpec],
                        json_columns: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Normalize every column of `row`; columns without a spec fall back to normalize_value."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        spec = specs.get(name)
        out[name] = (normalize(value, spec) if spec is not None
                     else normalize_value(value, json_column=name in json_columns))
    return out


# ---- per-kind rules -------------------------------------------------------------------------------
def _int(value: Any, spec: ColumnSpec) -> int:
    return int(value)


def _decimal(value: Any, spec: ColumnSpec) -> str:
    d = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    return format(d, "f")


def _float32(value: Any, spec: ColumnSpec) -> float:
    x = float(value)
    packed = struct.pack("<f", x)
    for digits in range(1, 10):
        candidate = float(f"{x:.{digits}g}")
        try:
            if struct.pack("<f", candidate) == packed:
                return candidate
        except OverflowError:
            continue
    return x


def _double(value: Any, spec: ColumnSpec) -> float:
    return float(value)


def _date(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    m = _parse_digits(value)
    return f"{m[0]}-{m[1]}-{m[2]}"


def _datetime(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat(sep=" ", timespec="microseconds")
    return _zero_datetime(value)


def _zero_datetime(value: Any) -> str:
    m = _parse_digits(value)
    frac = (m[6] or "").ljust(6, "0")
    return f"{m[0]}-{m[1]}-{m[2]} {m[3] or '00'}:{m[4] or '00'}:{m[5] or '00'}.{frac}"


def _timestamp(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        if value == ZERO_TIMESTAMP:
            return "0000-00-00 00:00:00.000000"
        return value.isoformat(sep="T", timespec="microseconds") + "Z"
    return _zero_datetime(value)


def _time(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, str):
        value = _parse_time(value)
    if not isinstance(value, dt.timedelta):
        raise TypeError(type(value))
    total = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
    sign = "-" if total < 0 else ""
    total = abs(total)
    seconds, micro = divmod(total, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}.{micro:06d}"


def _parse_time(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(-?)(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?", text.strip())
    if m is None:
        raise ValueError(text)
    delta = dt.timedelta(hours=int(m[2]), minutes=int(m[3]), seconds=int(m[4]),
                         microseconds=int((m[5] or "").ljust(6, "0")))
    return -delta if m[1] else delta


def _year(value: Any, spec: ColumnSpec) -> int:
    year = int(value)
    return 0 if year == 1900 else year   # the binlog decodes YEAR 0000 as 1900 (YEAR cannot hold 1900)


def _text(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    return str(value)


def _bytes(value: Any, spec: ColumnSpec) -> bytes:
    if isinstance(value, str):        # the binlog library returns '' for an empty VARBINARY
        value = value.encode("latin-1")
    raw = bytes(value)
    if spec.pad_to and len(raw) < spec.pad_to:
        raw = raw + b"\x00" * (spec.pad_to - len(raw))
    return raw


def _binary(value: Any, spec: ColumnSpec) -> str:
    return _bytes(value, spec).hex()


def _bit(value: Any, spec: ColumnSpec) -> int:
    if isinstance(value, str):        # binlog: '0101...'
        return int(value, 2) if value else 0
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "big")
    return int(value)


def _enum(value: Any, spec: ColumnSpec) -> str:
    return _text(value, spec)


def _set(value: Any, spec: ColumnSpec) -> list[str]:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8")
    items = ([v for v in value.split(",") if v != ""] if isinstance(value, str) else [str(v) for v in value])
    order = {m: i for i, m in enumerate(spec.members)}
    return sorted(set(items), key=lambda m: (order.get(m, len(order)), m))


def _json(value: Any, spec: ColumnSpec) -> Any:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        return _jsonable(json.loads(value)) if value != "" else None
    return _jsonable(value)


def _uuid(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, str) and len(value) != 0 and not value.startswith("\x00"):
        return str(uuid.UUID(value))
    return str(uuid.UUID(bytes=_bytes(value, ColumnSpec(spec.name, Kind.BINARY, pad_to=16))))


def _inet6(value: Any, spec: ColumnSpec) -> str:
    if isinstance(value, str) and (":" in value or "." in value):
        addr = ipaddress.IPv6Address(value)
    else:
        addr = ipaddress.IPv6Address(_bytes(value, ColumnSpec(spec.name, Kind.BINARY, pad_to=16)))
    return format_inet6(addr)


def format_inet6(addr: ipaddress.IPv6Address) -> str:
    """inet_ntop's text form (what MariaDB prints): IPv4-mapped and IPv4-compatible tails dotted."""
    packed = addr.packed
    if packed[:10] == b"\x00" * 10 and packed[10:12] in (b"\xff\xff", b"\x00\x00"):
        v4 = ipaddress.IPv4Address(packed[12:])
        if packed[10:12] == b"\xff\xff":
            return f"::ffff:{v4}"
        if packed[12:14] != b"\x00\x00":
            return f"::{v4}"
    return addr.compressed


def _other(value: Any, spec: ColumnSpec) -> Any:
    return normalize_value(value)


_NORMALIZERS = {
    Kind.INT: _int, Kind.DECIMAL: _decimal, Kind.FLOAT: _float32, Kind.DOUBLE: _double, Kind.DATE: _date,
    Kind.DATETIME: _datetime, Kind.TIMESTAMP: _timestamp, Kind.TIME: _time, Kind.YEAR: _year, Kind.TEXT: _text,
    Kind.BINARY: _binary, Kind.BIT: _bit, Kind.ENUM: _enum, Kind.SET: _set, Kind.JSON: _json, Kind.UUID: _uuid,
    Kind.INET6: _inet6, Kind.GEOMETRY: _binary, Kind.OTHER: _other,
}


def _parse_digits(value: Any) -> tuple[str | None, ...]:
    text = value.decode() if isinstance(value, bytes | bytearray) else str(value)
    m = _DATE_DIGITS.match(text.strip())
    if m is None:
        raise ValueError(text)
    return tuple(m.groups())


# ---- specs from information_schema.COLUMNS (the SELECT path) --------------------------------------
_INFO_KINDS = {
    "tinyint": Kind.INT, "smallint": Kind.INT, "mediumint": Kind.INT, "int": Kind.INT, "bigint": Kind.INT,
    "decimal": Kind.DECIMAL, "float": Kind.FLOAT, "double": Kind.DOUBLE, "date": Kind.DATE,
    "datetime": Kind.DATETIME, "timestamp": Kind.TIMESTAMP, "time": Kind.TIME, "year": Kind.YEAR,
    "char": Kind.TEXT, "varchar": Kind.TEXT, "tinytext": Kind.TEXT, "text": Kind.TEXT, "mediumtext": Kind.TEXT,
    "longtext": Kind.TEXT, "binary": Kind.BINARY, "varbinary": Kind.BINARY, "tinyblob": Kind.BINARY,
    "blob": Kind.BINARY, "mediumblob": Kind.BINARY, "longblob": Kind.BINARY, "bit": Kind.BIT, "enum": Kind.ENUM,
    "set": Kind.SET, "json": Kind.JSON, "uuid": Kind.UUID, "inet6": Kind.INET6, "geometry": Kind.GEOMETRY,
    "point": Kind.GEOMETRY, "linestring": Kind.GEOMETRY, "polygon": Kind.GEOMETRY,
}


def parse_members(column_type: str) -> tuple[str, ...]:
    """Members of "enum('a','b''c')" / "set(...)" in definition order."""
    inner = column_type[column_type.index("(") + 1: column_type.rindex(")")]
    return tuple(m.replace("''", "'").replace("\\\\", "\\") for m in re.findall(r"'((?:[^']|'')*)'", inner))


def spec_from_information_schema(name: str, data_type: str, column_type: str, octet_length: int | None,
                                 *, is_json: bool = False) -> ColumnSpec:
    kind = _INFO_KINDS.get(data_type.lower(), Kind.OTHER)
    if is_json and kind in (Kind.TEXT, Kind.JSON):
        kind = Kind.JSON
    members = parse_members(column_type) if kind in (Kind.ENUM, Kind.SET) else ()
    pad = int(octet_length or 0) if data_type.lower() == "binary" else 0
    return ColumnSpec(name, kind, members, pad)


# ---- the older type-inferred form ---------------------------------------------------------------
def normalize_value(value: Any, *, json_column: bool = False) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | str) and not json_column:
        return value
    if json_column:
        return _json(value, ColumnSpec("", Kind.JSON))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _time(value, ColumnSpec("", Kind.TIME))
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
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
        return format(value, "f")
    return value


def normalize_row(row: dict[str, Any], json_columns: frozenset[str]) -> dict[str, Any]:
    return {name: normalize_value(v, json_column=name in json_columns) for name, v in row.items()}


def datetime_to_ms(value: str | None) -> int | None:
    """Milliseconds since 1970-01-01 of a normalized DATETIME/TIMESTAMP string (DATETIME read as UTC wall
    time); None for NULL and for zero/partly-zero dates."""
    if value is None or value.startswith("0000-") or "-00" in value[:10]:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
