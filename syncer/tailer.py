"""Binlog tailer: reads the source's binlog in file/position mode and emits committed transactions.

Input: the source settings, the position to resume from (a transaction boundary) and the tables the
source mapping names. Output: Transaction objects (typed RowChanges normalized per column type by
searchcore.values, the DDL of the source database as SchemaChanges, and the position right after the
commit), in binlog order.
Guarantee: a Transaction is emitted only once its commit event has been read, so a checkpoint taken at
`Transaction.end` is never mid-transaction. Column names and types come from each event's own table map
(binlog_row_metadata=FULL, freeze_schema=True), so rows written before and after an ALTER decode with
their own layout. The library's silent mid-transaction reconnect is disabled (a lost connection raises
SourceConnectionLost); `tail_forever` owns reconnects: it resumes from the end of the last emitted
transaction, so each committed transaction is emitted exactly once and positions strictly increase; a
binlog history that no longer contains that position raises SourceChanged (new epoch) or
CheckpointPurged. GTIDs are tracked alongside file/position but never used to position the stream (the
library's MariaDB GTID mode replays and ignores positions; DESIGN.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pymysql.connections
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition, file_sequence, make_version
from searchcore.values import ColumnSpec, normalize_typed_row
from syncer import binlog_decoding
from syncer.column_specs import table_specs
from syncer.events import Op, RowChange, Transaction
from syncer.preflight import CheckpointPurged, PreflightError, Verdict, preflight, verify_checkpoint
from syncer.schema_events import SchemaChange, parse_ddl

__all__ = ["CheckpointPurged", "PreflightError", "SourceChanged", "SourceConnectionLost", "TailerConfig",
           "current_position", "preflight", "tail", "tail_forever"]

log = logging.getLogger(__name__)


class SourceConnectionLost(RuntimeError):
    """The replication connection broke (server restart, KILL, network, heartbeat timeout)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"replication connection lost ({code}): {message}")
        self.code = code


class SourceChanged(RuntimeError):
    """The source's binlog history no longer contains our position: a new version epoch is needed."""

    def __init__(self, reason: str, position: BinlogPosition) -> None:
        super().__init__(f"source binlog history changed at {position}: {reason}")
        self.reason = reason
        self.position = position


class _StrictConnection(pymysql.connections.Connection):  # type: ignore[misc]
    """A connection whose lost-connection errors are not OperationalErrors, so the library cannot
    swallow them and reconnect mid-transaction from an event position."""

    def _read_packet(self, packet_type: Any = pymysql.connections.MysqlPacket) -> Any:
        try:
            return super()._read_packet(packet_type)
        except pymysql.OperationalError as exc:
            code = int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else 0
            if code in (2013, 2006):
                raise SourceConnectionLost(code, str(exc.args[-1])) from exc
            raise


def current_position(settings: MySQLSettings) -> BinlogPosition:
    conn = pymysql.connect(**settings.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            if row is None:
                raise PreflightError("log_bin", "0", "1", "start the server with --log-bin")
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (str(row[0]), int(row[1])))
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
    source_identity: str | None = None        # server_id/gtid_domain_id recorded with the checkpoint
    reconnect_max_s: float = 2.0


class _Hints:
    """information_schema types of the mapped tables, as hints for what the binlog cannot say."""

    def __init__(self, config: TailerConfig) -> None:
        self.config = config
        self._cache: dict[str, dict[str, ColumnSpec]] = {}

    def get(self, table: str) -> dict[str, ColumnSpec]:
        if table not in self._cache:
            conn = pymysql.connect(**self.config.source.connect_kwargs(with_database=False))
            try:
                with conn.cursor() as cur:
                    self._cache[table] = table_specs(cur, self.config.source.database, table,
                                                     self.config.json_columns.get(table, frozenset()))
            finally:
                conn.close()
        return self._cache[table]

    def forget(self, tables: tuple[str, ...]) -> None:
        for t in tables:
            self._cache.pop(t, None)


def tail(config: TailerConfig, start: BinlogPosition, *, blocking: bool = True,
         should_stop: Callable[[], bool] | None = None) -> Iterator[Transaction]:
    """Committed transactions from `start` on. Empty transactions are emitted too (they move the position).
    `should_stop` is polled at every event and heartbeat (so at least every `heartbeat_s`)."""
    binlog_decoding.install()
    stream = BinLogStreamReader(
        connection_settings={
            "host": config.source.host, "port": config.source.port,
            "user": config.source.user, "passwd": config.source.password,
            "read_timeout": max(3.0 * config.heartbeat_s, 3.0), "connect_timeout": 10,
        },
        server_id=config.replica_server_id,
        log_file=start.file,
        log_pos=start.offset,
        resume_stream=True,
        blocking=blocking,
        only_schemas=[config.source.database],
        only_tables=sorted(config.tables),
        only_events=[
            RotateEvent, MariadbGtidEvent, GtidEvent, QueryEvent, XidEvent, HeartbeatLogEvent,
            WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent,
        ],
        freeze_schema=True,
        slave_heartbeat=config.heartbeat_s,
        is_mariadb=False,
        pymysql_wrapper=_StrictConnection,
    )
    hints = _Hints(config)
    gtid: str | None = start.gtid
    pending: list[RowChange] = []
    ddl: list[SchemaChange] = []
    txn_gtid: str | None = None
    seq = file_sequence(start.file)
    last_end = start
    verified = time.monotonic()
    try:
        for event in stream:
            if should_stop is not None and should_stop():
                return
            file = stream.log_file
            if isinstance(event, HeartbeatLogEvent):
                # An idle stream: is our position still in the source's history? (RESET MASTER leaves the
                # dump connection open and silent.)
                if time.monotonic() - verified >= config.heartbeat_s and not pending:
                    verified = time.monotonic()
                    if verify_checkpoint(config.source, last_end, config.source_identity) == Verdict.NEW_HISTORY:
                        raise SourceChanged("the source's binlog history changed under an idle stream", last_end)
                continue
            if isinstance(event, RotateEvent):
                new_seq = file_sequence(str(event.next_binlog))
                if new_seq < seq:
                    raise SourceChanged(f"binlog rotated back to {event.next_binlog}", BinlogPosition(file, 0, gtid))
                seq = new_seq
                continue
            if isinstance(event, MariadbGtidEvent | GtidEvent):
                pending, ddl = [], []
                txn_gtid = str(event.gtid)
                continue
            end = int(event.packet.log_pos)
            if isinstance(event, QueryEvent) and not _is_transaction_control(event):
                change = _schema_change(event, config)
                if change is not None:
                    hints.forget(change.tables)
                    ddl.append(change)
            if isinstance(event, XidEvent) or (isinstance(event, QueryEvent) and _ends_transaction(event)):
                if txn_gtid is not None:
                    gtid = txn_gtid
                last_end = BinlogPosition(file, end, gtid)
                yield Transaction(changes=tuple(pending), end=last_end,
                                  ts_ms=int(event.timestamp) * 1000, schema_changes=tuple(ddl))
                pending, ddl = [], []
                txn_gtid = None
                continue
            if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                pending.extend(_row_changes(event, file, config, txn_gtid, hints))
    finally:
        stream.close()


def tail_forever(config: TailerConfig, start: BinlogPosition, *, sleep: Callable[[float], None] = time.sleep,
                 should_stop: Callable[[], bool] | None = None) -> Iterator[Transaction]:
    """`tail` with the product's own reconnect loop (see the module docstring)."""
    last = start
    attempt = 0
    while not (should_stop is not None and should_stop()):
        try:
            verdict = verify_checkpoint(config.source, last, config.source_identity)
            if verdict == Verdict.NEW_HISTORY:
                raise SourceChanged("the position is not in the source's binlog history", last)
            for txn in tail(config, last, should_stop=should_stop):
                if not last < txn.end:
                    raise SourceChanged(f"position went back from {last} to {txn.end}", last)
                attempt = 0
                last = txn.end
                yield txn
            return
        except (SourceConnectionLost, pymysql.OperationalError) as exc:
            attempt += 1
            delay = min(config.reconnect_max_s, 0.1 * (2 ** min(attempt, 6)))
            log.warning("replication connection lost (%s); reconnecting from %s in %.1f s", exc, last, delay,
                        extra={"position": str(last)})
            sleep(delay)
        except pymysql.err.InternalError as exc:
            code = int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else 0
            if code != 1236:     # ER_MASTER_FATAL_ERROR_READING_BINLOG: file gone or position invalid
                raise
            verdict = verify_checkpoint(config.source, last, config.source_identity)
            raise SourceChanged(f"the server cannot stream from here ({exc.args[-1]}; {verdict})", last) from exc


def _is_transaction_control(event: QueryEvent) -> bool:
    query = event.query.strip().upper() if isinstance(event.query, str) else ""
    return query in ("BEGIN", "COMMIT", "ROLLBACK") or query.startswith("XA ")


def _ends_transaction(event: QueryEvent) -> bool:
    query = event.query.strip().upper() if isinstance(event.query, str) else ""
    return query != "BEGIN"


def _schema_change(event: QueryEvent, config: TailerConfig) -> SchemaChange | None:
    schema = event.schema.decode() if isinstance(event.schema, bytes) else str(event.schema or "")
    query = event.query if isinstance(event.query, str) else ""
    change = parse_ddl(query, schema, config.source.database)
    if change is not None:
        log.info("schema change %s %s at %s:%s", change.kind, change.tables, "", int(event.packet.log_pos),
                 extra={"position": int(event.packet.log_pos)})
    return change


def _row_changes(event: WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent, file: str,
                 config: TailerConfig, gtid: str | None, hints: _Hints) -> list[RowChange]:
    start = int(event.packet.log_pos) - int(event.event_size)
    json_cols = config.json_columns.get(event.table, frozenset())
    specs = binlog_decoding.specs_for_event(event, hints.get(event.table), json_cols)
    ts_ms = int(event.timestamp) * 1000
    out: list[RowChange] = []

    def norm(values: dict[str, Any], none_sources: dict[str, str] | None) -> dict[str, Any]:
        return normalize_typed_row(binlog_decoding.row_values(values, none_sources), specs, json_cols)

    for i, row in enumerate(event.rows):
        offset = start + i
        version = make_version(config.epoch, file, offset)
        if isinstance(event, WriteRowsEvent):
            op, before, after = Op.INSERT, None, norm(row["values"], row.get("none_sources"))
        elif isinstance(event, DeleteRowsEvent):
            op, before, after = Op.DELETE, norm(row["values"], row.get("none_sources")), None
        else:
            op = Op.UPDATE
            before = norm(row["before_values"], row.get("before_none_sources"))
            after = norm(row["after_values"], row.get("after_none_sources"))
        out.append(RowChange(event.table, op, before, after, version, file, offset, gtid, ts_ms))
    return out
