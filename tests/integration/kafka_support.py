"""Kafka test support: a private Tansu broker per test session (scripts/tansu.sh, memory storage), unique topic
and group names per test, the two pipeline halves as real processes (so they can be killed -9), and waiting on
the binlog watermarks the indexers applied (never on Kafka end offsets, which Tansu reports wrongly)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from kafka import KafkaConsumer
from mariadb_fixture import free_port
from support import PROJECT, SyncProcess, env_for, source_position

from searchcore.dbconfig import MySQLSettings
from syncer.kafka_bus import KafkaSettings
from syncer.kafka_lag import applied_watermarks

SCRIPT = PROJECT / "scripts" / "tansu.sh"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bootstrap address of a private Tansu broker for the session."""
    workdir = tmp_path_factory.mktemp("tansu")
    port = free_port()
    out = subprocess.run([str(SCRIPT), "start", "--dir", str(workdir), "--port", str(port)], capture_output=True,
                         text=True, timeout=60, check=True)
    print(f"\nprivate Tansu broker: {out.stdout.strip()}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(SCRIPT), "stop", "--dir", str(workdir)], timeout=60, check=False)


@pytest.fixture()
def kafka(tansu: str, request: pytest.FixtureRequest) -> KafkaSettings:
    n = next(_names)
    return KafkaSettings(bootstrap=tansu, topic=f"t{n}.changes", partitions=6, group=f"g{n}",
                         session_timeout_ms=4000, heartbeat_interval_ms=500, batch_max_wait_s=0.1)


def kafka_env(kafka: KafkaSettings, **extra: str) -> dict[str, str]:
    env = {"TICKETSEARCH_KAFKA_BOOTSTRAP": kafka.bootstrap, "TICKETSEARCH_KAFKA_TOPIC": kafka.topic,
           "TICKETSEARCH_KAFKA_PARTITIONS": str(kafka.partitions), "TICKETSEARCH_KAFKA_GROUP": kafka.group,
           "TICKETSEARCH_KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
           "TICKETSEARCH_KAFKA_HEARTBEAT_MS": str(kafka.heartbeat_interval_ms),
           "TICKETSEARCH_KAFKA_BATCH_MAX_WAIT_S": str(kafka.batch_max_wait_s),
           "TICKETSEARCH_KAFKA_MAX_MESSAGE_BYTES": str(kafka.max_message_bytes)}
    env.update(extra)
    return env


class TailerProcess(SyncProcess):
    """`ticketsearch sync --bus kafka` as a child process."""

    def __init__(self, db: MySQLSettings, state_dir: Path, kafka: KafkaSettings, **env: str) -> None:
        super().__init__(db, state_dir, "--bus", "kafka", **kafka_env(kafka, **env))
        self.log_path = state_dir.parent / "tailer.log"


class IndexerProcess(SyncProcess):
    """`ticketsearch index --member NAME` as a child process."""

    def __init__(self, db: MySQLSettings, state_dir: Path, kafka: KafkaSettings, member: str, **env: str) -> None:
        super().__init__(db, state_dir, **kafka_env(kafka, **env))
        self.member = member
        self.log_path = state_dir.parent / f"indexer-{member}.log"

    def start(self) -> IndexerProcess:
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start #{self.starts} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "ticketsearch.cli", "index", "--member", self.member],
                                         cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self


@dataclass
class Pipeline:
    tailer: TailerProcess
    indexers: list[IndexerProcess]

    def start(self) -> Pipeline:
        self.tailer.start()
        for ix in self.indexers:
            ix.start()
        return self

    def stop(self) -> None:
        self.tailer.stop()
        for ix in self.indexers:
            ix.stop()

    def logs(self) -> str:
        return "\n".join(p.log()[-3000:] for p in (self.tailer, *self.indexers))


def wait_indexed(db: MySQLSettings, index_state: Path, kafka: KafkaSettings, *, timeout: float = 180.0,
                 pipeline: Pipeline | None = None) -> None:
    """Wait until every partition's applied binlog watermark reaches the source's current position."""
    target = source_position(db)
    deadline = time.monotonic() + timeout
    marks: dict[int, dict[str, object]] = {}
    while time.monotonic() < deadline:
        marks = applied_watermarks(index_state)
        from searchcore.positions import BinlogPosition

        if len(marks) == kafka.partitions and all(
                target <= BinlogPosition.from_json(m["position"]) for m in marks.values()):  # type: ignore[arg-type]
            return
        if pipeline is not None:
            dead = [p for p in (pipeline.tailer, *pipeline.indexers) if not p.alive()]
            if dead:
                raise AssertionError(f"pipeline process died:\n{pipeline.logs()}")
        time.sleep(0.1)
    raise AssertionError(f"not indexed to {target} within {timeout} s: {marks}\n"
                         f"{pipeline.logs() if pipeline else ''}")


__all__ = ["IndexerProcess", "Pipeline", "TailerProcess", "env_for", "kafka_env", "wait_indexed"]


def explain_mismatch(problems: dict[str, list[str]], kafka: KafkaSettings, index_state: Path,
                     logs: list[Path], *, limit: int = 6) -> str:
    """For a failed index == database check: for the first differing tickets, every message of their key in the
    topic (partition, offset, op, table, position) and the stored document's parts; the dead-letter topic; the
    indexers' rebalance/failure log lines. Says whether a lost change was never published or not applied."""
    import json as _json

    from kafka import KafkaConsumer, TopicPartition

    from syncer.service import open_backend
    from syncer.settings import SyncSettings

    wanted: dict[str, tuple[int, int]] = {}
    for kind in ("missing", "stale", "extra"):
        for item in problems.get(kind, [])[:limit]:
            tenant, tid = item.split(":")[0], item.split(":")[1]
            wanted[f"{tenant}:ticket:{tid}"] = (int(tenant), int(tid))
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False, group_id=None)
    parts = [TopicPartition(kafka.topic, p) for p in range(kafka.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    seen: dict[str, list[str]] = {k: [] for k in wanted}
    total = 0
    idle = time.monotonic()
    while time.monotonic() - idle < 5:
        got = consumer.poll(timeout_ms=500, max_records=20_000)
        if got:
            idle = time.monotonic()
        for records in got.values():
            for r in records:
                total += 1
                key = r.key.decode(errors="replace") if r.key else ""
                if key in seen:
                    v = _json.loads(r.value)
                    src = v.get("source", {})
                    seen[key].append(f"p{r.partition}@{r.offset} {v.get('op')} {src.get('table')} "
                                     f"{src.get('file')}:{src.get('pos')}+{src.get('row')} v={v.get('version')}")
    consumer.close()
    out = [f"topic {kafka.topic}: {total} records read"]
    backend = open_backend(SyncSettings(state_dir=index_state), writable=False)
    for key, (tenant, tid) in wanted.items():
        doc = None
        try:
            doc = backend.get(tenant, tid)
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            out.append(f"{key}: index read failed: {exc}")
        out.append(f"{key}: stored version {None if doc is None else doc.version}; "
                   f"document {None if doc is None else doc.to_json()[:600]}")
        out.extend(f"    {line}" for line in seen[key])
    backend.close()
    dlq = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False, group_id=None)
    tp = TopicPartition(kafka.dlq_topic, 0)
    dlq.assign([tp])
    dlq.seek_to_beginning(tp)
    letters = [r for batch in dlq.poll(timeout_ms=3000, max_records=1000).values() for r in batch]
    dlq.close()
    out.append(f"dead-letter topic: {len(letters)} letters")
    out.extend(f"    {_json.loads(r.value).get('reason')}" for r in letters[:10])
    for path in logs:
        if path.exists():
            lines = [ln for ln in path.read_text(errors="replace").splitlines()
                     if any(w in ln for w in ("revoked", "assigned", "failed", "dead-letter", "Error", "--- start"))]
            out.append(f"{path.name}: {len(lines)} notable lines")
            out.extend(f"    {ln[:300]}" for ln in lines[-40:])
    return "\n".join(out)


# ---- in-process helpers (the halves as threads of the test) ----------------------------------------------
CLEAN = {"missing": [], "extra": [], "stale": []}


@contextmanager
def running(*targets: object) -> Iterator[threading.Event]:
    stop = threading.Event()
    threads = [threading.Thread(target=t, kwargs={"until": stop.is_set}, daemon=True) for t in targets]  # type: ignore
    for t in threads:
        t.start()
    try:
        yield stop
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)


def wait_marks(db: MySQLSettings, state: Path, partitions: int, timeout: float = 120) -> None:
    from searchcore.positions import BinlogPosition

    target = source_position(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        marks = applied_watermarks(state)
        if len(marks) == partitions and all(target <= BinlogPosition.from_json(m["position"]) for m in marks.values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"not indexed to {target}: {applied_watermarks(state)}")


def execute(db: MySQLSettings, sql: str, args: tuple[object, ...] = ()) -> None:
    conn = pymysql.connect(**db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def read_all(kafka: KafkaSettings, topic: str) -> list[dict[str, object]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=3000)
    out = [json.loads(r.value) for r in consumer]
    consumer.close()
    return out
