"""Acceptance (issue 3, item 1): every column type decodes to the documented normalization, identically
through the binlog path (tailer) and the SELECT path (snapshot), for inserts, updates and deletes;
custom fields (JSON) reach the ticket document under the same rules."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition
from searchcore.values import normalize_typed_row
from syncer.column_specs import select_list, table_specs
from syncer.events import Op, RowChange
from syncer.tailer import TailerConfig, current_position, tail

pytestmark = pytest.mark.integration

TABLE = """
CREATE TABLE every_type (
  id INT NOT NULL PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, flag TINYINT(1),
  dec_big DECIMAL(65,30), dec_money DECIMAL(10,2), f FLOAT, d DOUBLE,
  dt DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6),
  tm0 TIME, tm2 TIME(2), tm4 TIME(4), tm6 TIME(6),
  ts0 TIMESTAMP NULL DEFAULT NULL, ts6 TIMESTAMP(6) NULL DEFAULT NULL, y YEAR,
  c_utf8 VARCHAR(50) CHARACTER SET utf8mb3, c_mb4 TEXT CHARACTER SET utf8mb4, c_latin1 VARCHAR(50) CHARACTER SET latin1,
  c_gbk VARCHAR(50) CHARACTER SET gbk, c_char CHAR(5),
  bin4 BINARY(4), vbin VARBINARY(20), blb BLOB,
  b1 BIT(1), b10 BIT(10), b64 BIT(64),
  e ENUM('small','medium','large'), s SET('red','green','blue'),
  j JSON, u UUID, ip INET6,
  gen_v INT AS (i * 2) VIRTUAL, gen_s VARCHAR(60) AS (CONCAT(c_mb4, '!')) STORED
) DEFAULT CHARSET=utf8mb4
"""

COLUMNS = ("id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, flag, dec_big, dec_money, f, d, dt, dt0, dt3, dt6,"
           " tm0, tm2, tm4, tm6, ts0, ts6, y, c_utf8, c_mb4, c_latin1, c_gbk, c_char, bin4, vbin, blb, b1, b10, b64,"
           " e, s, j, u, ip")

ROWS = [
    # minimum values, negative TIMEs with fractions, zero dates, '' ENUM, empty SET
    "(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 0,"
    " '-99999999999999999999999999999999999.999999999999999999999999999999', -99999999.99, -3.40282e38,"
    " -1.7976931348623157e308,"
    " '0000-00-00', '0000-00-00 00:00:00', '2024-00-00 10:00:00.5', '2024-02-00 00:00:00',"
    " '-838:59:59', '-00:00:01.56', '-12:00:00.0001', '-838:59:58.999999',"
    " '0000-00-00 00:00:00', '1970-01-01 05:30:01.000001', 0,"
    " '', '', '', '', '', '', '', '', b'0', b'0000000000', b'0', '', '', '[]',"
    " '00000000-0000-0000-0000-000000000000', '::'"
    ")",
    # maximum values, emoji, charsets, DATETIME(3) '.7'
    "(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,"
    " 18446744073709551615, 1,"
    " '99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 1.2345678, 0.1,"
    " '9999-12-31', '9999-12-31 23:59:59', '2024-01-01 10:00:00.7', '9999-12-31 23:59:59.999999',"
    " '838:59:59', '00:00:01.56', '12:00:00.0001', '838:59:59.000000',"
    " '2038-01-19 08:44:07', '2024-03-01 12:00:00.5', 2155,"
    " 'naïve ☃', '表情 😀🎉 emoji', 'café ÿ', '中文简体', 'ab', 0x61620000, 0x00ff00, 0x00,"
    " b'1', b'1010000001', b'1111111111111111111111111111111111111111111111111111111111111111',"
    " 'large', 'blue,red',"
    " '{\"n\": 1.5, \"big\": 12345678901234567890, \"s\": \"文\", \"l\": [true, null], \"o\": {\"k\": 1}}',"
    " '123e4567-e89b-12d3-a456-426655440000', '::ffff:1.2.3.4')",
    # NULL everywhere possible, DATETIME(3) '.05'
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " '2024-01-01 10:00:00.05', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    # an invalid ENUM value (stored as the '' index 0 in non-strict mode), a SET with every member
    "(4, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, '0.000000000000000000000000000001', 0.01, 0, 0, '2024-02-29',"
    " '2024-02-29 00:00:00', '2024-02-29 00:00:00.000', '2024-02-29 00:00:00.000001', '00:00:00', '-00:00:00.01',"
    " '-00:00:00.0001', '-00:00:00.000001', '2024-02-29 00:00:00', '2024-02-29 00:00:00.999999', 1901,"
    " 'x', 'y', 'z', 'w', 'v', 'u', 't', 's', b'1', b'1', b'1', 'not-a-member', 'green,blue,red,green', '\"text\"',"
    " 'ffffffff-ffff-ffff-ffff-ffffffffffff', '2001:db8::1')",
]

# The documented normalization (docs/values.md) of selected cells.
EXPECTED: dict[int, dict[str, Any]] = {
    1: {"biu": 0, "bi": -9223372036854775808, "dec_money": "-99999999.99", "dt": "0000-00-00",
        "dt0": "0000-00-00 00:00:00.000000", "dt3": "2024-00-00 10:00:00.500000", "dt6": "2024-02-00 00:00:00.000000",
        "tm0": "-838:59:59.000000", "tm2": "-00:00:01.560000", "tm4": "-12:00:00.000100", "tm6": "-838:59:58.999999",
        "ts0": "0000-00-00 00:00:00.000000", "ts6": "1970-01-01T00:00:01.000001Z", "y": 0, "e": "", "s": [],
        "b10": 0, "bin4": "00000000", "vbin": "", "j": [], "u": "00000000-0000-0000-0000-000000000000", "ip": "::",
        "f": -3.40282e38},
    2: {"biu": 18446744073709551615, "iu": 4294967295, "flag": 1, "f": 1.2345678, "d": 0.1,
        "dec_big": "99999999999999999999999999999999999.999999999999999999999999999999",
        "dt3": "2024-01-01 10:00:00.700000", "ts6": "2024-03-01T06:30:00.500000Z", "ts0": "2038-01-19T03:14:07.000000Z",
        "c_mb4": "表情 😀🎉 emoji", "c_latin1": "café ÿ", "c_gbk": "中文简体", "c_utf8": "naïve ☃", "c_char": "ab",
        "bin4": "61620000", "vbin": "00ff00", "blb": "00", "b1": 1, "b10": 641, "b64": 18446744073709551615,
        "e": "large", "s": ["red", "blue"],
        "j": {"n": 1.5, "big": 12345678901234567890, "s": "文", "l": [True, None], "o": {"k": 1}},
        "u": "123e4567-e89b-12d3-a456-426655440000", "ip": "::ffff:1.2.3.4", "gen_v": 2147483647,
        "gen_s": "表情 😀🎉 emoji!", "tm6": "838:59:59.000000"},
    3: {"dt3": "2024-01-01 10:00:00.050000", "s": None, "e": None, "j": None, "b1": None, "u": None, "gen_v": None},
    4: {"e": "", "s": ["red", "green", "blue"], "tm2": "-00:00:00.010000", "tm6": "-00:00:00.000001",
        "dec_big": "0.000000000000000000000000000001", "j": "text", "y": 1901, "ip": "2001:db8::1"},
}


def _exec(db: MySQLSettings, *sql: str) -> None:
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")           # zero dates and an invalid ENUM value allowed
            cur.execute("SET SESSION time_zone = '+05:30'")    # TIMESTAMPs written as local wall time
            for s in sql:
                cur.execute(s)
    finally:
        conn.close()


def _select(db: MySQLSettings) -> dict[int, dict[str, Any]]:
    """The SELECT path as the snapshot reads it, from a session in yet another time zone."""
    conn = pymysql.connect(cursorclass=pymysql.cursors.DictCursor, **db.connect_kwargs())
    try:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            specs = table_specs(cur, db.database, "every_type")
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '-08:00'")
            from syncer.snapshot import ConsistentSnapshot  # noqa: F401 - the snapshot sets +00:00 the same way
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT {select_list(specs)} FROM every_type ORDER BY id")
            return {int(r["id"]): normalize_typed_row(r, specs) for r in cur.fetchall()}
    finally:
        conn.close()


def _tail(db: MySQLSettings, start: BinlogPosition) -> list[RowChange]:
    config = TailerConfig(source=db, tables=frozenset({"every_type"}), json_columns={}, epoch=1)
    return [c for txn in tail(config, start, blocking=False) for c in txn.changes if c.table == "every_type"]


def test_every_type_binlog_equals_select_equals_documented(fresh_db: MySQLSettings) -> None:
    _exec(fresh_db, TABLE)
    start = current_position(fresh_db)
    _exec(fresh_db, f"INSERT INTO every_type ({COLUMNS}) VALUES " + ", ".join(ROWS))
    after_insert = _select(fresh_db)
    _exec(fresh_db, "UPDATE every_type SET i = i + 1, s = 'green', e = 'small', tm6 = '-01:02:03.400005',"
                    " j = JSON_OBJECT('k', 'v') WHERE id IN (1, 2, 4)")
    after_update = _select(fresh_db)
    _exec(fresh_db, "DELETE FROM every_type WHERE id IN (2, 3)")
    changes = _tail(fresh_db, start)

    inserts = {int(c.after["id"]): c.after for c in changes if c.op == Op.INSERT and c.after}
    updates = {int(c.after["id"]): (c.before, c.after) for c in changes if c.op == Op.UPDATE and c.after}
    deletes = {int(c.before["id"]): c.before for c in changes if c.op == Op.DELETE and c.before}
    assert set(inserts) == {1, 2, 3, 4} and set(updates) == {1, 2, 4} and set(deletes) == {2, 3}

    for rid, row in inserts.items():
        assert row == after_insert[rid], _diff(row, after_insert[rid])
    for rid, (before, after) in updates.items():
        assert before == after_insert[rid], _diff(before, after_insert[rid])
        assert after == after_update[rid], _diff(after, after_update[rid])
    for rid, row in deletes.items():
        assert row == after_update[rid], _diff(row, after_update[rid])
    for rid, cells in EXPECTED.items():
        for col, value in cells.items():
            assert after_insert[rid][col] == value, (rid, col, after_insert[rid][col], value)
            assert type(after_insert[rid][col]) is type(value), (rid, col)
    assert after_update[1]["tm6"] == "-01:02:03.400005"


def _diff(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    assert a is not None
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
