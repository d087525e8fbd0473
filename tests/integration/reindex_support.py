"""Helpers of the reindex/reconcile/dictionary tests: wait on job records, call the admin API, write rows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pymysql

from searchcore import control
from searchcore.dbconfig import MySQLSettings


def wait_job(state_dir: Path, job_id: str, phases: tuple[str, ...] = ("done", "failed", "cancelled", "rejected"),
             timeout: float = 300.0, alive: Any = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = control.read_job(state_dir, job_id)
        if job is not None and job.get("phase") in phases:
            return job
        if alive is not None and not alive():
            raise AssertionError("sync process died")
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} not in {phases} within {timeout} s: {control.read_job(state_dir, job_id)}")


def wait_result(state_dir: Path, req_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = control.read_result(state_dir, req_id)
        if result is not None:
            return result
        time.sleep(0.05)
    raise AssertionError(f"no result for {req_id} within {timeout} s")


def insert_tickets(db: MySQLSettings, tenant: int, rows: list[tuple[int, str, str]], *,
                   comments_every: int = 0) -> None:
    """(id, subject, description) rows; every `comments_every`-th ticket gets two comments."""
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT IGNORE INTO tenants (id, slug, name) VALUES (%s, %s, %s)",
                        (tenant, f"t{tenant}-{time.time_ns()}", f"tenant {tenant}"))
            for start in range(0, len(rows), 2000):
                part = rows[start:start + 2000]
                cur.executemany("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                                "VALUES (%s,%s,%s,%s,%s)", [(tenant, i, f"R-{tenant}-{i}", s, d) for i, s, d in part])
                if comments_every:
                    cur.executemany("INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (%s,%s,%s,%s)",
                                    [(tenant, i * 10 + k, i, f"{d[:60]} 回复{k}") for i, _s, d in part
                                     if i % comments_every == 0 for k in (1, 2)])
                conn.commit()
    finally:
        conn.close()


def execute(db: MySQLSettings, sql: str, args: Any = None, *, log_bin: bool = True) -> int:
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            if not log_bin:
                cur.execute("SET SESSION sql_log_bin = 0")
            n = cur.execute(sql, args)
        conn.commit()
        return int(n)
    finally:
        conn.close()
