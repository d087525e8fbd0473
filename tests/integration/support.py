"""Test helpers: run the sync service as a real process (so it can be killed -9), wait on positions,
and compare every tenant's index with the database it mirrors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from searchcore.dbconfig import MySQLSettings
from searchcore.documents import StoredTicket
from searchcore.positions import BinlogPosition
from searchcore.values import normalize_value
from syncer.settings import SyncSettings

PROJECT = Path(__file__).resolve().parents[2]


def env_for(db: MySQLSettings, state_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TICKETSEARCH_MYSQL_HOST": db.host, "TICKETSEARCH_MYSQL_PORT": str(db.port),
        "TICKETSEARCH_MYSQL_USER": db.user, "TICKETSEARCH_MYSQL_PASSWORD": db.password,
        "TICKETSEARCH_MYSQL_DATABASE": db.database, "TICKETSEARCH_STATE_DIR": str(state_dir),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class SyncProcess:
    """`ticketsearch sync` as a child process with its output in a log file."""

    def __init__(self, db: MySQLSettings, state_dir: Path, *args: str, **env: str) -> None:
        self.db = db
        self.state_dir = state_dir
        self.args = args
        self.env = env_for(db, state_dir, **env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir.parent / "sync.log"
        self.starts = 0

    def start(self) -> SyncProcess:
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start #{self.starts} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ticketsearch.cli", "sync", *self.args],
                cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def execute(db: MySQLSettings, *statements: str | tuple[str, Any]) -> None:
    """Run statements (SQL, or (SQL, args)) in one source transaction."""
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            conn.begin()
            for st in statements:
                if isinstance(st, str):
                    cur.execute(st)
                else:
                    cur.execute(st[0], st[1])
            conn.commit()
    finally:
        conn.close()


def execute_each(db: MySQLSettings, *statements: str) -> None:
    """Run statements one by one, each its own (autocommitted) transaction."""
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            for st in statements:
                cur.execute(st)
    finally:
        conn.close()


def source_position(db: MySQLSettings) -> BinlogPosition:
    conn = pymysql.connect(**db.connect_kwargs(with_database=False))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            assert row is not None
            return BinlogPosition(str(row[0]), int(row[1]))
    finally:
        conn.close()


def checkpoint(state_dir: Path) -> BinlogPosition | None:
    path = state_dir / "checkpoint.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return None if data.get("position") is None else BinlogPosition.from_json(data["position"])


def wait_synced(db: MySQLSettings, state_dir: Path, *, timeout: float = 120.0,
                process: SyncProcess | None = None) -> BinlogPosition:
    """Wait until the service's checkpoint reaches the source's current position (no sleeps-as-sync)."""
    target = source_position(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = checkpoint(state_dir)
        if got is not None and target <= got:
            return got
        if process is not None and not process.alive():
            raise AssertionError(f"sync process died:\n{process.log()[-4000:]}")
        time.sleep(0.05)
    raise AssertionError(f"not synced to {target} within {timeout} s (at {checkpoint(state_dir)})")


# ---- expected documents, read straight from the database ------------------------------------------
@dataclass(frozen=True)
class ExpectedTicket:
    fields: dict[str, Any]
    comments: list[tuple[str, str]]   # (comment id, body) by id
    tags: list[str]


FIELD_COLUMNS = {
    "ticket_number": "ticket_number", "subject": "subject", "body": "description", "status": "status",
    "priority": "priority", "category": "category", "channel": "channel", "requester_id": "requester_id",
    "assignee_id": "assignee_id", "order_number": "order_number", "custom_fields": "custom_fields",
    "created_at": "created_at", "updated_at": "updated_at",
}


def expected_tickets(db: MySQLSettings, tenant_id: int, ids: Iterable[int] | None = None) -> dict[int, ExpectedTicket]:
    conn = pymysql.connect(cursorclass=pymysql.cursors.DictCursor, **db.connect_kwargs())
    where, args = "tenant_id = %s", [tenant_id]
    if ids is not None:
        id_list = list(ids)
        if not id_list:
            return {}
        where += f" AND id IN ({','.join(['%s'] * len(id_list))})"
        args += id_list
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM tickets WHERE {where}", args)
            tickets = {int(r["id"]): r for r in cur.fetchall()}
            cur.execute("SELECT ticket_id, id, body FROM ticket_comments WHERE tenant_id=%s ORDER BY id", (tenant_id,))
            comments: dict[int, list[tuple[str, str]]] = {}
            for r in cur.fetchall():
                comments.setdefault(int(r["ticket_id"]), []).append((str(r["id"]), r["body"]))
            cur.execute("SELECT tt.ticket_id, t.name FROM ticket_tags tt JOIN tags t ON t.tenant_id=tt.tenant_id"
                        " AND t.id=tt.tag_id WHERE tt.tenant_id=%s", (tenant_id,))
            tags: dict[int, list[str]] = {}
            for r in cur.fetchall():
                tags.setdefault(int(r["ticket_id"]), []).append(r["name"])
    finally:
        conn.close()
    out = {}
    for tid, row in tickets.items():
        fields = {f: normalize_value(row[c], json_column=(c == "custom_fields")) for f, c in FIELD_COLUMNS.items()}
        out[tid] = ExpectedTicket(fields, comments.get(tid, []), sorted(tags.get(tid, [])))
    return out


def indexed_view(doc: StoredTicket) -> ExpectedTicket:
    return ExpectedTicket(
        dict(doc.fields),
        [(k, str(r["text"])) for k, r in doc.live_children("comments")],
        sorted(str(r["value"]) for _, r in doc.live_children("tags")),
    )


def tenant_ids_in_db(db: MySQLSettings) -> list[int]:
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT tenant_id FROM tickets UNION SELECT id FROM tenants")
            return sorted(int(r[0]) for r in cur.fetchall())
    finally:
        conn.close()


def compare_index_with_db(db: MySQLSettings, state_dir: Path) -> dict[str, list[str]]:
    """Every tenant: missing, extra (incl. resurrected) and stale documents. Empty lists = identical."""
    from syncer.service import open_backend

    backend = open_backend(SyncSettings(source=db, state_dir=state_dir), writable=False)
    problems: dict[str, list[str]] = {"missing": [], "extra": [], "stale": []}
    indexed_tenants = set(backend.tenants())
    for tenant in sorted(set(tenant_ids_in_db(db)) | indexed_tenants):
        expected = expected_tickets(db, tenant)
        indexed = {d.ticket_id: d for d in backend.all_documents(tenant)} if tenant in indexed_tenants else {}
        for tid, exp in expected.items():
            doc = indexed.get(tid)
            if doc is None:
                problems["missing"].append(f"{tenant}:{tid}")
            elif indexed_view(doc) != exp:
                problems["stale"].append(f"{tenant}:{tid}: index {indexed_view(doc)} != db {exp}")
        for tid in indexed:
            if tid not in expected:
                problems["extra"].append(f"{tenant}:{tid}")
    backend.close()
    return problems
