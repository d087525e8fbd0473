"""Debezium MySQL connector events: accepted by the indexer, re-keyed by ticket document.

Input: a Debezium change event as written by the MySQL connector with the JSON converter and these settings
(docs/kafka.md): `value.converter.schemas.enable=true`, `decimal.handling.mode=string`,
`time.precision.mode=adaptive_time_microseconds` (the default), `binary.handling.mode=hex`,
`column.propagate.source.type=.*` (to tell binary hex from text), `bigint.unsigned.handling.mode=long`,
and the helpdesk tables routed to one topic of one partition (ByLogicalTableRouter), so the events keep the
binlog's total order on their way to the re-keyer.
Output: the RowChange our own tailer would have emitted for the same row (values in searchcore.values' form,
version from binlog file/pos/row: never from the Kafka offset). The re-keyer (syncer.debezium_rekey) turns
these into our envelopes under their document keys.
Guarantee: for every type the documented settings can produce, `change_from_debezium(debezium_message(c))`
equals `c` (tests/unit/test_envelope.py), including the shapes Debezium really writes (YEAR as
io.debezium.time.Year, FLOAT as float32 or widened to a double for FLOAT(M,D), BIGINT UNSIGNED wrapped to a
negative long, BIT(n) in ceil(n/8) bytes, ZonedTimestamp with a trimmed fraction); anything else raises
DebeziumError (dead-lettered). Known difference: Debezium sends a zero date ('0000-00-00') as null or the
epoch; our tailer keeps it as '0000-00-00 ...'.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from searchcore.positions import make_version
from searchcore.values import ColumnSpec, Kind, normalize
from syncer.envelope import Envelope, EnvelopeError
from syncer.events import Op, Row, RowChange
from syncer.source_mapping import SourceMapping

log = logging.getLogger(__name__)
EPOCH = dt.datetime(1970, 1, 1)
BINARY_TYPES = ("BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB")
DEBEZIUM_VERSION = "2.7.3.Final"


class DebeziumError(EnvelopeError):
    """A Debezium event outside the documented settings (or a truncate/DDL event)."""


def _payload(data: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = data.get("payload")
    return inner if "schema" in data and isinstance(inner, dict) else data


def is_debezium(data: Mapping[str, Any]) -> bool:
    source = _payload(data).get("source")
    return isinstance(source, dict) and source.get("connector") == "mysql"


def _field_schemas(data: Mapping[str, Any], which: str) -> dict[str, dict[str, Any]]:
    schema = data.get("schema")
    if not isinstance(schema, dict):
        raise DebeziumError("no schema: set value.converter.schemas.enable=true", field="schema")
    for f in schema.get("fields", []):
        if f.get("field") == which:
            return {c["field"]: c for c in f.get("fields", [])}
    return {}


def _decode_value(value: Any, schema: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    name = schema.get("name")
    if name == "io.debezium.time.Timestamp":
        return (EPOCH + dt.timedelta(milliseconds=int(value))).isoformat(sep=" ", timespec="microseconds")
    if name == "io.debezium.time.MicroTimestamp":
        return (EPOCH + dt.timedelta(microseconds=int(value))).isoformat(sep=" ", timespec="microseconds")
    if name == "io.debezium.time.NanoTimestamp":
        return (EPOCH + dt.timedelta(microseconds=int(value) // 1000)).isoformat(sep=" ", timespec="microseconds")
    if name == "io.debezium.time.ZonedTimestamp":
        instant = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)
        return instant.replace(tzinfo=None).isoformat(sep="T", timespec="microseconds") + "Z"
    if name == "io.debezium.time.Date":
        return (dt.date(1970, 1, 1) + dt.timedelta(days=int(value))).isoformat()
    if name in ("io.debezium.time.MicroTime", "io.debezium.time.Time", "io.debezium.time.NanoTime"):
        micros = int(value) * 1000 if name == "io.debezium.time.Time" else int(value)
        micros = micros // 1000 if name == "io.debezium.time.NanoTime" else micros
        sign, micros = ("-", -micros) if micros < 0 else ("", micros)
        seconds, frac = divmod(micros, 1_000_000)
        return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{frac:06d}"
    if name == "io.debezium.data.Json":
        return json.loads(value)
    if name == "io.debezium.data.EnumSet":
        return [m for m in str(value).split(",") if m]
    if name == "io.debezium.data.Bits":
        return int.from_bytes(base64.b64decode(value), "little")
    source_type = str(schema.get("parameters", {}).get("__debezium.source.column.type", "")).upper()
    if source_type in BINARY_TYPES and isinstance(value, str):
        return value.lower()
    if source_type.startswith("BIGINT") and "UNSIGNED" in source_type and isinstance(value, int) and value < 0:
        return value + 2**64          # bigint.unsigned.handling.mode=long wraps values >= 2^63 into negatives
    if source_type.startswith("FLOAT") and isinstance(value, int | float) and not isinstance(value, bool):
        return normalize(value, ColumnSpec(str(schema.get("field")), Kind.FLOAT))  # FLOAT(M,D) comes widened
    if schema.get("type") == "bytes":
        raise DebeziumError("binary column without binary.handling.mode=hex", field=str(schema.get("field")))
    if schema.get("type") == "boolean":
        return 1 if value else 0
    return value


def _row(data: Mapping[str, Any], which: str) -> Row | None:
    raw = _payload(data).get(which)
    if raw is None:
        return None
    schemas = _field_schemas(data, which)
    return {col: _decode_value(v, schemas.get(col, {})) for col, v in raw.items()}


def change_from_debezium(data: Mapping[str, Any], *, epoch: int, mapping: SourceMapping | None = None) -> RowChange:
    """The RowChange of one Debezium MySQL event (`epoch`: the version epoch of this binlog history)."""
    payload = _payload(data)
    op = payload.get("op")
    if op not in ("c", "u", "d", "r"):
        raise DebeziumError(f"unsupported op {op!r} (truncate and DDL events need a re-snapshot)", field="op")
    src = payload["source"]
    file, pos, row = str(src["file"]), int(src["pos"]), int(src.get("row") or 0)
    return RowChange(table=str(src["table"]), op=Op(op), before=_row(data, "before"), after=_row(data, "after"),
                     version=make_version(epoch, file, pos + row), file=file, offset=pos + row,
                     gtid=src.get("gtid"), ts_ms=int(src.get("ts_ms") or payload.get("ts_ms") or 0))


# ---- the other direction: what Debezium writes for a change (tests, benchmarks, docs) -----------------------
@dataclass(frozen=True)
class SourceColumn:
    """What `column.propagate.source.type=.*` tells about a column: its type name as Debezium reports it
    ("BIGINT UNSIGNED", "VARBINARY", "BIT", ...), its length (BIT(n): n; DATETIME(p): p) and scale."""

    type_name: str
    length: int | None = None
    scale: int | None = None

    def parameters(self) -> dict[str, str]:
        out = {"__debezium.source.column.type": self.type_name}
        if self.length is not None:
            out["__debezium.source.column.length"] = str(self.length)
        if self.scale is not None:
            out["__debezium.source.column.scale"] = str(self.scale)
        return out


def _zoned(value: str) -> str:
    """Our UTC TIMESTAMP form as Debezium's ZonedTimestamp writes it (ISO-8601, fraction without trailing 0s)."""
    head, _, frac = value.rstrip("Z").partition(".")
    frac = frac.rstrip("0")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


def _encode_value(value: Any, spec: ColumnSpec | None, column: SourceColumn | None) -> tuple[Any, dict[str, Any]]:
    kind = spec.kind if spec is not None else Kind.TEXT if isinstance(value, str) else Kind.INT
    params = column.parameters() if column is not None else {}
    encoded, schema = _encode_kind(value, kind, spec, column)
    if params:
        schema["parameters"] = {**schema.get("parameters", {}), **params}
    return encoded, schema


def _encode_kind(value: Any, kind: Kind, spec: ColumnSpec | None,
                 column: SourceColumn | None) -> tuple[Any, dict[str, Any]]:
    if kind is Kind.DATETIME:
        micros = None if value is None else (dt.datetime.fromisoformat(value) - EPOCH) // dt.timedelta(microseconds=1)
        precise = (column.length or 0) > 3 if column is not None else micros is not None and micros % 1000 != 0
        if not precise:      # adaptive_time_microseconds: DATETIME(0..3) in ms, DATETIME(4..6) in µs
            return (None if micros is None else micros // 1000), {"type": "int64", "name": "io.debezium.time.Timestamp"}
        return micros, {"type": "int64", "name": "io.debezium.time.MicroTimestamp"}
    if kind is Kind.TIMESTAMP:
        return (None if value is None else _zoned(value)), {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}
    if kind is Kind.DATE:
        days = None if value is None else (dt.date.fromisoformat(value) - dt.date(1970, 1, 1)).days
        return days, {"type": "int32", "name": "io.debezium.time.Date"}
    if kind is Kind.TIME:
        if value is None:
            return None, {"type": "int64", "name": "io.debezium.time.MicroTime"}
        sign = -1 if value.startswith("-") else 1
        h, m, s = value.lstrip("-").split(":")
        sec, frac = s.split(".")
        return sign * ((int(h) * 3600 + int(m) * 60 + int(sec)) * 1_000_000 + int(frac)), {
            "type": "int64", "name": "io.debezium.time.MicroTime"}
    if kind is Kind.YEAR:
        return value, {"type": "int32", "name": "io.debezium.time.Year"}
    if kind is Kind.JSON:
        return (None if value is None else json.dumps(value, ensure_ascii=False)), {
            "type": "string", "name": "io.debezium.data.Json"}
    if kind is Kind.ENUM:
        return value, {"type": "string", "name": "io.debezium.data.Enum",
                       "parameters": {"allowed": ",".join(spec.members if spec else ())}}
    if kind is Kind.SET:
        return (None if value is None else ",".join(value)), {"type": "string", "name": "io.debezium.data.EnumSet"}
    if kind is Kind.BIT:
        bits = column.length if column is not None and column.length else max(int(value or 0).bit_length(), 1)
        raw = None if value is None else base64.b64encode(int(value).to_bytes((bits + 7) // 8, "little")).decode()
        return raw, {"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": str(bits)}}
    if kind is Kind.BINARY:
        return (None if value is None else value.upper()), {
            "type": "string", "parameters": {"__debezium.source.column.type": "VARBINARY"}}
    if kind is Kind.INT:
        unsigned_long = column is not None and column.type_name.startswith("BIGINT") and "UNSIGNED" in column.type_name
        if unsigned_long and value is not None and value >= 2**63:
            return value - 2**64, {"type": "int64"}       # bigint.unsigned.handling.mode=long
        return value, {"type": "int64"}
    if kind is Kind.FLOAT:
        return value, {"type": "float"}                  # FLOAT without (M,D): float32
    if kind is Kind.DOUBLE:
        return value, {"type": "double"}
    return value, {"type": "string"}   # text, decimal (decimal.handling.mode=string), uuid, inet6


def debezium_message(change: RowChange, specs: Mapping[str, ColumnSpec], *, server_name: str, server_id: int,
                     db: str, pos: int, row: int, columns: Mapping[str, SourceColumn] | None = None,
                     snapshot: str | None = None) -> dict[str, Any]:
    """The event Debezium's MySQL connector writes for `change` under the documented settings (`columns`: the
    source types column.propagate.source.type adds; `snapshot`: the source.snapshot marker, default "true"
    for a snapshot read and "false" otherwise)."""
    fields: dict[str, dict[str, Any]] = {}

    def encode(values: Row | None) -> dict[str, Any] | None:
        if values is None:
            return None
        out = {}
        for col, v in values.items():
            out[col], schema = _encode_value(v, specs.get(col), (columns or {}).get(col))
            fields[col] = {"field": col, "optional": True, **schema}
        return out

    before, after = encode(change.before), encode(change.after)
    value_schema = {"type": "struct", "name": f"{server_name}.{db}.{change.table}.Value", "optional": True,
                    "fields": list(fields.values())}
    marker = snapshot if snapshot is not None else "true" if change.op is Op.SNAPSHOT else "false"
    source = {"version": DEBEZIUM_VERSION, "connector": "mysql", "name": server_name, "ts_ms": change.ts_ms,
              "snapshot": marker, "db": db, "sequence": None, "ts_us": change.ts_ms * 1000,
              "ts_ns": change.ts_ms * 1_000_000, "table": change.table, "server_id": server_id,
              "gtid": change.gtid, "file": change.file, "pos": pos, "row": row, "thread": None, "query": None}
    now_ms = change.ts_ms + 7          # the connector's processing time, a little after the commit
    return {
        "schema": {"type": "struct", "name": f"{server_name}.{db}.{change.table}.Envelope", "optional": False,
                   "fields": [{"field": "before", **value_schema}, {"field": "after", **value_schema},
                              {"field": "source", "type": "struct", "name": "io.debezium.connector.mysql.Source"},
                              {"field": "op", "type": "string"}, {"field": "ts_ms", "type": "int64"},
                              {"field": "ts_us", "type": "int64"}, {"field": "ts_ns", "type": "int64"}]},
        "payload": {"before": before, "after": after, "source": source, "op": change.op.value,
                    "ts_ms": now_ms, "ts_us": now_ms * 1000, "ts_ns": now_ms * 1_000_000, "transaction": None},
    }


def debezium_from_envelope(env: Envelope, specs: Mapping[str, ColumnSpec], *, server_name: str,
                           columns: Mapping[str, SourceColumn] | None = None,
                           snapshot: str | None = None) -> dict[str, Any]:
    return debezium_message(env.to_change(), specs, server_name=server_name, server_id=env.source.server_id,
                            db=env.source.db, pos=env.source.pos, row=env.source.row, columns=columns,
                            snapshot=snapshot)
