"""Reindex benchmark (issue 7): reindex rows/s of a 20,000-ticket tenant (real online-shopping reviews) inside the
running sync service, and another tenant's commit -> searchable latency (p50/p99) during the reindex next to its
idle value (target: within 2x). Prints figures; asserts nothing.

Usage: .venv/bin/python bench/bench_reindex.py [--tickets 20000] [--idle-seconds 10] [--throttle 0]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pymysql
from common import DATA, private_mariadb, stop_private_mariadb

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore import control
from searchcore.dbconfig import MySQLSettings
from searchcore.embedded import EmbeddedBackend
from syncer.load import ensure_schema
from syncer.service import SyncService
from syncer.settings import SyncSettings

BIG, OTHER = 1, 2


def load(db: MySQLSettings, n: int) -> None:
    texts = []
    with (DATA / "tickets" / "online_shopping_10_cats.csv").open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["review"].strip():
                texts.append(row["review"].strip())
            if len(texts) >= n + 500:
                break
    conn = pymysql.connect(**db.connect_kwargs())
    with conn.cursor() as cur:
        for tenant, rows in ((BIG, texts[:n]), (OTHER, texts[n:])):
            cur.execute("INSERT INTO tenants (id, slug, name) VALUES (%s, %s, %s)", (tenant, f"b{tenant}", "bench"))
            cur.executemany("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                            "VALUES (%s,%s,%s,%s,%s)",
                            [(tenant, i, f"B-{i}", t[:40], t) for i, t in enumerate(rows, 1)])
            cur.executemany("INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (%s,%s,%s,%s)",
                            [(tenant, i, i, t[:80]) for i, t in enumerate(rows, 1) if i % 4 == 0])
    conn.commit()
    conn.close()


def probe(db: MySQLSettings, reader: EmbeddedBackend, seconds: float, start_id: int,
          until: threading.Event | None = None) -> list[float]:
    """One single-row insert into OTHER every 100 ms; wait until a reader process-like backend sees it."""
    conn = pymysql.connect(**db.connect_kwargs())
    out, tid, end = [], start_id, time.monotonic() + seconds
    try:
        while time.monotonic() < end and not (until is not None and until.is_set()):
            tid += 1
            with conn.cursor() as cur:
                cur.execute("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                            "VALUES (%s,%s,%s,'探针','探针工单')", (OTHER, tid, f"P-{tid}"))
            conn.commit()
            t0 = time.monotonic()
            while reader.get(OTHER, tid) is None:
                time.sleep(0.002)
            out.append(time.monotonic() - t0)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
    finally:
        conn.close()
    return out


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=20_000)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--throttle", type=float, default=0.0, help="reindex rows/s (0: unthrottled)")
    args = ap.parse_args()
    settings_db, datadir = private_mariadb()
    assert isinstance(settings_db, MySQLSettings)
    db = replace(settings_db, database="bench_reindex")
    state = Path(datadir).parent.parent / "state"
    try:
        ensure_schema(db)
        load(db, args.tickets)
        service = SyncService(SyncSettings(source=db, state_dir=state))
        t0 = time.monotonic()
        service.ensure_snapshot()
        print(f"initial snapshot of {args.tickets + 500} tickets: {time.monotonic() - t0:.1f} s", flush=True)
        thread = threading.Thread(target=service.stream, daemon=True)
        thread.start()
        reader = EmbeddedBackend(state / "index", load_mapping("tickets", 1), Analyzer(AnalyzerConfig()),
                                 writable=False)
        idle = probe(db, reader, args.idle_seconds, 1_000_000)
        job_id = control.submit(state, "reindex", BIG, {"throttle": args.throttle or None})
        done = threading.Event()
        during: list[float] = []
        prober = threading.Thread(target=lambda: during.extend(probe(db, reader, 3600, 2_000_000, done)))
        started = time.monotonic()
        prober.start()
        while (job := control.read_job(state, job_id) or {}).get("phase") not in ("done", "failed", "rejected"):
            time.sleep(0.05)
        wall = time.monotonic() - started
        done.set()
        prober.join()
        print(f"reindex of tenant {BIG}: {job.get('phase')}, {job.get('copied')} tickets, snapshot copy "
              f"{job.get('rows_per_s')} rows/s, whole job (copy + verify + switch) {wall:.1f} s = "
              f"{(job.get('copied') or 0) / wall:,.0f} rows/s")
        print(f"tenant {OTHER} commit -> searchable, idle:           p50 {pct(idle, .5):6.1f} ms  "
              f"p99 {pct(idle, .99):6.1f} ms  ({len(idle)} probes)")
        print(f"tenant {OTHER} commit -> searchable, during reindex: p50 {pct(during, .5):6.1f} ms  "
              f"p99 {pct(during, .99):6.1f} ms  ({len(during)} probes)")
        print(f"ratio during/idle: p50 {pct(during, .5) / pct(idle, .5):.2f}x  "
              f"p99 {pct(during, .99) / pct(idle, .99):.2f}x"
              f"  (mean {statistics.mean(during) / statistics.mean(idle):.2f}x; target within 2x)", flush=True)
        service.stop_event.set()
        thread.join(timeout=60)
        service.close()
    finally:
        stop_private_mariadb(datadir)


if __name__ == "__main__":
    main()
    sys.exit(0)
