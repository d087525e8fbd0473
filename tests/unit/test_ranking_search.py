"""Acceptance (issue 4, items 3-5) on the embedded backend without services: highlights (per comment in place,
emoji/full-width offsets, a synonym only on its own span), cursor pagination over equal timestamps while tickets
change, analysis kinds at index AND query time, exact hits first, facets, filters; and the eval metric code on a
hand-computed example (item 2's arithmetic)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzers import Analyzer, AnalyzerConfig
from analyzers.synonyms import SynonymSet
from mappings import load_mapping
from queryapi.querylang import parse_query
from searchcore.documents import Part, StoredTicket
from searchcore.embedded import EmbeddedBackend
from searchcore.embedded_search import search
from searchcore.evaluation import evaluate, mrr_at, ndcg_at, recall_at, split
from searchcore.query import Cursor, SearchRequest, Sort

M = load_mapping()
WORDS = ("Apple Watch", "冯·诺伊曼", "1/2", "5W-30", "XR-500", "PayPal")
TS = "2024-03-01 09:00:00.000000"


def ticket(i: int, subject: str, body: str = "", comments: tuple[str, ...] = (), version: int = 1,
           **fields: Any) -> StoredTicket:
    row = {"subject": subject, "body": body, "status": "open", "priority": "normal", "created_at": TS,
           "updated_at": TS, "ticket_number": f"T-{i:05d}", **fields}
    children = {"comments": {str(k): Part(version, {"id": k, "text": c}) for k, c in enumerate(comments, 1)}}
    return StoredTicket(7, i, Part(version, row), children)


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path, M, Analyzer(AnalyzerConfig(user_words=WORDS)), writable=True)
    yield b
    b.close()


def run(b: EmbeddedBackend, q: str, syn: SynonymSet | None = None, **kw: Any) -> Any:
    req = SearchRequest(text=q, query=parse_query(q, M), **kw)
    return search(b, 7, req, syn) if syn is not None else search(b, 7, req)


# ---- highlights --------------------------------------------------------------------------------------------

def test_match_in_second_of_three_comments_is_highlighted_there_only(backend: EmbeddedBackend) -> None:
    backend.write(7, [ticket(1, "账户问题", "请帮忙", ("您好，请稍等", "打印机卡纸了，已经重启", "谢谢"))], None)
    hits = run(backend, "卡纸").hits
    assert [h.ticket_id for h in hits] == [1]
    hls = [(h.field, h.comment_key, h.fragment) for h in hits[0].highlights]
    assert hls == [("comments", "2", "打印机<em>卡纸</em>了，已经重启")]


def test_offsets_with_emoji_and_full_width(backend: EmbeddedBackend) -> None:
    subject = "😀😀ＰＡＹＰＡＬ退款失败🙏"
    backend.write(7, [ticket(1, subject, "帳號無法登錄，請協助😭")], None)
    hit = run(backend, "paypal 账号").hits[0]
    frags = {h.field: h.fragment for h in hit.highlights}
    assert frags["subject"] == "😀😀<em>ＰＡＹＰＡＬ</em>退款失败🙏"
    assert frags["body"] == "<em>帳號</em>無法登錄，請協助😭"


def test_synonym_highlights_only_its_own_span(backend: EmbeddedBackend) -> None:
    backend.write(7, [ticket(1, "我的Apple Watch坏了", "apple 手机和watch表带也坏了")], None)
    syn = SynonymSet("2", (("苹果手表", "Apple Watch"),))
    assert run(backend, "苹果手表").total == 0  # without the synonym set: no match
    hit = run(backend, "苹果手表", syn).hits[0]
    frags = {h.field: h.fragment for h in hit.highlights}
    assert frags == {"subject": "我的<em>Apple Watch</em>坏了"}  # the lone apple / watch in the body stay plain


# ---- cursors -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sort", [Sort("created", "desc"), Sort("created", "asc")])
def test_cursor_pages_return_each_of_40_equal_timestamps_once_while_two_change(
        backend: EmbeddedBackend, sort: Sort) -> None:
    backend.write(7, [ticket(i, f"打印机故障 {i}", "打印机") for i in range(1, 41)], None)
    seen: list[int] = []
    after: Cursor | None = None
    pages = 0
    while True:
        result = run(backend, "打印机", sort=sort, limit=6, after=after)
        seen.extend(h.ticket_id for h in result.hits)
        pages += 1
        if pages == 2:  # two tickets change between pages (comments added: version up; created_at unchanged)
            later = {"updated_at": "2024-03-02 10:00:00.000000", "status": "solved"}
            backend.write(7, [ticket(3, "打印机故障 3", "打印机", ("已处理",), version=2, **later),
                              ticket(38, "打印机故障 38", "打印机", ("已处理",), version=2, **later)], None)
        after = result.next_cursor
        if after is None:
            break
    assert sorted(seen) == list(range(1, 41)), seen
    if sort.key == "created":
        assert seen == sorted(seen)  # equal timestamps: ticket_id ascending is the tiebreaker


def test_relevance_cursor_pages_are_a_total_order(backend: EmbeddedBackend) -> None:
    backend.write(7, [ticket(i, f"打印机故障 {i}", "打印机" * (1 + i % 3)) for i in range(1, 41)], None)
    full = run(backend, "打印机", limit=40).hits
    seen: list[int] = []
    after: Cursor | None = None
    while True:
        result = run(backend, "打印机", limit=7, after=after)
        seen.extend(h.ticket_id for h in result.hits)
        after = result.next_cursor
        if after is None:
            break
    assert seen == [h.ticket_id for h in full] and len(set(seen)) == 40
    assert [h.sort_value for h in full] == sorted((h.sort_value for h in full), reverse=True)


def test_field_sort_and_priority(backend: EmbeddedBackend) -> None:
    backend.write(7, [ticket(1, "退款", priority="low"), ticket(2, "退款", priority="urgent"),
                      ticket(3, "退款", priority="high")], None)
    assert [h.ticket_id for h in run(backend, "退款", sort=Sort("priority", "desc")).hits] == [2, 3, 1]
    assert [h.ticket_id for h in run(backend, "退款 priority>=high", sort=Sort("priority", "asc")).hits] == [3, 2]


# ---- ranking, filters, facets ------------------------------------------------------------------------------

def test_exact_identifier_ranks_first(backend: EmbeddedBackend) -> None:
    backend.write(7, [ticket(1, "订单 A2024-00017 退款 A2024-00017", "A2024-00017"),
                      ticket(2, "发票", order_number="A2024-00017"),
                      ticket(3, "咨询", "请查 T-00001 的状态")], None)
    assert run(backend, "A2024-00017").hits[0].ticket_id == 2
    assert run(backend, "T-00003").hits[0].ticket_id == 3


def test_subject_outranks_body_outranks_comments(backend: EmbeddedBackend) -> None:
    backend.write(7, [ticket(1, "其他", "其他", ("发票",)), ticket(2, "其他", "发票"), ticket(3, "发票", "其他")], None)
    assert [h.ticket_id for h in run(backend, "发票").hits] == [3, 2, 1]


def test_filters_negation_or_and_facets(backend: EmbeddedBackend) -> None:
    backend.write(7, [
        ticket(1, "打印机卡纸", status="open", priority="high", category="硬件", assignee_id=5),
        ticket(2, "打印机卡纸 退款", status="open", priority="low", category="硬件"),
        ticket(3, "打印机没墨", ("已换墨盒",), status="solved", priority="high", assignee_id=5,
               custom_fields={"model": "XR-500"}),
        ticket(4, "无法登录", status="pending", priority="urgent"),
    ], None)
    ids = lambda q: sorted(h.ticket_id for h in run(backend, q, limit=50).hits)  # noqa: E731
    assert ids("打印机 -退款") == [1, 3]
    assert ids("打印机 status:open") == [1, 2]
    assert ids("status:solved OR 登录") == [3, 4]
    assert ids("priority>=high") == [1, 3, 4]
    assert ids("assignee:none") == [2, 4]
    assert ids("assignee:5 -status:solved") == [1]
    assert ids("cf.model:XR-500") == [3]
    assert ids("-打印机") == [4]
    result = run(backend, "打印机", facets=("status", "priority", "category", "assignee_id"))
    facets = {f: {c.value: c.count for c in counts} for f, counts in result.facets.items()}
    assert facets["status"] == {"open": 2, "solved": 1}
    assert facets["priority"] == {"high": 2, "low": 1}
    assert facets["category"] == {"硬件": 2}
    assert facets["assignee_id"] == {"5": 2}


# ---- analysis kinds at index and query time -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("doc", "query", "marked"),
    [
        ("我的Apple Watch坏了", "apple watch", "Apple Watch"),        # dictionary word with a space
        ("冯·诺伊曼结构的计算机", "冯•诺伊曼", "冯·诺伊曼"),           # with ·
        ("每次加1/2杯水", "1/2", "1/2"),                                # with /
        ("请用5W-30机油", "5w-30", "5W-30"),
        ("PayPal退款失败", "PAYPAL退款", "PayPal退款"),                 # mixed case, three casings
        ("PAYPAL退款失败", "paypal退款", "PAYPAL退款"),
        ("paypal退款失败", "PayPal退款", "paypal退款"),
        ("我的帳號被鎖", "账号", "帳號"),                                # traditional doc, simplified query
        ("我的账号被锁", "帳號", "账号"),                                # and the other way round
    ],
)
def test_analysis_kinds_index_and_query_time(backend: EmbeddedBackend, doc: str, query: str, marked: str) -> None:
    backend.write(7, [ticket(1, doc), ticket(2, "无关的内容 XR-5000 11/23")], None)
    hits = run(backend, f'"{query}"').hits
    assert [h.ticket_id for h in hits] == [1]
    assert f"<em>{marked}</em>" in hits[0].highlights[0].fragment


# ---- eval metrics on a hand-computed example ----------------------------------------------------------------

def test_metric_arithmetic_hand_computed() -> None:
    judged = {"d1": 2, "d2": 1, "d3": 0}
    ranked = ["d9", "d2", "d1"]
    # DCG = (2^1-1)/log2(3) + (2^2-1)/log2(4) = 0.63093 + 1.5; IDCG = 3/1 + 1/log2(3) = 3.63093
    expected = (1 / math.log2(3) + 3 / 2) / (3 + 1 / math.log2(3))
    assert ndcg_at(ranked, judged) == pytest.approx(expected) == pytest.approx(0.586883, abs=1e-6)
    assert mrr_at(ranked, judged) == pytest.approx(0.5)
    assert recall_at(ranked, judged) == pytest.approx(1.0)
    assert recall_at(["d1"], judged) == pytest.approx(0.5)
    assert ndcg_at(["d1", "d2"], judged) == pytest.approx(1.0)
    qrels = {"q1": judged, "q2": {"x": 1}, "q3": {"y": 0}}
    s = evaluate({"q1": ranked, "q2": ["z"] * 10 + ["x"]}, qrels)  # q2: relevant at rank 11; q3: none relevant
    assert s.queries == 3
    assert s.ndcg10 == pytest.approx(expected / 3)
    assert s.mrr10 == pytest.approx(0.5 / 3)
    assert s.recall100 == pytest.approx(2 / 3)


def test_split_is_fixed_and_disjoint() -> None:
    ids = [f"q{i}" for i in range(101)]
    a, b = split(ids)
    assert (a, b) == split(reversed(ids))
    assert not set(a) & set(b) and len(a) + len(b) == 101
