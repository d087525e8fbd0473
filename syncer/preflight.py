"""Preflight: can this source give the syncer's guarantees, and is the checkpoint still in its history?

Input: a connection to the source (or, for the pure checks, the server variables as a mapping) and the
stored checkpoint position. Output: nothing when all is well; otherwise a PreflightError naming the
variable and the statement that fixes it, or CheckpointPurged naming the command that re-snapshots;
`history_verdict` tells SAME, PURGED or NEW_HISTORY (RESET MASTER, another server, failover).
Guarantee: refuses binlog_format other than ROW, binlog_row_image other than FULL, binlog_row_metadata
other than FULL (column names must come from the event), server_id 0, and MySQL's
binlog_row_value_options=PARTIAL_JSON (partial JSON updates would reach us as diffs the decoder cannot
apply: refused, never skipped). A checkpoint is SAME only when its file still holds its offset and,
when a GTID was recorded, the server's BINLOG_GTID_POS at that offset still contains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pymysql

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition, file_sequence

RESNAPSHOT_COMMAND = "ticketsearch sync --resnapshot"


class PreflightError(RuntimeError):
    """The source cannot give the guarantees the syncer needs; names the variable to change."""

    def __init__(self, variable: str, actual: str, expected: str, fix: str) -> None:
        super().__init__(f"source refused: @@{variable} is {actual!r}, must be {expected!r} — {fix}")
        self.variable = variable
        self.actual = actual
        self.expected = expected
        self.fix = fix


class CheckpointPurged(RuntimeError):
    """The checkpoint's binlog file is gone from the source; only a re-snapshot can continue."""

    def __init__(self, position: BinlogPosition, oldest: str | None) -> None:
        super().__init__(
            f"the checkpoint {position} is no longer in the source's binlog (oldest file: {oldest or 'none'});"
            f" changes after it are lost to streaming — run `{RESNAPSHOT_COMMAND}` to re-snapshot every tenant"
        )
        self.position = position
        self.oldest = oldest
        self.command = RESNAPSHOT_COMMAND


REQUIRED_SETTINGS = (
    ("log_bin", ("1", "ON"), "start the server with --log-bin"),
    ("binlog_format", ("ROW",), "SET GLOBAL binlog_format='ROW' (and in the server config)"),
    ("binlog_row_image", ("FULL",), "SET GLOBAL binlog_row_image='FULL'"),
    ("binlog_row_metadata", ("FULL",),
     "SET GLOBAL binlog_row_metadata='FULL' (column names and ENUM/SET members in the binlog)"),
)


def check_variables(variables: Mapping[str, Any]) -> None:
    """The pure part of preflight over `@@GLOBAL` values (names lowercase; a missing variable is None)."""
    for name, expected, fix in REQUIRED_SETTINGS:
        raw = variables.get(name)
        actual = "" if raw is None else str(raw).upper()
        if actual not in expected:
            raise PreflightError(name, actual, expected[0], fix)
    server_id = variables.get("server_id")
    if server_id is None or int(server_id) == 0:
        raise PreflightError("server_id", str(server_id), "non-zero", "start the server with --server-id=N")
    options = str(variables.get("binlog_row_value_options") or "").upper()
    if "PARTIAL_JSON" in options:
        raise PreflightError("binlog_row_value_options", options, "",
                             "SET GLOBAL binlog_row_value_options='' (partial JSON updates are not decoded)")


def read_variables(cur: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = [n for n, _, _ in REQUIRED_SETTINGS] + ["server_id", "binlog_row_value_options"]
    for name in names:
        cur.execute("SHOW GLOBAL VARIABLES LIKE %s", (name,))
        row = cur.fetchone()
        out[name] = None if row is None else row[1]
    return out


class Verdict(StrEnum):
    SAME = "same"              # the checkpoint is in the source's current binlog history
    PURGED = "purged"          # same history, but the checkpoint's file was purged
    NEW_HISTORY = "new"        # RESET MASTER, another server, or a changed server id / GTID domain


@dataclass(frozen=True)
class SourceIdentity:
    server_id: int
    gtid_domain_id: int

    def to_json(self) -> str:
        return f"{self.server_id}/{self.gtid_domain_id}"


def source_identity(cur: Any) -> SourceIdentity:
    cur.execute("SELECT @@GLOBAL.server_id, @@GLOBAL.gtid_domain_id")
    row = cur.fetchone()
    return SourceIdentity(int(row[0]), int(row[1] or 0))


def _gtids(text: str | None) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for item in (text or "").replace("\n", "").split(","):
        item = item.strip()
        if item.count("-") == 2:
            domain, server, seq = (int(x) for x in item.split("-"))
            out[(domain, server)] = seq
    return out


def history_verdict(cur: Any, position: BinlogPosition, recorded_identity: str | None = None) -> Verdict:
    if recorded_identity is not None and source_identity(cur).to_json() != recorded_identity:
        return Verdict.NEW_HISTORY
    cur.execute("SHOW BINARY LOGS")
    files = {str(r[0]): int(r[1]) for r in cur.fetchall()}
    ours = _gtids(position.gtid)
    if position.file in files and position.offset <= files[position.file]:
        if not ours:
            return Verdict.SAME
        cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (position.file, position.offset))
        row = cur.fetchone()
        there = _gtids(None if row is None else row[0])
        return Verdict.SAME if all(there.get(k) == v for k, v in ours.items()) else Verdict.NEW_HISTORY
    if ours:
        cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
        row = cur.fetchone()
        now = _gtids(None if row is None else row[0])
        per_domain: dict[int, int] = {}
        for (domain, _), seq in now.items():
            per_domain[domain] = max(per_domain.get(domain, 0), seq)
        continued = all(per_domain.get(domain, -1) >= seq for (domain, _), seq in ours.items())
        return Verdict.PURGED if continued and position.file not in files else Verdict.NEW_HISTORY
    if files and file_sequence(position.file) < min(file_sequence(f) for f in files):
        return Verdict.PURGED
    return Verdict.NEW_HISTORY


def preflight(settings: MySQLSettings) -> None:
    conn = pymysql.connect(**settings.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            check_variables(read_variables(cur))
    finally:
        conn.close()


def verify_checkpoint(settings: MySQLSettings, position: BinlogPosition, recorded_identity: str | None) -> Verdict:
    """SAME or NEW_HISTORY; raises CheckpointPurged when the history continues without our file."""
    conn = pymysql.connect(**settings.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            verdict = history_verdict(cur, position, recorded_identity)
            if verdict == Verdict.PURGED:
                cur.execute("SHOW BINARY LOGS")
                rows = cur.fetchall()
                raise CheckpointPurged(position, str(rows[0][0]) if rows else None)
            return verdict
    finally:
        conn.close()


def current_identity(settings: MySQLSettings) -> str:
    conn = pymysql.connect(**settings.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            return source_identity(cur).to_json()
    finally:
        conn.close()
