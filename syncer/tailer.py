"""Binlog tailer: reads the source's binlog in file/position mode and emits committed transactions.

Input: the source settings, the position to resume from (a transaction boundary) and the tables the
source mapping names. Output: Transaction objects (typed, normalized RowChanges plus the position
right after the commit), in binlog order.
Guarantee: a Transaction is emitted only once its commit event has been read, so a checkpoint taken at
`Transaction.end` is never mid-transaction. GTIDs are tracked alongside file/position but never used to
position the stream (the library's MariaDB GTID mode replays and ignores positions; DESIGN.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import GtidEvent, MariadbGtidEvent, QueryEvent, RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition, make_version
from syncer.events import Op, RowChange, Transaction
from searchcore.values import normalize_row

log = logging.getLogger(__name__)

REQUIRED_SETTINGS = (
    ("log_bin", "1", "start the server with --log-bin"),
    ("binlog_format", "ROW", "SET GLOBAL binlog_format='ROW' (and in the server config)"),
    ("binlog_row_image", "FULL", "SET GLOBAL binlog_row_image='FULL'"),
    ("binlog_row_metadata", "FULL", "SET GLOBAL binlog_row_metadata='FULL' (column names in the binlog)"),
)


class PreflightError(RuntimeError):
    """The source cannot give the guarantees the syncer needs; names the variable to change."""

    def __init__(self, variable: str, actual: str, expected: str, fix: str) -> None:
        super().__init__(
            f"source refused: @@{variable} is {actual!r}, must be {expected!r} — {fix}"
        )
        self.variable = variable
        self.actual = actual
        self.expected = expected


def preflight(settings: MySQLSettings) -> None:
    conn = pymysql.connect(**settings.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            for variable, expected, fix in REQUIRED_SETTINGS:
                cur.execute(f"SELECT @@GLOBAL.{variable}")
                row = cur.fetchone()
                actual = "" if row is None or row[0] is None else str(row[0]).upper()
                if actual != expected:
                    raise PreflightError(variable, actual, expected, fix)
            cur.execute("SELECT @@GLOBAL.server_id")
            row = cur.fetchone()
            if row is None or int(row[0]) == 0:
                raise PreflightError("server_id", "0", "non-zero", "start the server with --server-id=N")
    finally:
        conn.close()


def current_position(settings: MySQLSettings) -> BinlogPosition:
    conn = pymysql.connect(**settings.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            if row is None:
                raise PreflightError("log_bin", "0", "1", "start the server with --log-bin")
            cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
            gtid_row = cur.fetchone()
            gtid = str(gtid_row[0]) if gtid_row and gtid_row[0] else None
            return BinlogPosition(str(row[0]), int(row[1]), gtid)
    finally:
        conn.close()


@dataclass(frozen=True)
class TailerConfig:
    source: MySQLSettings
    tables: frozenset[str]
    json_columns: dict[str, frozenset[str]]   # table -> columns holding JSON
    epoch: int
    replica_server_id: int = 4_242_001
    heartbeat_s: float = 5.0


def tail(config: TailerConfig, start: BinlogPosition, *, blocking: bool = True) -> Iterator[Transaction]:
    """Committed transactions from `start` on. Empty transactions are emitted too (they move the position)."""
    stream = BinLogStreamReader(
        connection_settings={
            "host": config.source.host, "port": config.source.port,
            "user": config.source.user, "passwd": config.source.password,
        },
        server_id=config.replica_server_id,
        log_file=start.file,
        log_pos=start.offset,
        resume_stream=True,
        blocking=blocking,
        only_schemas=[config.source.database],
        only_tables=sorted(config.tables),
        only_events=[
            RotateEvent, MariadbGtidEvent, GtidEvent, QueryEvent, XidEvent,
            WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent,
        ],
        freeze_schema=True,
        slave_heartbeat=config.heartbeat_s,
        is_mariadb=False,
    )
    gtid: str | None = start.gtid
    pending: list[RowChange] = []
    txn_gtid: str | None = None
    try:
        for event in stream:
            file = stream.log_file
            if isinstance(event, RotateEvent):
                continue
            if isinstance(event, MariadbGtidEvent | GtidEvent):
                pending = []
                txn_gtid = str(event.gtid)
                continue
            end = int(event.packet.log_pos)
            if isinstance(event, XidEvent) or (isinstance(event, QueryEvent) and _ends_transaction(event)):
                if txn_gtid is not None:
                    gtid = txn_gtid
                yield Transaction(
                    changes=tuple(pending), end=BinlogPosition(file, end, gtid), ts_ms=int(event.timestamp) * 1000
                )
                pending = []
                txn_gtid = None
                continue
            if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                pending.extend(_row_changes(event, file, config, txn_gtid))
    finally:
        stream.close()


def _ends_transaction(event: QueryEvent) -> bool:
    query = event.query.strip().upper() if isinstance(event.query, str) else ""
    return query != "BEGIN"


def _row_changes(event: WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent, file: str,
                 config: TailerConfig, gtid: str | None) -> list[RowChange]:
    start = int(event.packet.log_pos) - int(event.event_size)
    json_cols = config.json_columns.get(event.table, frozenset())
    ts_ms = int(event.timestamp) * 1000
    out: list[RowChange] = []
    for i, row in enumerate(event.rows):
        offset = start + i
        version = make_version(config.epoch, file, offset)
        if isinstance(event, WriteRowsEvent):
            op, before, after = Op.INSERT, None, normalize_row(row["values"], json_cols)
        elif isinstance(event, DeleteRowsEvent):
            op, before, after = Op.DELETE, normalize_row(row["values"], json_cols), None
        else:
            op = Op.UPDATE
            before = normalize_row(row["before_values"], json_cols)
            after = normalize_row(row["after_values"], json_cols)
        out.append(RowChange(event.table, op, before, after, version, file, offset, gtid, ts_ms))
    return out
