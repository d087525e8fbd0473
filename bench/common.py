"""Shared bench helpers: a private MariaDB started by the project's script, the real data location."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests" / "integration"))

from mariadb_fixture import free_port, start_private_mariadb, stop_private_mariadb  # noqa: E402

DATA = PROJECT.parent / "shared" / "data"

__all__ = ["DATA", "PROJECT", "free_port", "private_mariadb", "stop_private_mariadb"]


def private_mariadb() -> tuple[object, Path]:
    root = Path(tempfile.mkdtemp(prefix="ts-bench-"))
    datadir = root / "mariadb" / "data"
    return start_private_mariadb(datadir, free_port()), datadir
