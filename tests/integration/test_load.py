"""syncer.load against a real private MariaDB: demo sample and real corpora, counts, per-tenant ids,
exact text round-trip, determinism, refusal without replace, clear errors for bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from mariadb_fixture import PROJECT, free_port, start_private_mariadb, stop_private_mariadb

from searchcore.dbconfig import MySQLSettings
from syncer import demo_data
from syncer.load import (
    CorpusFileError,
    SlugConflictError,
    TenantsNotEmptyError,
    build_corpus_tenant,
    ensure_schema,
    first_clause,
    load_corpora,
    load_demo,
    read_corpora,
    tenant_ids,
)

pytestmark = pytest.mark.integration

DATA = (PROJECT / ".." / "shared" / "data").resolve()
TICKETS = DATA / "tickets"
CORPUS_OFFSET = 100
LIMIT = 200

needs_data = pytest.mark.skipif(
    not (TICKETS / "medical_dialogue.csv").is_file(), reason=f"real corpora not found under {TICKETS}"
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySQLSettings]:
    datadir = tmp_path_factory.mktemp("mariadb-load") / "data"
    settings = start_private_mariadb(datadir, free_port())
    try:
        ensure_schema(settings)  # idempotent on top of the script's schema
        yield settings
    finally:
        stop_private_mariadb(datadir)


def rows(settings: MySQLSettings, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(**settings.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def rows_sql(settings: MySQLSettings, sql: str) -> None:
    conn = pymysql.connect(**settings.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def table_counts(settings: MySQLSettings, ids: tuple[int, ...]) -> dict[str, int]:
    marks = ", ".join(["%s"] * len(ids))
    return {
        table: rows(settings, f"SELECT COUNT(*) FROM {table} WHERE tenant_id IN ({marks})", ids)[0][0]
        for table in ("users", "tickets", "ticket_comments", "tags", "ticket_tags")
    }


def read_csv(name: str) -> list[list[str]]:
    with (TICKETS / name).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))[1:]


def test_load_demo(db: MySQLSettings) -> None:
    report = load_demo(db)
    tenants = demo_data.TENANTS
    assert report.tenants == 2 and report.tenant_ids == (1, 2)
    assert report.tickets == sum(len(t.tickets) for t in tenants) == 40
    assert report.comments == sum(len(k.comments) for t in tenants for k in t.tickets)
    assert report.users == sum(len(t.users) for t in tenants)
    assert report.tags == sum(len({g for k in t.tickets for g in k.tags}) for t in tenants)
    assert report.ticket_tags == sum(len(set(k.tags)) for t in tenants for k in t.tickets)
    counts = table_counts(db, (1, 2))
    assert counts == {
        "users": report.users,
        "tickets": report.tickets,
        "ticket_comments": report.comments,
        "tags": report.tags,
        "ticket_tags": report.ticket_tags,
    }
    assert {1, 2} <= set(tenant_ids(db))

    # Equal ticket ids in both tenants, different tickets.
    both = rows(db, "SELECT tenant_id, subject FROM tickets WHERE id = 1 ORDER BY tenant_id")
    assert [(1, tenants[0].tickets[0].subject), (2, tenants[1].tickets[0].subject)] == both[:2]

    # Exact round-trip: traditional characters, emoji, full-width, JSON with native types.
    for tenant in tenants:
        for i, t in enumerate(tenant.tickets, start=1):
            [(subject, description, fields, order)] = rows(
                db,
                "SELECT subject, description, custom_fields, order_number FROM tickets "
                "WHERE tenant_id = %s AND id = %s",
                (tenant.id, i),
            )
            assert (subject, description, order) == (t.subject, t.description, t.order_number)
            assert (None if fields is None else json.loads(fields)) == t.custom_fields
    bodies = [
        r[0]
        for r in rows(
            db, "SELECT body FROM ticket_comments WHERE tenant_id = 1 AND ticket_id = 3 ORDER BY id"
        )
    ]
    assert bodies == [c.body for c in tenants[0].tickets[2].comments]
    [(created, updated)] = rows(
        db, "SELECT MIN(created_at), MIN(updated_at >= created_at) FROM tickets WHERE tenant_id IN (1, 2)"
    )
    assert updated == 1

    with pytest.raises(TenantsNotEmptyError) as err:
        load_demo(db)
    assert set(err.value.rows) == {1, 2} and err.value.rows[1]["tickets"] == 20
    # A slug held by another tenant id is a clear error, nothing is written.
    rows_sql(db, "INSERT INTO tenants (id, slug, name) VALUES (77, 'miaomiao-shop-o5', 'squatter')")
    try:
        with pytest.raises(SlugConflictError) as conflict:
            load_demo(db, tenant_id_offset=5)
        assert (conflict.value.slug, conflict.value.existing_id, conflict.value.wanted_id) == (
            "miaomiao-shop-o5",
            77,
            6,
        )
        assert rows(db, "SELECT COUNT(*) FROM tickets WHERE tenant_id IN (6, 7)") == [(0,)]
    finally:
        rows_sql(db, "DELETE FROM tenants WHERE id = 77")

    before = rows(db, "SELECT * FROM tickets WHERE tenant_id IN (1, 2) ORDER BY tenant_id, id")
    again = load_demo(db, replace=True)
    assert again.tickets == 40
    assert rows(db, "SELECT * FROM tickets WHERE tenant_id IN (1, 2) ORDER BY tenant_id, id") == before


@needs_data
def test_load_corpora_limited(db: MySQLSettings) -> None:
    report = load_corpora(db, DATA, limit_per_file=LIMIT, tenant_id_offset=CORPUS_OFFSET)
    assert report.tickets == 4 * LIMIT
    assert report.tenants >= 3  # first 200 rows of each file: some departments / cats, waimai, hotel
    counts = table_counts(db, report.tenant_ids)
    assert counts == {
        "users": report.users,
        "tickets": report.tickets,
        "ticket_comments": report.comments,
        "tags": report.tags,
        "ticket_tags": report.ticket_tags,
    }
    assert all(CORPUS_OFFSET < t <= CORPUS_OFFSET + 23 for t in report.tenant_ids)

    # Equal ids in several tenants.
    [(n,)] = rows(db, f"SELECT COUNT(*) FROM tickets WHERE id = 1 AND tenant_id > {CORPUS_OFFSET}")
    assert n == report.tenants

    # medical: first CSV record → first ticket of its department's tenant, answer as first comment.
    dept, title, ask, answer = read_csv("medical_dialogue.csv")[0]
    [(tid, subject, description, category)] = rows(
        db,
        "SELECT k.tenant_id, k.subject, k.description, k.category FROM tickets k "
        "JOIN tenants t ON t.id = k.tenant_id WHERE t.slug LIKE 'med-%%' AND k.category = %s AND k.id = 1",
        (dept,),
    )
    assert (subject, description, category) == (title, ask, dept)
    assert rows(
        db,
        "SELECT body FROM ticket_comments WHERE tenant_id = %s AND ticket_id = 1 ORDER BY id LIMIT 1",
        (tid,),
    ) == [(answer,)]

    # waimai and hotel: description byte-exact, subject = first clause, label tag.
    for slug, name in (("waimai", "waimai_10k.csv"), ("hotel", "ChnSentiCorp_htl_all.csv")):
        expected = read_csv(name)[:LIMIT]
        got = rows(
            db,
            "SELECT k.description, k.subject, "
            "(SELECT GROUP_CONCAT(g.name) FROM ticket_tags x JOIN tags g "
            "  ON g.tenant_id = x.tenant_id AND g.id = x.tag_id "
            "  WHERE x.tenant_id = k.tenant_id AND x.ticket_id = k.id AND g.name IN ('差评', '好评')) "
            "FROM tickets k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = %s ORDER BY k.id",
            (f"{slug}-o{CORPUS_OFFSET}",),
        )
        assert [g[0] for g in got] == [review for _label, review in expected]
        assert [g[1] for g in got] == [first_clause(review) for _label, review in expected]
        assert [g[2] for g in got] == ["好评" if label == "1" else "差评" for label, _review in expected]

    # online_shopping: the first record starts with a BOM inside the field; it is stripped, nothing else.
    cat, _label, review = read_csv("online_shopping_10_cats.csv")[0]
    assert review.startswith("\ufeff")
    assert rows(
        db,
        "SELECT k.description FROM tickets k JOIN tenants t ON t.id = k.tenant_id "
        "WHERE t.slug LIKE 'shop-%%' AND k.category = %s AND k.id = 1",
        (cat,),
    ) == [(review[1:],)]

    # Ticket numbers, order numbers, timestamps with milliseconds.
    sample = rows(
        db,
        "SELECT tenant_id, id, ticket_number, order_number, created_at, updated_at FROM tickets "
        f"WHERE tenant_id > {CORPUS_OFFSET}",
    )
    assert all(num == f"T-{t}-{i:06d}" for t, i, num, _o, _c, _u in sample)
    assert all(u >= c for _t, _i, _n, _o, c, u in sample)
    assert any(c.microsecond for *_rest, c, _u in sample)
    assert all(c.microsecond % 1000 == 0 for *_rest, c, _u in sample)
    orders = [o for _t, _i, _n, o, _c, _u in sample if o is not None]
    assert 0.2 < len(orders) / len(sample) < 0.4
    assert all(o.startswith("ORD-20") and len(o) == len("ORD-2024-000123") for o in orders)

    # Refuses a second load; replace=True reloads the same rows (deterministic).
    before = rows(db, f"SELECT * FROM tickets WHERE tenant_id > {CORPUS_OFFSET} ORDER BY tenant_id, id")
    with pytest.raises(TenantsNotEmptyError) as err:
        load_corpora(db, DATA, limit_per_file=LIMIT, tenant_id_offset=CORPUS_OFFSET)
    assert set(err.value.rows) == set(report.tenant_ids)
    again = load_corpora(db, DATA, limit_per_file=LIMIT, tenant_id_offset=CORPUS_OFFSET, replace=True)
    assert again == type(report)(**{**report.__dict__, "seconds": again.seconds})
    assert (
        rows(db, f"SELECT * FROM tickets WHERE tenant_id > {CORPUS_OFFSET} ORDER BY tenant_id, id") == before
    )


@needs_data
def test_copies_get_their_own_tenants(db: MySQLSettings) -> None:
    report = load_corpora(db, DATA, limit_per_file=5, tenant_id_offset=300, copies=2)
    assert report.tickets == 2 * 4 * 5 and report.tenants % 2 == 0
    per_copy = len(read_corpora(DATA, limit_per_file=0))
    slugs = dict(rows(db, "SELECT id, slug FROM tenants WHERE id > 300"))
    waimai = next(t for t, s in slugs.items() if s == "waimai-o300")
    assert slugs[waimai + per_copy] == "waimai-c2-o300"
    first = rows(db, "SELECT subject, description FROM tickets WHERE tenant_id = %s ORDER BY id", (waimai,))
    second = rows(
        db, "SELECT subject, description FROM tickets WHERE tenant_id = %s ORDER BY id", (waimai + per_copy,)
    )
    assert first == second and len(first) == 5


@needs_data
def test_tenant_ids_and_rows_do_not_depend_on_limit() -> None:
    full = read_corpora(DATA)
    small = read_corpora(DATA, limit_per_file=50)
    assert [(t.base_index, t.slug) for t in full] == [(t.base_index, t.slug) for t in small]
    assert len(full) >= 10 and sum(len(t.tickets) for t in full) >= 90_000
    a = build_corpus_tenant(small[-1], 7, "x", "x", seed=7, copy=0)
    b = build_corpus_tenant(read_corpora(DATA, limit_per_file=50)[-1], 7, "x", "x", seed=7, copy=0)
    assert (a.tickets, a.comments, a.users, a.ticket_tags) == (b.tickets, b.comments, b.users, b.ticket_tags)
    c = build_corpus_tenant(small[-1], 7, "x", "x", seed=8, copy=0)
    assert a.tickets != c.tickets


def test_bad_csv_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "medical_dialogue.csv").write_text(
        "department,title,ask,answer\n心血管科,标题,问题,回答\n心血管科,只有三列,问题\n", encoding="utf-8"
    )
    with pytest.raises(CorpusFileError) as err:
        read_corpora(tmp_path)
    assert err.value.path == tmp_path / "medical_dialogue.csv" and err.value.line == 3
    assert "expected 4 columns, got 3" in str(err.value) and "medical_dialogue.csv:3" in str(err.value)


def test_bad_label_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "medical_dialogue.csv").write_text(
        "department,title,ask,answer\n科,t,a,b\n", encoding="utf-8"
    )
    (tmp_path / "online_shopping_10_cats.csv").write_text(
        'cat,label,review\n书籍,1,"多行\n评论"\n书籍,2,好\n', encoding="utf-8"
    )
    with pytest.raises(CorpusFileError) as err:
        read_corpora(tmp_path)
    assert err.value.line == 4 and "label must be 0 or 1, got '2'" in str(err.value)
