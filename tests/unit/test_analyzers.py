"""Golden tests for analyzers/: normalization, pre-pass, offsets, positions, identity, highlight, parity."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import pytest

from analyzers import Analyzer, AnalyzerConfig, Token, highlight, make_snippet, normalize
from analyzers.types import make_token

MEDICAL = Path("/work/shared/data/tickets/medical_dialogue.csv")
WORDS = ("Apple Watch", "冯·诺伊曼", "1/2", "5W-30", "XR-500", "PayPal")


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzerConfig(user_words=WORDS, stop_words=frozenset({"的", "了"})))


def texts(tokens: list[Token]) -> list[str]:
    return [t.text for t in tokens]


def check_offsets(text: str, tokens: list[Token]) -> None:
    for t in tokens:
        assert normalize(" ".join(text[t.start : t.end].split())) == t.text, (t, text[t.start : t.end])


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("我的Apple Watch坏了", "apple watch"),
        ("我的apple  watch坏了", "apple watch"),
        ("冯·诺伊曼结构", "冯·诺伊曼"),
        ("冯•诺伊曼结构", "冯·诺伊曼"),
        ("加1/2杯水", "1/2"),
        ("换5w-30机油", "5w-30"),
        ("型号XR-500故障", "xr-500"),
    ],
)
def test_prepass_entries(analyzer: Analyzer, text: str, entry: str) -> None:
    q = analyzer.analyze_query(text)
    hits = [t for t in q if t.text == entry]
    assert len(hits) == 1 and hits[0].source == "dict-prepass"
    check_offsets(text, q)


def test_prepass_respects_ascii_boundaries(analyzer: Analyzer) -> None:
    assert "xr-500" not in texts(analyzer.analyze_query("XR-5000"))
    assert "1/2" not in texts(analyzer.analyze_query("11/23"))


def test_prepass_subwords_in_index(analyzer: Analyzer) -> None:
    idx = analyzer.analyze_index("我的Apple Watch坏了")
    entry = next(t for t in idx if t.text == "apple watch")
    subs = {t.text for t in idx if t.position == entry.position and t is not entry}
    assert {"apple", "watch"} <= subs


def test_mixed_case_three_casings(analyzer: Analyzer) -> None:
    results = [analyzer.analyze_query(s) for s in ("PayPal退款", "PAYPAL退款", "paypal退款")]
    assert results[0] == results[1] == results[2]
    assert texts(results[0]) == ["paypal", "退款"]


def test_traditional_equals_simplified(analyzer: Analyzer) -> None:
    assert texts(analyzer.analyze_query("帳號")) == texts(analyzer.analyze_query("账号")) == ["账号"]


def test_full_width_offsets(analyzer: Analyzer) -> None:
    text = "ＰａｙＰａｌ退款"
    q = analyzer.analyze_query(text)
    assert [(t.text, t.start, t.end) for t in q] == [("paypal", 0, 6), ("退款", 6, 8)]
    assert text[0:6] == "ＰａｙＰａｌ"


def test_emoji_before_word(analyzer: Analyzer) -> None:
    text = "😀👍🏽帳號被盗"
    for tokens in (analyzer.analyze_query(text), analyzer.analyze_index(text)):
        check_offsets(text, tokens)
        acct = next(t for t in tokens if t.text == "账号")
        assert text[acct.start : acct.end] == "帳號"


def test_expanding_nfkc_keeps_offsets(analyzer: Analyzer) -> None:
    text = "ﬁle…退款㍿e\u0301"
    q = analyzer.analyze_query(text)
    refund = next(t for t in q if t.text == "退款")
    assert text[refund.start : refund.end] == "退款"
    assert any(t.text == "file" and text[t.start : t.end] == "ﬁle" for t in q)
    for t in q:
        assert 0 <= t.start < t.end <= len(text)


def test_punctuation_dropped(analyzer: Analyzer) -> None:
    q = analyzer.analyze_query("退款，！？。 ... ——申请")
    assert texts(q) == ["退款", "申请"]
    assert [t.position for t in q] == [0, 1]


def test_stop_words(analyzer: Analyzer) -> None:
    assert texts(analyzer.analyze_query("我的订单退了")) == ["我", "订单", "退"]
    assert "的" not in texts(analyzer.analyze_index("我的订单"))


def test_order_number(analyzer: Analyzer) -> None:
    assert texts(analyzer.analyze_query("订单A2024-00017")) == ["订单", "a2024", "00017"]


@pytest.mark.parametrize(
    "text",
    [
        "我在中国农业发展银行工作",
        "中华人民共和国万岁",
        "我的Apple Watch坏了，PayPal退款 帳號😀",
        "ﬁle…退款㍿",
    ],
)
def test_index_superset_of_query(analyzer: Analyzer, text: str) -> None:
    q = set(analyzer.analyze_query(text))
    i = analyzer.analyze_index(text)
    assert q <= set(i)
    assert [t.position for t in analyzer.analyze_query(text)] == list(range(len(q)))
    plain = [t for t in i if t.source != "segmenter-subword"]
    assert [t.position for t in plain] == list(range(len(plain)))


def test_subword_position_equals_compound(analyzer: Analyzer) -> None:
    idx = analyzer.analyze_index("我在中国农业发展银行工作")
    compound = next(t for t in idx if t.text == "农业发展银行")
    sub = next(t for t in idx if t.text == "农业")
    assert sub.source == "segmenter-subword" and compound.source == "segmenter"
    assert sub.position == compound.position
    assert compound.start <= sub.start < sub.end <= compound.end


def test_identity() -> None:
    base = Analyzer(AnalyzerConfig(user_words=("PayPal", "Apple Watch")))
    same = Analyzer(AnalyzerConfig(user_words=("Apple  Watch", "paypal")))
    other = Analyzer(AnalyzerConfig(user_words=("PayPal", "Apple Watch", "冯·诺伊曼")))
    stops = Analyzer(AnalyzerConfig(user_words=("PayPal", "Apple Watch"), stop_words=frozenset({"的"})))
    hmm = Analyzer(AnalyzerConfig(user_words=("PayPal", "Apple Watch"), hmm=True))
    assert base.identity == same.identity
    assert len({base.identity, other.identity, stops.identity, hmm.identity}) == 4
    assert base.identity.startswith("1-")


def test_normalize_matches_nfkc_on_common_text(analyzer: Analyzer) -> None:
    text = "ＡＢＣ１２３，退款？ Ⅻ ½ ㈱ 한국어"
    assert analyzer.normalize(text) == unicodedata.normalize("NFKC", text).lower()


def test_make_token_equals_constructor() -> None:
    assert make_token("a", 0, 1, 0, "segmenter") == Token("a", 0, 1, 0, "segmenter")


def test_highlight_escapes_and_merges() -> None:
    assert highlight("a<b>中国&农业", [(4, 6), (3, 5), (6, 8)]) == "a&lt;b<em>&gt;中国&amp;农</em>业"
    assert highlight("x", [(5, 9), (0, 0)]) == "x"


def test_snippet() -> None:
    text = "前" * 300 + "退款" + "后" * 300
    snip = make_snippet(text, [(300, 302)], max_chars=40)
    assert snip.startswith("…") and snip.endswith("…") and "<em>退款</em>" in snip
    assert len(snip.replace("<em>", "").replace("</em>", "")) == 42
    assert make_snippet("<短>", []) == "&lt;短&gt;"


def test_parity_with_jieba_reference() -> None:
    if not MEDICAL.exists():
        print(f"skipping parity: {MEDICAL} not found")
        pytest.skip(f"{MEDICAL} not found")
    import jieba
    import rjieba

    with MEDICAL.open(encoding="utf-8", newline="") as fh:
        rows = [row["ask"] for _, row in zip(range(300), csv.DictReader(fh), strict=False)]
    ref = jieba.Tokenizer()
    ours = rjieba.Jieba()
    same = sum(ref.lcut(t, HMM=False) == ours.cut(t, False) for t in rows)
    ratio = same / len(rows)
    print(f"jieba vs rjieba plain cut parity (HMM off): {same}/{len(rows)} = {ratio:.2%}")
    assert ratio >= 0.99


def test_index_terms_equal_analyze_index_terms() -> None:
    from analyzers import Analyzer, AnalyzerConfig
    from analyzers.types import SOURCE_SUBWORD

    analyzer = Analyzer(AnalyzerConfig(user_words=("Apple Watch", "XR-500"), stop_words=frozenset({"的"})))
    texts = ("中国农业发展银行的APPLE WATCH 表带断了", "ＰａｙＰａｌ退款 XR-500 打印机卡纸😀",
             "帳號無法登入，請協助", "")
    for text in texts:
        tokens = analyzer.analyze_index(text)
        plain, subs = analyzer.index_terms(text)
        assert plain == [t.text for t in tokens if t.source != SOURCE_SUBWORD]
        assert subs == [t.text for t in tokens if t.source == SOURCE_SUBWORD]
