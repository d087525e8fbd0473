"""Fixtures of the browser tests: the whole product running for real, and headless Debian Chromium.

Input: the real corpora (../shared/data/tickets), a subset loaded with `load_corpora(limit_per_file=…)` into a
fresh database of a private MariaDB; `ticketsearch sync` and `ticketsearch serve` (uvicorn) as child processes on
free ports; Chromium from the Debian package (/usr/bin/chromium) driven by Playwright with `executable_path`.
Output: `stack` (URLs, keys of two tenants, the database) and `browser` (a Playwright context with a fresh
user-data-dir). Screenshots go to test-artifacts/screenshots/ (git-ignored; the path is printed).
Guarantee: no browser is downloaded (Playwright only drives the system Chromium); the tests are skipped, with
the reason, only when Chromium or Playwright is not installed (scripts/bootstrap.sh installs both).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pymysql
import pytest
from mariadb_fixture import free_port, start_private_mariadb, stop_private_mariadb
from support import PROJECT, SyncProcess, env_for, wait_synced

from queryapi.auth import create_key
from searchcore.dbconfig import MySQLSettings
from syncer.load import ensure_schema, load_corpora

CHROMIUM = Path(os.environ.get("TICKETSEARCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REAL_DATA = PROJECT.parent / "shared" / "data" / "tickets"
SCREENSHOTS = PROJECT / "test-artifacts" / "screenshots"
LIMIT_PER_FILE = 120


@dataclass
class Stack:
    db: MySQLSettings
    state_dir: Path
    base_url: str
    tenants: list[int]
    agent_keys: dict[int, str]
    admin_keys: dict[int, str]
    sync: SyncProcess
    api: subprocess.Popen[bytes]
    api_log: Path

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        conn = pymysql.connect(**self.db.connect_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def synced(self) -> None:
        wait_synced(self.db, self.state_dir, timeout=120, process=self.sync)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"API server exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"API server not answering {url} within {timeout} s")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (REAL_DATA / "medical_dialogue.csv").exists():
        pytest.skip(f"real corpora not found in {REAL_DATA}")
    root = tmp_path_factory.mktemp("browser-stack")
    datadir = root / "mariadb" / "data"
    datadir.parent.mkdir()
    server = start_private_mariadb(datadir, free_port())
    db = replace(server, database="browser_ui")
    ensure_schema(db)
    report = load_corpora(db, REAL_DATA, limit_per_file=LIMIT_PER_FILE)
    state_dir = root / "state"
    state_dir.mkdir()
    sync = SyncProcess(db, state_dir).start()
    port = free_port()
    api_log = root / "api.log"
    with open(api_log, "wb") as log:
        api = subprocess.Popen([sys.executable, "-m", "ticketsearch.cli", "serve", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=PROJECT, env=env_for(db, state_dir),
                               stdout=log, stderr=subprocess.STDOUT)
    st: Stack | None = None
    try:
        wait_synced(db, state_dir, timeout=300, process=sync)
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/ui/", api, api_log)
        conn = pymysql.connect(**db.connect_kwargs())
        with conn.cursor() as cur:
            cur.execute("SELECT tenant_id, COUNT(*) FROM tickets GROUP BY tenant_id ORDER BY 2 DESC, 1")
            tenants = [int(r[0]) for r in cur.fetchall()]
        conn.close()
        st = Stack(db=db, state_dir=state_dir, base_url=base, tenants=tenants,
                   agent_keys={t: create_key(db, t, "agent") for t in tenants[:3]},
                   admin_keys={t: create_key(db, t, "admin") for t in tenants[:2]},
                   sync=sync, api=api, api_log=api_log)
        print(f"\nbrowser stack: {report.tickets} real tickets of {len(tenants)} tenants, API {base}, "
              f"MariaDB port {server.port}, state {state_dir}")
        yield st
    finally:
        api.terminate()
        try:
            api.wait(timeout=20)
        except subprocess.TimeoutExpired:
            api.kill()
        sync.stop()
        stop_private_mariadb(datadir)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package `chromium`, see scripts/bootstrap.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) not installed: pip install -e '.[dev]'")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """A new tab at 1280×900 that fails the test on any JavaScript error (API 4xx answers are expected)."""
    p = browser.new_page()
    p.set_viewport_size({"width": 1280, "height": 900})
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 4" not in m.text else None)
    yield p
    p.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
