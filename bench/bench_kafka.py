"""Kafka bus benchmark (issue 5): in one run, on the same binlog, the decoder alone (mysql-replication) next to
end-to-end binlog -> Kafka (our tailer, acks=all) and Kafka -> index (one indexer member), as rows/s and
ratios; then commit -> searchable latency p50/p99 through the whole distributed pipeline at a steady rate.
Starts its own private MariaDB and Tansu broker. Prints figures; asserts nothing about time.

Usage: .venv/bin/python bench/bench_kafka.py [--changes 30000] [--latency-seconds 20] [--rate 500]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pymysql
from bench_sync import decoder_alone, master_position
from common import private_mariadb, stop_private_mariadb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from mariadb_fixture import free_port  # noqa: E402
from workload import Workload  # noqa: E402

from searchcore.dbconfig import MySQLSettings  # noqa: E402
from searchcore.positions import BinlogPosition  # noqa: E402
from syncer.checkpoint import Checkpoint, CheckpointStore  # noqa: E402
from syncer.kafka_bus import KafkaSettings  # noqa: E402
from syncer.kafka_indexer import KafkaIndexer  # noqa: E402
from syncer.kafka_lag import applied_watermarks  # noqa: E402
from syncer.kafka_tailer import KafkaTailer  # noqa: E402
from syncer.load import ensure_schema  # noqa: E402
from syncer.preflight import current_identity  # noqa: E402
from syncer.settings import SyncSettings  # noqa: E402
from syncer.source_mapping import load_source_mapping  # noqa: E402
from syncer.tailer import TailerConfig, tail  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tansu.sh"


def run_until(target: object, stop: threading.Event) -> threading.Thread:
    t = threading.Thread(target=target, kwargs={"until": stop.is_set}, daemon=True)
    t.start()
    return t


def our_decoder(db: MySQLSettings, start: BinlogPosition, end: BinlogPosition) -> tuple[int, float]:
    """The tailer's own decoding (syncer.tailer.tail: normalized values, versions) over [start, end)."""
    mapping = load_source_mapping()
    config = TailerConfig(source=db, tables=mapping.tables(), epoch=1, replica_server_id=4_243_001,
                          json_columns={mapping.document.table: mapping.document.json_columns})
    n = 0
    t0 = time.perf_counter()
    for txn in tail(config, start, blocking=False):
        n += len(txn.changes)
        if end <= txn.end:
            break
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=30_000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--compression", default=None)
    args = ap.parse_args()
    settings, datadir = private_mariadb()
    assert isinstance(settings, MySQLSettings)
    db = replace(settings, database="bench_kafka")
    ensure_schema(db)
    tdir = Path(tempfile.mkdtemp(prefix="bench-tansu-"))
    port = free_port()
    subprocess.run([str(SCRIPT), "start", "--dir", str(tdir), "--port", str(port)], check=True, capture_output=True)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    try:
        kafka = KafkaSettings(bootstrap=f"127.0.0.1:{port}", topic="bench.changes", partitions=6, group="bench",
                              session_timeout_ms=6000, compression=args.compression)
        start = master_position(db)
        work = Workload(db, list(range(1, 13)), seed=11)
        work.prepare()
        work.run(args.changes)
        end = master_position(db)
        rows, secs = decoder_alone(db, start, end)
        print(f"binlog: {rows} row changes, {work.changes} workload changes")
        print(f"decoder alone (mysql-replication):  {rows / secs:8.0f} rows/s")
        ours, our_secs = our_decoder(db, start, end)
        print(f"our decoder (exact values, RowChange): {ours / our_secs:5.0f} rows/s  (the tailer's child process; "
              f"{ours / our_secs / (rows / secs):.2f}x the stock decoder)")

        tailer_state = work_dir / "tailer"
        CheckpointStore(tailer_state).save(Checkpoint(position=start, epoch=1, source=current_identity(db)))
        tailer = KafkaTailer(SyncSettings(source=db, state_dir=tailer_state), kafka)
        stop = threading.Event()
        t0 = time.perf_counter()
        threads = [run_until(tailer.run, stop)]
        while True:
            ck = CheckpointStore(tailer_state).load()
            if ck is not None and ck.position is not None and end <= ck.position:
                break
            time.sleep(0.02)
        pub = time.perf_counter() - t0
        print(f"binlog -> Kafka (tailer, acks=all): {rows / pub:8.0f} rows/s  ({tailer.messages} messages, "
              f"{rows / pub / (rows / secs):.2f}x the decoder alone)")

        index_state = work_dir / "index"
        indexer = KafkaIndexer(SyncSettings(source=db, state_dir=index_state), kafka, member="bench")
        threads.append(run_until(indexer.run, stop))
        while not indexer.status_path.exists():    # the group join (~3 s at a 6 s session timeout) is not counted
            time.sleep(0.01)
        t1 = time.perf_counter()
        while True:
            marks = applied_watermarks(index_state)
            if len(marks) == kafka.partitions and all(
                    m["position"]["offset"] >= end.offset for m in marks.values()):  # type: ignore[index]
                break
            time.sleep(0.05)
        ix = time.perf_counter() - t1
        print(f"Kafka -> index (1 indexer member):  {rows / ix:8.0f} rows/s  (after the group join)")
        print(f"end to end binlog -> searchable:    {rows / max(pub, ix):8.0f} rows/s (pipelined: the slower stage)")

        stop.set()
        for t in threads:
            t.join(timeout=60)

        # commit -> searchable at a steady rate, through tailer -> Kafka -> indexer, each in its own process as
        # deployed (`ticketsearch sync --bus kafka`, `ticketsearch index`): threads of one process share one GIL
        from kafka_support import IndexerProcess, TailerProcess  # noqa: PLC0415
        from support import source_position  # noqa: PLC0415

        from searchcore.embedded import EmbeddedBackend  # noqa: PLC0415
        from syncer.service import open_backend  # noqa: PLC0415

        indexer.status_path.unlink()     # wait for the new member's own watermarks (after its group join)
        procs = [TailerProcess(db, tailer_state, kafka), IndexerProcess(db, index_state, kafka, "bench")]
        for proc in procs:
            proc.start()
        target = source_position(db)
        while not (len(marks := applied_watermarks(index_state)) == kafka.partitions and all(
                target <= BinlogPosition.from_json(m["position"]) for m in marks.values())):  # type: ignore[arg-type]
            assert all(p.alive() for p in procs), "\n".join(p.log()[-2000:] for p in procs)
            time.sleep(0.1)
        reader: EmbeddedBackend = open_backend(SyncSettings(source=db, state_dir=index_state), writable=False)
        bg = threading.Thread(target=work.run, args=(work.changes + int(args.rate * args.latency_seconds),),
                              kwargs={"rate": args.rate}, daemon=True)
        bg.start()
        conn = pymysql.connect(**db.connect_kwargs())
        tenant, ticket = 1, 990_001
        with conn.cursor() as cur:
            cur.execute("INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) VALUES "
                        "(%s,%s,'P-1','probe','probe')", (tenant, ticket))
        conn.commit()
        latencies: list[float] = []
        slowest: list[tuple[float, int]] = []
        n = 0
        while bg.is_alive():
            n += 1
            token = f"probe-{n}"
            with conn.cursor() as cur:
                cur.execute("UPDATE tickets SET subject=%s WHERE tenant_id=%s AND id=%s", (token, tenant, ticket))
            conn.commit()
            c0 = time.perf_counter()
            while time.perf_counter() - c0 < 30:
                doc = reader.get(tenant, ticket) if tenant in reader.tenants() else None
                if doc is not None and doc.fields.get("subject") == token:
                    latencies.append((time.perf_counter() - c0) * 1000)
                    slowest.append((latencies[-1], n))
                    break
                time.sleep(0.005)
            time.sleep(0.1)
        conn.close()
        reader.close()
        for proc in procs:
            proc.stop()
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"commit -> searchable at {args.rate:.0f} changes/s (tailer and indexer processes): p50 {p50:.0f} ms, "
              f"p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms ({len(latencies)} probes; slowest (ms, probe #): "
              f"{[(round(ms), i) for ms, i in sorted(slowest, reverse=True)[:3]]})")
    finally:
        subprocess.run([str(SCRIPT), "stop", "--dir", str(tdir)], check=False)
        stop_private_mariadb(datadir)


if __name__ == "__main__":
    main()
