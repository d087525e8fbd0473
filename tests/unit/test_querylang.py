"""Acceptance (issue 4, item 1): the query language — every operator, every error case (position + problem),
and a property test that random input never yields a 5xx through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings import load_mapping
from queryapi.querylang import QuerySyntaxError, parse_query
from searchcore.query import And, Compare, CustomField, Exact, FieldTerm, Has, MatchAll, Not, Or, Phrase, Text

M = load_mapping()
NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000
JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def p(q: str) -> Any:
    return parse_query(q, M, now_ms=NOW)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("打印机", Text("打印机")),
        ("打印机 卡纸", Text("打印机 卡纸")),
        ('"无法登录"', Phrase("无法登录")),
        ("-退款", Not(Text("退款"))),
        ("NOT 退款", Not(Text("退款"))),
        ("a OR b", Or((Text("a"), Text("b")))),
        ("a OR b c", Or((Text("a"), Text("b c")))),
        ("(a OR b) c", And((Or((Text("a"), Text("b"))), Text("c")))),
        ("-(a OR b)", Not(Or((Text("a"), Text("b"))))),
        ('打印机 卡纸 status:open -退款 "无法登录"',
         And((Text("打印机 卡纸"), FieldTerm("status", "open"), Not(Text("退款")), Phrase("无法登录")))),
        ("status:Open", FieldTerm("status", "open")),
        ("priority:high", FieldTerm("priority", "high")),
        ("tag:vip", FieldTerm("tags", "vip")),
        ('tag:"key account"', FieldTerm("tags", "key account")),
        ("category:billing", FieldTerm("category", "billing")),
        ("channel:email", FieldTerm("channel", "email")),
        ("assignee:42", FieldTerm("assignee_id", 42)),
        ("assignee:none", FieldTerm("assignee_id", None)),
        ("requester:li@example.com", FieldTerm("requester_id", "li@example.com")),
        ("cf.color:red", CustomField("color", "red")),
        ("custom.vip_level:3", CustomField("vip_level", "3")),
        ("has:comments", Has("comments")),
        ("priority>=high", Compare("priority", ">=", "high")),
        ("priority<normal", Compare("priority", "<", "normal")),
        ("assignee>10", Compare("assignee_id", ">", 10)),
        ("created>2024-01-01", Compare("created_at", ">=", JAN1 + DAY)),
        ("created>=2024-01-01", Compare("created_at", ">=", JAN1)),
        ("created<2024-01-01", Compare("created_at", "<", JAN1)),
        ("created<=2024-01-01", Compare("created_at", "<", JAN1 + DAY)),
        ("created:2024-01-01", And((Compare("created_at", ">=", JAN1), Compare("created_at", "<", JAN1 + DAY)))),
        ("updated>7d", Compare("updated_at", ">", NOW - 7 * DAY)),
        ("updated<24h", Compare("updated_at", "<", NOW - DAY)),
        ("updated>2w", Compare("updated_at", ">", NOW - 14 * DAY)),
        ("T-10023", Exact("T-10023", "ticket_number")),
        ("#10023", Exact("10023", "ticket_number")),
        ("10023", Exact("10023", "number")),
        ("A2024-00017", Exact("A2024-00017", "order_number")),
        ("li.lei@example.com", Exact("li.lei@example.com", "email")),
        ("138-1234-5678", Exact("138-1234-5678", "phone")),
        ("5W-30 机油", Text("5W-30 机油")),
        ("http://example.com/a", Text("http://example.com/a")),
        ("12:30 打印", Text("12:30 打印")),
        ("ORDER 打印", Text("ORDER 打印")),
        ("", MatchAll()),
        ("   ", MatchAll()),
    ],
)
def test_operators(query: str, expected: Any) -> None:
    assert p(query) == expected


@pytest.mark.parametrize(
    ("query", "position", "problem"),
    [
        ("(a b", 0, "unclosed_paren"),
        ("a (b", 2, "unclosed_paren"),
        ("a)", 1, "unmatched_paren"),
        ("()", 1, "empty_group"),
        ('a "abc', 2, "unclosed_quote"),
        ("a OR", 2, "dangling_operator"),
        ("OR a", 0, "dangling_operator"),
        ("a NOT", 2, "dangling_operator"),
        ("status:", 0, "missing_value"),
        ("x status:", 2, "missing_value"),
        ("foo:bar", 0, "unknown_field"),
        ("打印 stauts:open", 3, "unknown_field"),
        ("priority>=huge", 10, "invalid_value"),
        ("priority:huge", 9, "invalid_value"),
        ("created>yesterdayx", 8, "invalid_date"),
        ("created>2024-13-45", 8, "invalid_date"),
        ("status>open", 0, "unsupported_operator"),
        ("cf.color>3", 0, "unsupported_operator"),
        ("has:attachments", 4, "invalid_value"),
        ("assignee>abc", 9, "invalid_value"),
        ("status:foo", 7, "invalid_value"),
        ("退款 channel:fax", 11, "invalid_value"),
        ("assignee:99999999999999999999", 9, "invalid_value"),
    ],
)
def test_errors_name_position_and_problem(query: str, position: int, problem: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        p(query)
    assert (info.value.position, info.value.problem) == (position, problem), info.value.message
    assert str(position) in str(info.value)


# ---- property: random input never yields a 5xx ------------------------------------------------------------

ALPHABET = st.sampled_from(list('abcORNT打印机卡纸-"():<>=!@#. \t\n0123456789é😀\u3000＂（）\x00') +
                           ["OR ", "NOT ", "status:", "priority>=", "created>", "tag:", "cf.x:", "has:", "7d"])


def _app() -> FastAPI:
    """The real parse step of the API (parse → 400 JSON) without a database: the search endpoint's error path."""
    from queryapi import app as appmod

    api = FastAPI()

    @api.get("/parse")
    def parse(q: str = "") -> dict[str, Any]:
        try:
            node = parse_query(q, M)
        except QuerySyntaxError as exc:
            raise appmod.ApiError(400, "query_syntax", exc.message, position=exc.position,
                                  problem=exc.problem) from None
        return {"node": repr(node)}

    @api.exception_handler(appmod.ApiError)
    async def _err(_: Any, exc: appmod.ApiError) -> Any:
        return appmod._error(exc.status, exc.code, exc.message, **exc.details)

    return api


CLIENT = TestClient(_app(), raise_server_exceptions=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=25).map("".join))
def test_random_input_never_5xx(q: str) -> None:
    try:
        parse_query(q, M)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(q)
    resp = CLIENT.get("/parse", params={"q": q})
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        body = resp.json()["error"]
        assert body["code"] == "query_syntax" and "position" in body and "problem" in body


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_unicode_parses_or_raises_syntax_error(q: str) -> None:
    try:
        parse_query(q, M)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(q)
