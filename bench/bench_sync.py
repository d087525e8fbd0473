"""Sync benchmarks (issue 2): snapshot throughput, streaming throughput next to the stock decoder alone on
the same binlog, and commit -> searchable latency at a steady 500 changes/s. Prints figures and ratios.

Usage: .venv/bin/python bench/bench_sync.py [--tickets-copies 1] [--latency-seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path

import pymysql
from common import DATA, private_mariadb, stop_private_mariadb
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from searchcore.dbconfig import MySQLSettings
from searchcore.positions import BinlogPosition
from syncer.load import ensure_schema, load_corpora
from syncer.service import SyncService
from syncer.settings import SyncSettings


def master_position(db: MySQLSettings) -> BinlogPosition:
    conn = pymysql.connect(**db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    conn.close()
    return BinlogPosition(str(row[0]), int(row[1]))


def decoder_alone(db: MySQLSettings, start: BinlogPosition, end: BinlogPosition) -> tuple[int, float]:
    """The stock decoder (mysql-replication, same options as the tailer) over [start, end): rows, seconds."""
    stream = BinLogStreamReader(
        connection_settings={"host": db.host, "port": db.port, "user": db.user, "passwd": db.password},
        server_id=4_242_999, log_file=start.file, log_pos=start.offset, resume_stream=True, blocking=False,
        only_schemas=[db.database], only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        freeze_schema=True,
    )
    rows = 0
    t0 = time.perf_counter()
    for event in stream:
        rows += len(event.rows)
        if (stream.log_file, stream.log_pos) >= (end.file, end.offset):
            break
    stream.close()
    return rows, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--limit-per-file", type=int, default=None, help="smaller corpus for a quick run")
    args = ap.parse_args()
    server, datadir = private_mariadb()
    assert isinstance(server, MySQLSettings)
    db = replace(server, database="bench")
    ensure_schema(db)
    state = Path(datadir).parent.parent / "state"
    try:
        t0 = time.perf_counter()
        first = load_corpora(db, DATA / "tickets", limit_per_file=args.limit_per_file)
        print(f"load: {first.tickets} tickets, {first.comments} comments in {time.perf_counter() - t0:.1f} s")

        settings = SyncSettings(source=db, state_dir=state)
        service = SyncService(settings)
        t0 = time.perf_counter()
        snap = service.ensure_snapshot()
        assert snap is not None
        snap_s = time.perf_counter() - t0
        print(f"snapshot: {snap.tickets} tickets of {snap.tenants} tenants in {snap_s:.1f} s = "
              f"{snap.tickets / snap_s:,.0f} tickets/s (MySQL -> searchable; target >= 10,000/s)")

        # streaming: a second copy of the corpora written while the service is stopped, then caught up
        start = master_position(db)
        second = load_corpora(db, DATA / "tickets", tenant_id_offset=100, limit_per_file=args.limit_per_file)
        end = master_position(db)
        rows, dec_s = decoder_alone(db, start, end)
        print(f"binlog under test: {second.tickets} tickets + {second.comments} comments + "
              f"{second.ticket_tags} tag links = {rows} row events")
        applied = [0]
        t0 = time.perf_counter()
        service.stream(until=lambda: service.checkpoints.load().position is not None
                       and not service.checkpoints.load().position < end,  # type: ignore[union-attr]
                       on_batch=lambda report, pos: applied.__setitem__(0, applied[0] + report.changes))
        stream_s = time.perf_counter() - t0
        dec_rate, stream_rate = rows / dec_s, rows / stream_s
        print(f"decoder alone: {dec_rate:,.0f} rows/s; product streaming (decode + analyze + index + commit): "
              f"{stream_rate:,.0f} rows/s = {stream_rate / dec_rate:.0%} of decoder-alone (target >= 90%)")

        latency(service, db, args.rate, args.latency_seconds)
        service.close()
    finally:
        stop_private_mariadb(Path(datadir))


def latency(service: SyncService, db: MySQLSettings, rate: float, seconds: float) -> None:
    """Commit -> searchable at a steady rate: one single-row transaction per change."""
    marks: list[tuple[float, BinlogPosition]] = []
    done = threading.Event()

    def writer() -> None:
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - a bench reports and stops
            print(f"latency writer failed: {exc!r}", flush=True)
        finally:
            done.set()

    def write() -> None:
        conn = pymysql.connect(**db.connect_kwargs())
        cur = conn.cursor()
        n = int(rate * seconds)
        t_start = time.perf_counter()
        for i in range(n):
            due = t_start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            cur.execute("UPDATE tickets SET status=%s, order_number=%s WHERE tenant_id=%s AND id=%s",
                        ("open" if i % 2 else "pending", f"LAT-{i}", 1 + i % 14, 1 + (i * 7919) % 18))
            committed = time.perf_counter()
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            marks.append((committed, BinlogPosition(str(row[0]), int(row[1]))))
        conn.close()

    seen: list[float] = []

    def on_batch(_report: object, pos: BinlogPosition) -> None:
        now = time.perf_counter()
        while len(seen) < len(marks) and marks[len(seen)][1] <= pos:
            seen.append(now - marks[len(seen)][0])

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    give_up = time.perf_counter() + seconds * 3 + 60
    service.stream(until=lambda: (done.is_set() and len(seen) >= len(marks)) or time.perf_counter() > give_up,
                   on_batch=on_batch)
    ckpt = service.checkpoints.load()
    print(f"latency run: {len(marks)} marks, {len(seen)} seen, checkpoint {ckpt.position if ckpt else None}")
    if len(seen) < len(marks):
        print(f"latency: {len(marks) - len(seen)} changes not seen; last mark {marks[-1][1]}")
    if not seen:
        print("latency: no change measured")
        return
    seen.sort()
    p50 = statistics.median(seen)
    p99 = seen[int(len(seen) * 0.99) - 1]
    print(f"commit -> searchable at {rate:.0f} changes/s for {seconds:.0f} s ({len(seen)} changes): "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {seen[-1] * 1000:.0f} ms (target p99 <= 500 ms)")


if __name__ == "__main__":
    main()
