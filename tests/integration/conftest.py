"""Shared fixtures for integration tests: one private MariaDB (binlog ROW/FULL/FULL) per test session,
started by the project's own script; a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from mariadb_fixture import free_port, start_private_mariadb, stop_private_mariadb

from searchcore.dbconfig import MySQLSettings
from syncer.load import ensure_schema

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySQLSettings]:
    datadir = tmp_path_factory.mktemp("mariadb-main") / "data"
    settings = start_private_mariadb(datadir, free_port())
    print(f"\nprivate MariaDB for the session: port {settings.port}, datadir {datadir}")
    try:
        yield settings
    finally:
        stop_private_mariadb(datadir)


@pytest.fixture()
def fresh_db(mariadb: MySQLSettings, request: pytest.FixtureRequest) -> MySQLSettings:
    """A new empty helpdesk database on the session server (its own name, so tests never share rows)."""
    name = f"t{next(_counter)}_{request.node.name[:40]}".replace("[", "_").replace("]", "_").replace("-", "_")
    settings = replace(mariadb, database=name)
    ensure_schema(settings)
    return settings


@pytest.fixture()
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tickets"


class RealCorpus:
    """All four real corpora (~90k tickets, 23 tenants) snapshot, plus a second load streamed live."""

    def __init__(self, db: MySQLSettings, state_dir: Path) -> None:
        import threading
        import time

        from support import wait_synced

        from syncer.load import load_corpora
        from syncer.service import SyncService
        from syncer.settings import SyncSettings

        self.db = db
        self.state_dir = state_dir
        started = time.monotonic()
        self.snapshot_load = load_corpora(db, REAL_DATA)
        loaded = time.monotonic()
        self.service = SyncService(SyncSettings(source=db, state_dir=state_dir))
        self.snapshot = self.service.ensure_snapshot()
        snapped = time.monotonic()
        self.thread = threading.Thread(target=self.service.stream, daemon=True)
        self.thread.start()
        self.stream_load = load_corpora(db, REAL_DATA, limit_per_file=1500, tenant_id_offset=100)
        wait_synced(db, state_dir, timeout=600)
        done = time.monotonic()
        print(f"\nreal corpus: loaded {self.snapshot_load.tickets} tickets in {loaded - started:.1f} s; "
              f"snapshot {snapped - loaded:.1f} s; streamed {self.stream_load.tickets} more tickets, synced after "
              f"{done - snapped:.1f} s")

    def close(self) -> None:
        self.service.stop_event.set()
        self.thread.join(timeout=60)
        self.service.close()


@pytest.fixture(scope="session")
def real_corpus(mariadb: MySQLSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCorpus]:
    if not (REAL_DATA / "medical_dialogue.csv").exists():
        pytest.skip(f"real corpora not found in {REAL_DATA}")
    settings = replace(mariadb, database="real_corpus")
    ensure_schema(settings)
    corpus = RealCorpus(settings, tmp_path_factory.mktemp("real-state"))
    yield corpus
    corpus.close()
