"""A broker that forgets (Tansu's memory storage after a restart, a deleted and re-created topic): the change
topic comes back with a new topic id and none of what was published. Issue 5 asks that nothing is lost and that
lag is measured truthfully, so:

- the tailer notices the new topic id and publishes a new snapshot (and its sweep) before streaming on: a change
  published to the old topic but never consumed reaches the index, and a row deleted meanwhile leaves it;
- lag ignores watermarks applied from the old topic: it is not "synced" until the new history is applied;
- a tailer running through the broker restart reconnects by itself (nothing unacknowledged behind its
  checkpoint) instead of dying.
Each test runs its own broker (it restarts it); the session broker is never touched."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_support import CLEAN, SCRIPT, execute, kafka, kafka_env, running, tansu  # noqa: F401
from mariadb_fixture import free_port
from support import PROJECT, compare_index_with_db, env_for, source_position
from workload import DATA

from searchcore.dbconfig import MySQLSettings
from syncer.checkpoint import CheckpointStore
from syncer.kafka_bus import KafkaSettings, ensure_topics
from syncer.kafka_indexer import KafkaIndexer
from syncer.kafka_lag import lag
from syncer.kafka_tailer import TOPIC_STATE, KafkaTailer
from syncer.load import load_corpora
from syncer.settings import SyncSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATA / "medical_dialogue.csv").exists(), reason=f"real corpora not found in {DATA}"),
]


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()

    def start(self) -> str:
        subprocess.run([str(SCRIPT), "start", "--dir", str(self.workdir), "--port", str(self.port)], check=True,
                       capture_output=True, timeout=60)
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop", "--dir", str(self.workdir)], check=False, timeout=60)


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "tansu")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def wait_clean(db: MySQLSettings, state: Path, timeout: float = 150) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while (problems := compare_index_with_db(db, state)) != CLEAN and time.monotonic() < deadline:
        time.sleep(0.5)
    return problems


def test_a_recreated_topic_is_republished_and_lag_starts_over(fresh_db: MySQLSettings, tmp_path: Path,
                                                              broker: Broker) -> None:
    load_corpora(fresh_db, DATA, limit_per_file=10)
    bus = KafkaSettings(bootstrap=f"127.0.0.1:{broker.port}", topic="lost.changes", group="lost",
                          session_timeout_ms=4000, heartbeat_interval_ms=500)
    tailer_settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer")
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    with running(KafkaTailer(tailer_settings, bus).run, KafkaIndexer(settings, bus, member="a").run):
        assert wait_clean(fresh_db, settings.state_dir) == CLEAN
    old_id = json.loads((tailer_settings.state_dir / TOPIC_STATE).read_text())["topic_id"]
    assert old_id
    # indexers down; the tailer publishes a change and a delete, then the broker forgets everything
    execute(fresh_db, "UPDATE tickets SET subject='发布后丢失' WHERE MOD(id, 4) = 1")
    execute(fresh_db, "DELETE FROM ticket_comments WHERE MOD(id, 6) = 0")
    tailer = KafkaTailer(tailer_settings, bus)
    target = source_position(fresh_db)
    with running(tailer.run):
        deadline = time.monotonic() + 60
        while (c := tailer.checkpoints.load()) is not None and c.position is not None and c.position < target:
            assert time.monotonic() < deadline, "the tailer did not publish the changes"
            time.sleep(0.2)
    broker.stop()
    broker.start()
    new = ensure_topics(bus)[bus.topic]
    assert new.topic_id and new.topic_id != old_id
    stale_lag = lag(settings.state_dir, new.partitions, source_position(fresh_db), new.topic_id)
    assert stale_lag["synced"] is False and stale_lag["partitions_seen"] == 0, stale_lag   # old history ignored
    problems = compare_index_with_db(fresh_db, settings.state_dir)
    assert problems["stale"], "the changes should not be indexed yet"
    with running(KafkaTailer(tailer_settings, bus).run, KafkaIndexer(settings, bus, member="a").run):
        assert wait_clean(fresh_db, settings.state_dir) == CLEAN
        deadline = time.monotonic() + 60
        while not (now := lag(settings.state_dir, new.partitions, source_position(fresh_db), new.topic_id))["synced"]:
            assert time.monotonic() < deadline, now
            time.sleep(0.3)
    assert json.loads((tailer_settings.state_dir / TOPIC_STATE).read_text())["topic_id"] == new.topic_id


@pytest.mark.parametrize("gap_s", [0.0, 3.0])
def test_a_running_pipeline_survives_a_broker_restart(fresh_db: MySQLSettings, tmp_path: Path, broker: Broker,
                                                      gap_s: float) -> None:
    """Tailer and indexer keep running through a broker restart, immediate (retried produces reach the new
    broker, which re-creates the topic by itself with its own partition count) or after a gap: the tailer
    reconnects and republishes, the indexer reads the new topic from its beginning (whatever partition count the
    broker gave it); the index equals the database."""
    load_corpora(fresh_db, DATA, limit_per_file=5)
    bus = KafkaSettings(bootstrap=f"127.0.0.1:{broker.port}", topic="restart.changes", group="restart",
                        session_timeout_ms=4000, heartbeat_interval_ms=500)
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), bus)
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, bus, member="a")
    with running(tailer.run, indexer.run) as stop:
        assert wait_clean(fresh_db, settings.state_dir) == CLEAN
        execute(fresh_db, "UPDATE tickets SET subject='重启之前' WHERE MOD(id, 5) = 0")
        broker.stop()
        execute(fresh_db, "UPDATE tickets SET subject='重启期间' WHERE MOD(id, 3) = 0")
        time.sleep(gap_s)
        broker.start()
        execute(fresh_db, "DELETE FROM ticket_comments WHERE MOD(id, 4) = 0")
        problems = wait_clean(fresh_db, settings.state_dir, timeout=240)
        assert problems == CLEAN, {k: v[:3] for k, v in problems.items()}
        assert not stop.is_set()


def test_sync_kafka_snapshot_only_and_resnapshot_flags(fresh_db: MySQLSettings, tmp_path: Path,
                                                       kafka: KafkaSettings) -> None:  # noqa: F811
    """`sync --bus kafka --snapshot-only` publishes the snapshot and exits; `--resnapshot` publishes a new one
    (the documented recovery after a TRUNCATE or a purged binlog) instead of being ignored; a second tailer on
    the same state folder is refused."""
    load_corpora(fresh_db, DATA, limit_per_file=5)
    state = tmp_path / "tailer"
    env = env_for(fresh_db, state, **kafka_env(kafka))

    def sync(*flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ticketsearch.cli", "sync", "--bus", "kafka", *flags],
                              cwd=PROJECT, env=env, capture_output=True, text=True, timeout=timeout)

    first = sync("--snapshot-only")
    assert first.returncode == 0, first.stderr[-2000:]
    ckpt = CheckpointStore(state).load()
    assert ckpt is not None and ckpt.position is not None
    execute(fresh_db, "UPDATE tickets SET subject='再次快照' WHERE MOD(id, 2) = 0")
    again = sync("--resnapshot", "--snapshot-only")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "re-snapshot through Kafka requested" in again.stderr
    ckpt2 = CheckpointStore(state).load()
    assert ckpt2 is not None and ckpt2.position is not None and ckpt.position < ckpt2.position
    owner = subprocess.Popen([sys.executable, "-m", "ticketsearch.cli", "sync", "--bus", "kafka"], cwd=PROJECT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        second = sync(timeout=60)
        assert second.returncode == 1 and "already owns" in second.stderr, second.stderr[-2000:]
    finally:
        owner.terminate()
        owner.wait(timeout=30)
