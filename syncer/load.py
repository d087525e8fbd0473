"""Load the real public corpora (or the project's demo sample) into the helpdesk schema.

Input: MySQL settings and the data directory holding the four ticket-shaped CSV files
(``<data_dir>/tickets/*.csv`` or ``<data_dir>/*.csv``): medical_dialogue.csv, online_shopping_10_cats.csv,
waimai_10k.csv, ChnSentiCorp_htl_all.csv.
Output: rows in tenants, users, tickets, ticket_comments, tags and ticket_tags, and a ``LoadReport``.

Mapping: medical_dialogue → one tenant per department (category = department, subject = title,
description = ask, first agent comment = answer); online_shopping_10_cats → one tenant per ``cat``
(subject = first clause of the review, at most 30 characters; description = review; label 0 → tag 差评,
1 → tag 好评); waimai_10k → tenant "waimai"; ChnSentiCorp_htl_all → tenant "hotel". Everything else
(users, statuses, priorities, channels, timestamps with milliseconds, order numbers, custom fields,
extra comments and tags) is synthetic, drawn from ``random.Random`` seeded by (seed, copy, tenant slug).

Guarantees:
- Deterministic: the same files, seed, limit and copies give the same rows. Tenant ids do not depend on
  ``limit_per_file`` (they come from the full files: first-appearance order of each category).
- Text is kept exactly as in the files (only a leading BOM of a field is stripped).
- Ids are per-tenant sequences starting at 1, so equal ticket ids exist in different tenants.
- Refuses (``TenantsNotEmptyError``) to load into a tenant that already has rows, unless ``replace=True``,
  which deletes that tenant's rows first, children first, explicitly (the schema has no cascades, and
  cascaded deletes would never reach the binlog).
- Inserts are multi-row INSERTs in transactions of ``BATCH_ROWS`` rows on one connection; a failure part
  way leaves the tenants loaded so far (load again with ``replace=True``).
"""


from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from searchcore.dbconfig import MySQLSettings
from syncer import demo_data
from syncer.corpora import (  # noqa: F401 - re-exported: the loader's public API
    CORPUS_FILES,
    CorpusFileError,
    LoadError,
    SourceTenant,
    SourceTicket,
    first_clause,
    read_corpora,
)
from syncer.synthetic import (  # noqa: F401 - re-exported
    _PERIOD_START,
    TenantRows,
    build_corpus_tenant,
    build_demo_tenant,
    tenant_slug,
)

SCHEMA_SQL = Path(__file__).resolve().parent / "sql" / "helpdesk.sql"
BATCH_ROWS = 2000

class SchemaMissingError(LoadError):
    def __init__(self, database: str, table: str, detail: str) -> None:
        self.database = database
        self.table = table
        super().__init__(
            f"table {database}.{table} is not usable ({detail}); apply the schema first with "
            f"syncer.load.ensure_schema(settings) or scripts/mariadb.sh start"
        )


class TenantsNotEmptyError(LoadError):
    """Target tenants already hold rows; ``rows`` maps tenant id → {table: row count}."""

    def __init__(self, rows: dict[int, dict[str, int]]) -> None:
        self.rows = rows
        shown = ", ".join(
            f"tenant {tid} ({', '.join(f'{t}={n}' for t, n in counts.items())})"
            for tid, counts in sorted(rows.items())[:5]
        )
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        super().__init__(
            f"{len(rows)} target tenant(s) already have rows: {shown}{more}; "
            f"pass replace=True to delete and reload them, or use another tenant_id_offset"
        )


class SlugConflictError(LoadError):
    def __init__(self, slug: str, existing_id: int, wanted_id: int) -> None:
        self.slug = slug
        self.existing_id = existing_id
        self.wanted_id = wanted_id
        super().__init__(
            f"tenant slug {slug!r} already belongs to tenant {existing_id}, cannot load it as tenant "
            f"{wanted_id}; use the same tenant_id_offset as before or remove tenant {existing_id}"
        )


# ------------------------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class LoadReport:
    tenants: int
    users: int
    tickets: int
    comments: int
    tags: int
    ticket_tags: int
    seconds: float
    tenant_ids: tuple[int, ...] = ()

    def summary(self) -> str:
        return (
            f"loaded {self.tenants} tenants, {self.users} users, {self.tickets} tickets, "
            f"{self.comments} comments, {self.tags} tags, {self.ticket_tags} ticket tags "
            f"in {self.seconds:.1f} s"
        )


# ------------------------------------------------------------------------------------------------ corpus



_INSERTS = {
    "users": "INSERT INTO users (tenant_id, id, kind, name, email, phone, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
    "tags": "INSERT INTO tags (tenant_id, id, name) VALUES (%s, %s, %s)",
    "tickets": "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, status, priority, "
    "category, channel, requester_id, assignee_id, order_number, custom_fields, created_at, "
    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
    "ticket_comments": "INSERT INTO ticket_comments (tenant_id, id, ticket_id, author_id, body, is_public, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
    "ticket_tags": "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (%s, %s, %s)",
}
# Children first: the order in which a tenant's rows are deleted.
_TENANT_TABLES = ("ticket_tags", "ticket_comments", "tickets", "tags", "users")


def _connect(settings: MySQLSettings, *, with_database: bool = True) -> pymysql.connections.Connection[Any]:
    kwargs = settings.connect_kwargs(with_database=with_database)
    kwargs["autocommit"] = False
    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.OperationalError as exc:
        raise LoadError(f"cannot connect to {settings.describe()}: {exc.args[-1]}") from exc


def _split_sql(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def ensure_schema(settings: MySQLSettings) -> None:
    """Create the database (utf8mb4) if missing and apply syncer/sql/helpdesk.sql (idempotent)."""
    conn = _connect(settings, with_database=False)
    try:
        with conn.cursor() as cur:
            name = settings.database.replace("`", "``")
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            cur.execute(f"USE `{name}`")
            for stmt in _split_sql(SCHEMA_SQL.read_text(encoding="utf-8")):
                cur.execute(stmt)
        conn.commit()
    finally:
        conn.close()


def tenant_ids(settings: MySQLSettings) -> list[int]:
    """Ids of all rows in the tenants table, ascending."""
    conn = _connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM tenants ORDER BY id")
            return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def _existing_rows(cur: Any, settings: MySQLSettings, ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    marks = ", ".join(["%s"] * len(ids))
    for table in ("tickets", "users", "tags", "ticket_comments", "ticket_tags"):
        try:
            cur.execute(
                f"SELECT tenant_id, COUNT(*) FROM {table} WHERE tenant_id IN ({marks}) GROUP BY tenant_id",
                ids,
            )
        except pymysql.err.ProgrammingError as exc:
            raise SchemaMissingError(settings.database, table, str(exc.args[-1])) from exc
        for tid, count in cur.fetchall():
            found.setdefault(int(tid), {})[table] = int(count)
    return found


def _check_slugs(cur: Any, plan: list[TenantRows]) -> None:
    wanted = {t.slug: t.id for t in plan}
    marks = ", ".join(["%s"] * len(wanted))
    cur.execute(f"SELECT slug, id FROM tenants WHERE slug IN ({marks})", list(wanted))
    for slug, existing in cur.fetchall():
        if int(existing) != wanted[slug]:
            raise SlugConflictError(slug, int(existing), wanted[slug])


def _delete_tenant(conn: Any, cur: Any, tenant_id: int) -> None:
    for table in _TENANT_TABLES:
        while True:
            cur.execute(f"DELETE FROM {table} WHERE tenant_id = %s LIMIT {BATCH_ROWS * 5}", (tenant_id,))
            conn.commit()
            if cur.rowcount < BATCH_ROWS * 5:
                break


def _insert_batches(conn: Any, cur: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    sql = _INSERTS[table]
    for start in range(0, len(rows), BATCH_ROWS):
        cur.executemany(sql, rows[start : start + BATCH_ROWS])
        conn.commit()


def _write(
    settings: MySQLSettings,
    plan: Iterator[TenantRows] | list[TenantRows],
    ids: list[int],
    slugs_plan: list[TenantRows] | None,
    *,
    replace: bool,
    progress: Callable[[str], None] | None,
    started: float,
) -> LoadReport:
    conn = _connect(settings)
    counts = {"users": 0, "tickets": 0, "ticket_comments": 0, "tags": 0, "ticket_tags": 0}
    loaded: list[int] = []
    try:
        cur = conn.cursor()
        cur.max_stmt_length = 4 * 1024 * 1024  # multi-row INSERTs up to 4 MiB (server allows 64 MiB)
        existing = _existing_rows(cur, settings, ids) if ids else {}
        if existing and not replace:
            raise TenantsNotEmptyError(existing)
        if slugs_plan:
            _check_slugs(cur, slugs_plan)
        for tid in sorted(existing):
            _delete_tenant(conn, cur, tid)
        for rows in plan:
            cur.execute(
                "INSERT INTO tenants (id, slug, name, created_at) VALUES (%s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE slug = VALUES(slug), name = VALUES(name)",
                (rows.id, rows.slug, rows.name, rows.created_at),
            )
            conn.commit()
            for table, data in (
                ("users", rows.users),
                ("tags", rows.tags),
                ("tickets", rows.tickets),
                ("ticket_comments", rows.comments),
                ("ticket_tags", rows.ticket_tags),
            ):
                _insert_batches(conn, cur, table, data)
                counts[table] += len(data)
            loaded.append(rows.id)
            if progress is not None:
                progress(
                    f"tenant {rows.id} {rows.slug}: {len(rows.tickets)} tickets, "
                    f"{len(rows.comments)} comments"
                )
    except pymysql.err.MySQLError as exc:
        conn.rollback()
        raise LoadError(f"loading into {settings.describe()} failed after tenants {loaded}: {exc}") from exc
    finally:
        conn.close()
    return LoadReport(
        tenants=len(loaded),
        users=counts["users"],
        tickets=counts["tickets"],
        comments=counts["ticket_comments"],
        tags=counts["tags"],
        ticket_tags=counts["ticket_tags"],
        seconds=time.monotonic() - started,
        tenant_ids=tuple(loaded),
    )


def load_corpora(
    settings: MySQLSettings,
    data_dir: Path,
    *,
    seed: int = 7,
    limit_per_file: int | None = None,
    tenant_id_offset: int = 0,
    copies: int = 1,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the four corpora as tenants ``tenant_id_offset + copy * N + 1 ..`` (N = tenants per copy).

    Slugs: copy k > 0 appends ``-c<k+1>`` (and names `` #<k+1>``); a non-zero offset appends ``-o<offset>``,
    so loads at different offsets never claim the same slug. Tenants without tickets (possible with a small
    ``limit_per_file``) are not created.
    """
    started = time.monotonic()
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if tenant_id_offset < 0:
        raise ValueError(f"tenant_id_offset must be >= 0, got {tenant_id_offset}")
    sources = read_corpora(Path(data_dir), limit_per_file=limit_per_file)
    per_copy = len(sources)
    targets: list[tuple[SourceTenant, int, str, str, int]] = []
    for copy in range(copies):
        for src in sources:
            if not src.tickets:
                continue
            tid = tenant_id_offset + copy * per_copy + src.base_index + 1
            slug = tenant_slug(src.slug, copy=copy, offset=tenant_id_offset)
            name = src.name if copy == 0 else f"{src.name} #{copy + 1}"
            targets.append((src, tid, slug, name, copy))
    ids = [t[1] for t in targets]
    headers = [TenantRows(tid, slug, name, _PERIOD_START) for _s, tid, slug, name, _c in targets]

    def plan() -> Iterator[TenantRows]:  # built lazily: one tenant's rows in memory at a time
        for src, tid, slug, name, copy in targets:
            yield build_corpus_tenant(src, tid, slug, name, seed=seed, copy=copy)

    return _write(settings, plan(), ids, headers, replace=replace, progress=progress, started=started)


def load_demo(
    settings: MySQLSettings,
    *,
    seed: int = 7,
    tenant_id_offset: int = 0,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the project's own demo sample (syncer/demo_data.py): tenants 1 and 2 (+ offset; a non-zero
    offset appends ``-o<offset>`` to the slugs)."""
    started = time.monotonic()
    demo_data.validate()
    plan = [
        build_demo_tenant(
            t, tenant_id_offset + t.id, seed=seed, slug=tenant_slug(t.slug, offset=tenant_id_offset)
        )
        for t in demo_data.TENANTS
    ]
    return _write(
        settings, plan, [t.id for t in plan], plan, replace=replace, progress=progress, started=started
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Manual use: ``python -m syncer.load [--demo] [--limit N] [--copies N] [--offset N] [--replace]
    [DATA_DIR]``; connection settings from TICKETSEARCH_MYSQL_* (see searchcore.dbconfig)."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m syncer.load")
    parser.add_argument("data_dir", nargs="?", default="../shared/data")
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replace", action="store_true")
    args = parser.parse_args(argv)
    settings = MySQLSettings.from_env(os.environ)
    try:
        ensure_schema(settings)
        if args.demo:
            report = load_demo(
                settings, seed=args.seed, tenant_id_offset=args.offset, replace=args.replace, progress=print
            )
        else:
            report = load_corpora(
                settings,
                Path(args.data_dir),
                seed=args.seed,
                limit_per_file=args.limit,
                tenant_id_offset=args.offset,
                copies=args.copies,
                replace=args.replace,
                progress=print,
            )
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
