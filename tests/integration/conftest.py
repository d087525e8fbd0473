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
