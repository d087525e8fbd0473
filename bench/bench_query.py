"""Query latency benchmark: the real query mix through HTTP next to MariaDB LIKE over the same rows, one run.

Input: ../shared/data/tickets (all real corpora, loaded 3x as separate tenants) and
../shared/data/queries/ecom_queries.tsv (real e-commerce queries). A private MariaDB is started by the project's
own script; the syncer snapshots it into per-tenant Tantivy indexes; the query API runs in a real uvicorn server.
Output: printed figures: API p50/p99 latency (sequential, one keep-alive client) and throughput (N client threads);
MariaDB `LIKE '%q%'` on subject/description for the same queries and tenants; the ratio.
Guarantee: a script, not a test; nothing is asserted on wall time. Run: python bench/bench_query.py [--queries N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, PROJECT, free_port, private_mariadb, stop_private_mariadb  # noqa: E402

from queryapi.auth import create_key  # noqa: E402
from searchcore.dbconfig import MySQLSettings  # noqa: E402
from syncer.load import ensure_schema, load_corpora, tenant_ids  # noqa: E402
from syncer.service import SyncService  # noqa: E402
from syncer.settings import SyncSettings  # noqa: E402

SERVER = """
import json, sys, uvicorn
from pathlib import Path
from queryapi.app import create_app
from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
cfg = json.loads(sys.argv[1])
app = create_app(ApiSettings(source=MySQLSettings(**cfg["db"]), state_dir=Path(cfg["state"]), key_cache_seconds=600))
uvicorn.run(app, host="127.0.0.1", port=cfg["port"], log_level="warning", access_log=False)
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000, help="queries sampled from the real mix")
    ap.add_argument("--like-queries", type=int, default=300, help="of those, how many also go to MariaDB LIKE")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--copies", type=int, default=3)
    args = ap.parse_args()
    server, datadir = private_mariadb()
    assert isinstance(server, MySQLSettings)
    db = replace(server, database="benchq")
    ensure_schema(db)
    state = Path(datadir).parent.parent / "state"
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        report = load_corpora(db, DATA / "tickets", copies=args.copies)
        print(f"load: {report.tickets:,} tickets, {report.comments:,} comments ({args.copies} copies) "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        service = SyncService(SyncSettings(source=db, state_dir=state))
        t0 = time.perf_counter()
        service.ensure_snapshot()
        service.close()
        print(f"snapshot into per-tenant indexes: {time.perf_counter() - t0:.1f} s", flush=True)

        tenants = tenant_ids(db)
        keys = {t: create_key(db, t, "agent", "bench") for t in tenants}
        lines = (DATA / "queries" / "ecom_queries.tsv").read_text("utf-8").splitlines()
        rng = random.Random(11)
        sample = [(rng.choice(tenants), line.split("\t", 1)[1]) for line in rng.sample(lines, args.queries)]

        port = free_port()
        cfg = {"db": {"host": db.host, "port": db.port, "user": db.user, "password": db.password,
                      "database": db.database}, "state": str(state), "port": port}
        proc = subprocess.Popen([sys.executable, "-c", SERVER, json.dumps(cfg)], cwd=PROJECT)
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(base + "/v1/status", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        def ask(client: httpx.Client, tenant: int, q: str) -> float:
            t = time.perf_counter()
            r = client.get(base + "/v1/tickets/search", params={"q": q, "limit": 10},
                           headers={"Authorization": f"Bearer {keys[tenant]}"})
            elapsed = time.perf_counter() - t
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code} {r.text[:200]} for {q!r}")
            return elapsed

        with httpx.Client(timeout=30) as client:
            for tenant, q in sample[:200]:  # warm-up: caches, first-touch of index files
                ask(client, tenant, q)
            api = [ask(client, tenant, q) * 1000 for tenant, q in sample]
        print(f"API (HTTP, uvicorn, sequential): {len(api)} queries over {len(tenants)} tenants: "
              f"p50 {statistics.median(api):.2f} ms, p99 {pct(api, 99):.2f} ms, mean {statistics.fmean(api):.2f} ms "
              "(targets p50 <= 5 ms, p99 <= 25 ms)", flush=True)

        done = [0]
        lock = threading.Lock()

        def worker(part: list[tuple[int, str]]) -> None:
            with httpx.Client(timeout=30) as c:
                for tenant, q in part:
                    ask(c, tenant, q)
                    with lock:
                        done[0] += 1

        parts = [sample[i :: args.threads] for i in range(args.threads)]
        threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        print(f"API throughput with {args.threads} client threads: {done[0] / wall:,.0f} queries/s", flush=True)

        conn = pymysql.connect(**db.connect_kwargs())
        like: list[float] = []
        with conn.cursor() as cur:
            for tenant, q in sample[: args.like_queries]:
                pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                t = time.perf_counter()
                cur.execute("SELECT id FROM tickets WHERE tenant_id=%s AND (subject LIKE %s OR description LIKE %s) "
                            "ORDER BY updated_at DESC LIMIT 10", (tenant, pattern, pattern))
                cur.fetchall()
                like.append((time.perf_counter() - t) * 1000)
        conn.close()
        api_same = api[: args.like_queries]
        print(f"MariaDB LIKE (same first {len(like)} queries/tenants, direct connection, no HTTP): "
              f"p50 {statistics.median(like):.2f} ms, p99 {pct(like, 99):.2f} ms; "
              f"throughput 1 connection {1000 / statistics.fmean(like):,.0f} queries/s")
        print(f"ratio on the same queries: API p50 {statistics.median(api_same):.2f} ms vs LIKE p50 "
              f"{statistics.median(like):.2f} ms = {statistics.median(like) / statistics.median(api_same):.1f}x; "
              f"p99 {pct(like, 99) / pct(api_same, 99):.1f}x")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        stop_private_mariadb(Path(datadir))


if __name__ == "__main__":
    main()
