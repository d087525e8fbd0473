"""Golden Kafka messages (tests/golden/kafka/): one envelope per op and table, one row with every column type,
the control messages (watermark, sweep), a claim-checked envelope and a dead letter;
our envelope <-> RowChange round trips, keys by ticket document, the tenant partitioner, and Debezium events
(per type and a hand-written connector message) decoding to the same RowChange.

Regenerate the goldens after an intended format change with TICKETSEARCH_UPDATE_GOLDEN=1."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
from pathlib import Path

import pytest

from searchcore.positions import BinlogPosition, make_version
from searchcore.values import ColumnSpec, Kind, normalize
from syncer.debezium import DebeziumError, SourceColumn, change_from_debezium, debezium_message, is_debezium
from syncer.envelope import (
    SWEEP_KEY,
    WATERMARK_KEY,
    Envelope,
    EnvelopeError,
    Sweep,
    Watermark,
    document_keys,
    envelopes_for,
    parse_json,
)
from syncer.events import Op, RowChange
from syncer.kafka_bus import claim_check, dead_letter_value, partition_for, resolve_claim
from syncer.source_mapping import load_source_mapping

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "kafka"
FILE = "mysql-bin.000003"
MAPPING = load_source_mapping()


def change(table: str, op: Op, before: dict | None, after: dict | None, offset: int = 4000) -> RowChange:  # type: ignore[type-arg]
    return RowChange(table, op, before, after, make_version(1, FILE, offset), FILE, offset, "0-1-42", 1_764_000_000_000)


TICKET = {"tenant_id": 7, "id": 42, "ticket_number": "T-42", "subject": "打印机卡纸 😀", "description": "无法登录",
          "status": "open", "priority": "high", "category": None, "channel": "web", "requester_id": 5,
          "assignee_id": None, "order_number": "DD2024", "custom_fields": {"sku": "A-1", "qty": 2},
          "created_at": "2024-01-01 10:00:00.123000", "updated_at": "2024-01-02 11:00:00.000000"}
COMMENT = {"tenant_id": 7, "id": 900, "ticket_id": 42, "author_id": 3, "body": "已处理", "is_public": 1,
           "created_at": "2024-01-02 11:00:00.500000"}
CASES = {
    "ticket_insert": change("tickets", Op.INSERT, None, TICKET),
    "ticket_update": change("tickets", Op.UPDATE, TICKET, {**TICKET, "status": "solved"}),
    "ticket_delete": change("tickets", Op.DELETE, TICKET, None),
    "ticket_snapshot": change("tickets", Op.SNAPSHOT, None, TICKET),
    "comment_insert": change("ticket_comments", Op.INSERT, None, COMMENT),
    "comment_move": change("ticket_comments", Op.UPDATE, COMMENT, {**COMMENT, "ticket_id": 43}),
    "tag_link_delete": change("ticket_tags", Op.DELETE, {"tenant_id": 7, "ticket_id": 42, "tag_id": 11}, None),
    "tag_rename": change("tags", Op.UPDATE, {"tenant_id": 7, "id": 11, "name": "旧"}, {"tenant_id": 7, "id": 11,
                                                                                    "name": "新"}),
}
TYPE_SPECS = [
    (ColumnSpec("c_int", Kind.INT), 18446744073709551615),
    (ColumnSpec("c_decimal", Kind.DECIMAL), decimal.Decimal("12345678901234567890.123456789")),
    (ColumnSpec("c_float", Kind.FLOAT), 0.1),
    (ColumnSpec("c_double", Kind.DOUBLE), 2.5e-300),
    (ColumnSpec("c_date", Kind.DATE), dt.date(2024, 2, 29)),
    (ColumnSpec("c_datetime", Kind.DATETIME), dt.datetime(2024, 2, 29, 23, 59, 59, 123456)),
    (ColumnSpec("c_timestamp", Kind.TIMESTAMP), dt.datetime(2024, 3, 1, 8, 0, 0, 500000)),
    (ColumnSpec("c_time", Kind.TIME), dt.timedelta(hours=-838, minutes=-59, seconds=-59)),
    (ColumnSpec("c_year", Kind.YEAR), 2155),
    (ColumnSpec("c_text", Kind.TEXT), "繁體 ＡＢＣ 😀"),
    (ColumnSpec("c_binary", Kind.BINARY), b"\x00\xffab"),
    (ColumnSpec("c_bit", Kind.BIT), b"\x05"),
    (ColumnSpec("c_enum", Kind.ENUM, ("a", "b")), "b"),
    (ColumnSpec("c_set", Kind.SET, ("x", "y", "z")), "z,x"),
    (ColumnSpec("c_json", Kind.JSON), '{"a": [1, 2.5, null, true], "b": "中"}'),
    (ColumnSpec("c_null", Kind.TEXT), None),
]


def all_types_change() -> tuple[RowChange, dict[str, ColumnSpec]]:
    row = {"tenant_id": 7, "id": 42, **{s.name: (None if v is None else normalize(v, s)) for s, v in TYPE_SPECS}}
    specs = {s.name: s for s, _ in TYPE_SPECS} | {"tenant_id": ColumnSpec("tenant_id", Kind.INT),
                                                  "id": ColumnSpec("id", Kind.INT)}
    return change("all_types", Op.INSERT, None, row), specs


def check_golden(name: str, value: dict) -> None:  # type: ignore[type-arg]
    path = GOLDEN / f"{name}.json"
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TICKETSEARCH_UPDATE_GOLDEN") == "1" or not path.exists():
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} changed: the wire format is pinned"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_envelope_per_op(name: str) -> None:
    ch = CASES[name]
    (env,) = envelopes_for([ch], server_id=1, db="helpdesk")
    check_golden(f"envelope_{name}", {"key": document_keys(ch, MAPPING), "value": json.loads(env.encode())})
    assert Envelope.decode(env.encode()) == env
    assert env.to_change() == ch


def test_golden_envelope_every_type() -> None:
    ch, _ = all_types_change()
    (env,) = envelopes_for([ch], server_id=1, db="helpdesk")
    check_golden("envelope_all_types", json.loads(env.encode()))
    assert Envelope.decode(env.encode()).to_change() == ch


def test_golden_control_messages() -> None:
    """The watermark and the end-of-snapshot sweep: their keys and values are part of the wire format too."""
    position = BinlogPosition(FILE, 4321, "0-1-42")
    mark = Watermark(position, 1_764_000_000_123)
    sweep = Sweep(make_version(2, FILE, 4), position, 6)
    check_golden("control_watermark", {"key": WATERMARK_KEY.decode(), "value": json.loads(mark.encode())})
    check_golden("control_sweep", {"key": SWEEP_KEY.decode(), "value": json.loads(sweep.encode())})
    assert Watermark.from_json(parse_json(mark.encode())) == mark
    assert Sweep.from_json(parse_json(sweep.encode())) == sweep
    with pytest.raises(EnvelopeError) as err:
        Sweep.from_json(parse_json(mark.encode()))
    assert err.value.field == "op"
    by_key = Sweep(sweep.floor, position, 6, "key")
    assert Sweep.from_json(parse_json(by_key.encode())) == by_key
    older = {k: v for k, v in json.loads(sweep.encode()).items() if k != "partitioner"}
    assert Sweep.from_json(older) == sweep     # a sweep written before the field existed was by tenant
    with pytest.raises(EnvelopeError) as err:
        Sweep.from_json({**older, "partitioner": "random"})
    assert err.value.field == "partitioner"


def test_golden_claim_checked_envelope(tmp_path: Path) -> None:
    """A change over the message limit travels as a pointer to a fsynced file named by its sha256."""
    (env,) = envelopes_for([CASES["ticket_insert"]], server_id=1, db="helpdesk")
    value = env.encode()
    pointer = claim_check(env, value, tmp_path / "claims")
    wire = json.loads(pointer.encode())
    assert wire["before"] is None and wire["after"] is None
    assert wire["claim_check"]["path"] == str(tmp_path / "claims" / f"{wire['claim_check']['sha256']}.json")
    check_golden("envelope_claim_checked", {**wire, "claim_check": {**wire["claim_check"], "path": "<claim_dir>/…"}})
    assert resolve_claim(Envelope.decode(pointer.encode())) == env
    Path(wire["claim_check"]["path"]).write_bytes(value.replace(b"T-42", b"T-43"))
    with pytest.raises(EnvelopeError) as err:
        resolve_claim(pointer)
    assert err.value.field == "claim_check"


def test_golden_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead letter keeps the original payload (hex when it is not UTF-8) with reason, tenant and position."""
    monkeypatch.setattr("syncer.kafka_bus.time.time", lambda: 1_764_000_000.5)
    fields = {"reason": "document over max_document_bytes", "tenant": 7, "ticket": 42,
              "position": f"{FILE}:4000", "topic": "ticketsearch.changes", "partition": 3, "offset": 17,
              "key": b"7:ticket:42"}
    text = json.loads(dead_letter_value(payload=b'{"op":"c"}', **fields))  # type: ignore[arg-type]
    binary = json.loads(dead_letter_value(payload=b"\xff\x00", **fields))  # type: ignore[arg-type]
    check_golden("dead_letter", {"utf8_payload": text, "binary_payload": binary})
    assert text["payload"] == '{"op":"c"}' and text["payload_hex"] is None
    assert binary["payload"] is None and binary["payload_hex"] == "ff00"


def test_rows_of_one_event_get_pos_and_row_index() -> None:
    a = change("ticket_comments", Op.INSERT, None, COMMENT, offset=5000)
    b = change("ticket_comments", Op.INSERT, None, {**COMMENT, "id": 901}, offset=5001)
    c = change("tickets", Op.UPDATE, TICKET, TICKET, offset=5300)
    envs = envelopes_for([a, b, c], server_id=1, db="helpdesk")
    assert [(e.source.pos, e.source.row) for e in envs] == [(5000, 0), (5000, 1), (5300, 0)]
    assert [e.to_change() for e in envs] == [a, b, c]


def test_keys_follow_the_document() -> None:
    assert document_keys(CASES["ticket_update"], MAPPING) == ["7:ticket:42"]
    assert document_keys(CASES["comment_insert"], MAPPING) == ["7:ticket:42"]
    assert document_keys(CASES["comment_move"], MAPPING) == ["7:ticket:42", "7:ticket:43"]
    assert document_keys(CASES["tag_link_delete"], MAPPING) == ["7:ticket:42"]
    assert document_keys(CASES["tag_rename"], MAPPING) == ["7:tags:11"]
    broken = change("ticket_comments", Op.INSERT, None, {"id": 1, "body": "x"})
    assert document_keys(broken, MAPPING) == ["ticket_comments:unroutable"]


def test_tenant_partitioner_keeps_a_tenant_in_one_partition() -> None:
    for tenant in range(1, 40):
        parts = {partition_for(f"{tenant}:ticket:{i}", 6) for i in range(50)} | {partition_for(f"{tenant}:tags:1", 6)}
        assert len(parts) == 1
    assert len({partition_for(f"{t}:ticket:1", 6) for t in range(1, 40)}) == 6
    assert len({partition_for(f"1:ticket:{i}", 6, "key") for i in range(100)}) == 6


def test_malformed_envelopes_are_rejected_with_the_field() -> None:
    with pytest.raises(EnvelopeError):
        Envelope.decode(b"not json")
    good = json.loads(envelopes_for([CASES["ticket_insert"]], server_id=1, db="h")[0].encode())
    with pytest.raises(EnvelopeError) as err:
        Envelope.from_json({**good, "schema_version": 9})
    assert err.value.field == "schema_version"
    with pytest.raises(EnvelopeError):
        Envelope.from_json({**good, "after": [1, 2]})


@pytest.mark.parametrize("name", sorted(CASES))
def test_debezium_round_trip_per_op(name: str) -> None:
    ch = CASES[name]
    specs = {"custom_fields": ColumnSpec("custom_fields", Kind.JSON),
             **{c: ColumnSpec(c, Kind.DATETIME) for c in ("created_at", "updated_at")},
             **{c: ColumnSpec(c, Kind.ENUM) for c in ("status", "priority", "channel")}}
    msg = debezium_message(ch, specs, server_name="dbserver1", server_id=1, db="helpdesk", pos=ch.offset, row=0)
    assert is_debezium(msg)
    assert change_from_debezium(json.loads(json.dumps(msg)), epoch=1) == ch


# what column.propagate.source.type=.* reports for the all-types table
SOURCE_COLUMNS = {"c_int": SourceColumn("BIGINT UNSIGNED", 20), "c_decimal": SourceColumn("DECIMAL", 29, 9),
                  "c_float": SourceColumn("FLOAT", 12), "c_double": SourceColumn("DOUBLE", 22),
                  "c_date": SourceColumn("DATE"), "c_datetime": SourceColumn("DATETIME", 6),
                  "c_timestamp": SourceColumn("TIMESTAMP", 6), "c_time": SourceColumn("TIME", 0),
                  "c_year": SourceColumn("YEAR"), "c_text": SourceColumn("VARCHAR", 64),
                  "c_binary": SourceColumn("VARBINARY", 16), "c_bit": SourceColumn("BIT", 12),
                  "c_enum": SourceColumn("ENUM", 1), "c_set": SourceColumn("SET", 5), "c_json": SourceColumn("JSON"),
                  "c_null": SourceColumn("VARCHAR", 10)}


def test_debezium_every_type_decodes_to_our_values() -> None:
    """The shapes the connector really writes: BIGINT UNSIGNED max as -1 (long mode), FLOAT as float32, YEAR as
    io.debezium.time.Year, BIT(12) in 2 bytes, the TIMESTAMP fraction trimmed; each decodes to our value."""
    ch, specs = all_types_change()
    msg = debezium_message(ch, specs, server_name="dbserver1", server_id=1, db="helpdesk", pos=ch.offset, row=0,
                           columns=SOURCE_COLUMNS)
    check_golden("debezium_all_types", msg)
    after = msg["payload"]["after"]
    assert after["c_int"] == -1 and after["c_year"] == 2155 and after["c_timestamp"] == "2024-03-01T08:00:00.5Z"
    assert len(__import__("base64").b64decode(after["c_bit"])) == 2
    assert change_from_debezium(json.loads(json.dumps(msg)), epoch=1) == ch


def test_debezium_widened_float_and_wrapped_unsigned_decode_exactly() -> None:
    """FLOAT(M,D) arrives as the float32 widened to a double; BIGINT UNSIGNED >= 2^63 as a negative long. Both
    decode to the value our tailer indexes, so the two paths cannot disagree."""
    ch, specs = all_types_change()
    msg = debezium_message(ch, specs, server_name="dbserver1", server_id=1, db="helpdesk", pos=ch.offset, row=0,
                           columns=SOURCE_COLUMNS)
    msg["payload"]["after"]["c_float"] = 0.10000000149011612          # struct.unpack('<f', pack(0.1)) as Java does
    msg["payload"]["after"]["c_int"] = -(2**63)
    got = change_from_debezium(msg, epoch=1)
    assert got.after is not None and got.after["c_float"] == 0.1 and got.after["c_int"] == 2**63
    signed = json.loads(json.dumps(msg))
    for f in signed["schema"]["fields"][1]["fields"]:
        if f["field"] == "c_int":
            f["parameters"]["__debezium.source.column.type"] = "BIGINT"     # a signed column keeps its sign
    got = change_from_debezium(signed, epoch=1)
    assert got.after is not None and got.after["c_int"] == -(2**63)


def test_debezium_events_outside_the_documented_settings_are_refused_with_the_setting() -> None:
    ch, specs = all_types_change()
    msg = debezium_message(ch, specs, server_name="dbserver1", server_id=1, db="helpdesk", pos=ch.offset, row=0)
    with pytest.raises(DebeziumError) as err:
        change_from_debezium(msg["payload"], epoch=1)                      # schemas.enable=false
    assert "schemas.enable=true" in str(err.value)
    with pytest.raises(DebeziumError) as err:
        change_from_debezium({**msg, "payload": {**msg["payload"], "op": "t"}}, epoch=1)
    assert err.value.field == "op" and "re-snapshot" in str(err.value)


def test_hand_written_debezium_connector_event() -> None:
    """As the Debezium MySQL connector documents an update event (JSON converter, schemas enabled)."""
    msg = json.loads((GOLDEN / "debezium_connector_update.json").read_text(encoding="utf-8"))
    got = change_from_debezium(msg, epoch=1)
    assert got.op is Op.UPDATE and got.table == "tickets"
    assert got.version == make_version(1, "mysql-bin.000003", 154 + 0)
    assert got.after == {"tenant_id": 7, "id": 42, "subject": "新主题", "description": "无法登录", "status": "solved",
                         "custom_fields": {"sku": "A-1"}, "created_at": "2024-01-01 10:00:00.123000",
                         "price": "19.90"}
    assert document_keys(got, MAPPING) == ["7:ticket:42"]


def test_sweep_round_trip_and_malformed_sweep() -> None:
    from searchcore.positions import BinlogPosition
    from syncer.envelope import Sweep, parse_json

    sweep = Sweep(make_version(1, "mysql-bin.000002", 4), BinlogPosition("mysql-bin.000002", 4), 6)
    assert Sweep.from_json(parse_json(sweep.encode())) == sweep
    with pytest.raises(EnvelopeError) as err:
        Sweep.from_json({"op": "m", "floor": 1, "position": {"file": "mysql-bin.000001", "offset": 4}, "partitions": 6})
    assert err.value.field == "op"


def test_kafka_settings_name_the_bad_variable() -> None:
    from syncer.kafka_bus import KafkaSettings

    ok = KafkaSettings.from_env({"TICKETSEARCH_KAFKA_PARTITIONS": "12", "TICKETSEARCH_KAFKA_BATCH_MAX_WAIT_S": "0.2"})
    assert (ok.partitions, ok.batch_max_wait_s) == (12, 0.2)
    for env, words in [({"TICKETSEARCH_KAFKA_PARTITIONS": "six"}, "TICKETSEARCH_KAFKA_PARTITIONS='six'"),
                       ({"TICKETSEARCH_KAFKA_PARTITIONS": "0"}, "at least 1"),
                       ({"TICKETSEARCH_KAFKA_BATCH_MAX_WAIT_S": "fast"}, "TICKETSEARCH_KAFKA_BATCH_MAX_WAIT_S"),
                       ({"TICKETSEARCH_KAFKA_MAX_MESSAGE_BYTES": "10"}, "at least 1024"),
                       ({"TICKETSEARCH_KAFKA_PARTITIONER": "round-robin"}, "'tenant' or 'key'"),
                       ({"TICKETSEARCH_KAFKA_COMPRESSION": "brotli"}, "gzip, lz4, zstd or snappy")]:
        with pytest.raises(ValueError) as err:
            KafkaSettings.from_env(env)
        assert words in str(err.value)
    with pytest.raises(ValueError, match="at least 1 partition"):
        KafkaSettings.from_env({}, partitions=-3)


def test_envelopes_and_sweeps_out_of_range_are_poison_not_retries() -> None:
    """Values that would make the indexer fail later (and retry for nothing) are refused when decoding."""
    (env,) = envelopes_for([CASES["ticket_update"]], server_id=1, db="helpdesk")
    good = json.loads(env.encode())
    for bad, field in [({**good, "version": 2**80}, "version"), ({**good, "version": -1}, "version"),
                       ({**good, "after": None}, "after"), ({**good, "op": "d", "before": None}, "before")]:
        with pytest.raises(EnvelopeError) as err:
            Envelope.from_json(bad)
        assert err.value.field == field
    sweep = json.loads(Sweep(make_version(1, FILE, 4), BinlogPosition(FILE, 4), 6).encode())
    with pytest.raises(EnvelopeError):
        Sweep.from_json({**sweep, "partitions": 0})


def test_kafka_settings_refuse_non_finite_numbers_and_bad_topic_names() -> None:
    from syncer.kafka_bus import KafkaSettings

    for env in ({"TICKETSEARCH_KAFKA_BATCH_MAX_WAIT_S": "nan"}, {"TICKETSEARCH_KAFKA_BATCH_MAX_WAIT_S": "inf"},
                {"TICKETSEARCH_KAFKA_TOPIC": ""}, {"TICKETSEARCH_KAFKA_TOPIC": "a/b"}):
        with pytest.raises(ValueError) as err:
            KafkaSettings.from_env(env)
        assert next(iter(env)) in str(err.value)
