"""The agents' query language: text → searchcore.query tree (lark LALR grammar).

Input: the query string an agent typed, the index mapping (known fields, enum values) and "now" (UTC ms, for
relative times). Output: a `searchcore.query.Node`.
Guarantee: any input either parses to a tree or raises `QuerySyntaxError` carrying the 0-based character
`position`, a machine-readable `problem` code and a human message; no other exception escapes `parse_query`.

Grammar (see docs/query-language.md):

    query     := or_expr?
    or_expr   := and_expr ("OR" and_expr)*              # OR binds looser than the implicit AND
    and_expr  := unary+                                  # juxtaposition = AND
    unary     := "-" unary | "NOT" unary | primary      # "-" must touch what it negates
    primary   := "(" or_expr ")" | PHRASE | FIELD_OP value | WORD
    FIELD_OP  := name (":" | ">=" | "<=" | ">" | "<")    # name: status priority tag assignee requester category
                                                         #   channel created updated has ticket order cf.<key>
    value     := WORD | PHRASE

Adjacent WORDs inside one and_expr become one `Text` (so "打印机 卡纸" is scored as one bag of words). A lone
WORD that looks like an identifier (ticket number, order number, email, phone, 5+ digits) becomes `Exact`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mappings import IndexMapping
from searchcore.query import (
    And,
    Compare,
    CompareOp,
    CustomField,
    Exact,
    ExactKind,
    FieldTerm,
    Has,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Text,
)

GRAMMAR = r"""
start: expr?
?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: unary+
?unary: MINUS unary -> negate
      | _NOT unary -> negate
      | primary
?primary: _LPAR expr _RPAR -> group
        | PHRASE -> phrase
        | FIELD_OP fvalue -> field
        | WORD -> word
fvalue: WORD | PHRASE

FIELD_OP.5: /[A-Za-z_][A-Za-z0-9_]*(\.[^\s:<>=()"]+)?(:|>=|<=|>|<)(?!\/)/
_OR.4: /OR(?=[\s()]|$)/
_NOT.4: /NOT(?=[\s(]|$)/
MINUS.3: /-(?=[^\s\-)])/
PHRASE.3: /"[^"]*"/
_LPAR: "("
_RPAR: ")"
WORD.1: /[^\s"()]+/
%ignore /\s+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=False, maybe_placeholders=False)

FIELD_ALIASES: dict[str, str] = {
    "status": "status",
    "priority": "priority",
    "tag": "tags",
    "tags": "tags",
    "assignee": "assignee_id",
    "requester": "requester_id",
    "category": "category",
    "channel": "channel",
    "created": "created_at",
    "updated": "updated_at",
    "ticket": "ticket_number",
    "order": "order_number",
    "has": "has",
}
CUSTOM_PREFIXES = ("cf.", "custom.")
HAS_VALUES = ("comments",)
_RELATIVE = re.compile(r"^(\d{1,5})(m|h|d|w|y)$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000, "y": 365 * 86_400_000}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?\d[\d\-]{6,18}\d$")
_TICKET_NO = re.compile(r"^(?:#\d+|[A-Za-z]{1,6}-\d{3,})$")
_ORDER_NO = re.compile(r"^(?=.*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+$|^[A-Za-z]{1,4}\d{6,}$")
_DIGITS = re.compile(r"^\d{3,}$")  # a bare ticket id (or number): exact hits first, text still matches


class QuerySyntaxError(ValueError):
    """A malformed query: `position` (0-based character index), `problem` (code) and a message naming both."""

    def __init__(self, position: int, problem: str, message: str) -> None:
        super().__init__(f"at position {position}: {message}")
        self.position = position
        self.problem = problem
        self.message = message


@dataclass(frozen=True)
class _Word:
    text: str
    pos: int


class _Build(Transformer[Token, Any]):
    def __init__(self, mapping: IndexMapping, now_ms: int) -> None:
        super().__init__()
        self.mapping = mapping
        self.now_ms = now_ms

    def start(self, items: list[Any]) -> Node:
        if not items:
            return MatchAll()
        return _finish(items[0])

    def word(self, items: list[Token]) -> _Word:
        tok = items[0]
        return _Word(str(tok), _pos(tok))

    def phrase(self, items: list[Token]) -> Node:
        return Phrase(str(items[0])[1:-1])

    def group(self, items: list[Any]) -> Node:
        return _finish(items[0])

    def negate(self, items: list[Any]) -> Node:
        return Not(_finish(items[-1]))

    def and_expr(self, items: list[Any]) -> Node:
        out: list[Node] = []
        words: list[_Word] = []
        for it in items:
            if isinstance(it, _Word):
                words.append(it)
                continue
            if words:
                out.append(_words_node(words))
                words = []
            out.append(it)
        if words:
            out.append(_words_node(words))
        return out[0] if len(out) == 1 else And(tuple(out))

    def or_expr(self, items: list[Any]) -> Node:
        return Or(tuple(_finish(i) for i in items))

    def fvalue(self, items: list[Token]) -> Token:
        return items[0]

    def field(self, items: list[Token]) -> Node:
        op_tok, value_tok = items
        raw = str(op_tok)
        m = re.match(r"^(.*?)(:|>=|<=|>|<)$", raw)
        assert m is not None
        name, op = m.group(1), m.group(2)
        value = str(value_tok)
        if value.startswith('"'):
            value = value[1:-1]
        return self._field(name, op, value, _pos(op_tok), _pos(value_tok))

    def _field(self, name: str, op: str, value: str, at: int, vat: int) -> Node:
        lname = name.lower()
        if lname.startswith(CUSTOM_PREFIXES):
            key = name.split(".", 1)[1]
            if op != ":":
                raise QuerySyntaxError(at, "unsupported_operator", f"custom field '{key}' supports only ':'")
            return CustomField(key, value)
        fname = FIELD_ALIASES.get(lname)
        if fname is None or (fname != "has" and fname not in self.mapping.fields):
            known = ", ".join(sorted(FIELD_ALIASES)) + ", cf.<key>"
            raise QuerySyntaxError(at, "unknown_field",
                                   f"unknown field '{name}'; known fields: {known} (quote it to search it as text)")
        if value == "":
            raise QuerySyntaxError(vat, "missing_value", f"'{name}{op}' needs a value")
        if fname == "has":
            if op != ":" or value.lower() not in HAS_VALUES:
                raise QuerySyntaxError(vat, "invalid_value", f"has: supports {', '.join(HAS_VALUES)}")
            return Has("comments")
        ftype = self.mapping.fields[fname].type
        if ftype == "datetime":
            return self._date(fname, op, value, vat)
        if ftype == "enum":
            allowed = self.mapping.fields[fname].values
            if value.lower() not in allowed:
                raise QuerySyntaxError(vat, "invalid_value",
                                       f"'{value}' is not a {name}; expected one of {', '.join(allowed)}")
            if op == ":":
                return FieldTerm(fname, value.lower())
            return Compare(fname, _op(op), value.lower())
        if ftype == "integer":
            if value.lower() in ("none", "nobody", "unassigned") and op == ":":
                return FieldTerm(fname, None)
            if fname in ("assignee_id", "requester_id") and op == ":" and not value.isdigit():
                return FieldTerm(fname, value)  # email/phone/name: resolved to ids by the API
            if not value.isdigit():
                raise QuerySyntaxError(vat, "invalid_value", f"{name} needs a number, got '{value}'")
            if int(value) >= 2**63:
                raise QuerySyntaxError(vat, "invalid_value", f"{name} {value} is out of range (ids are below 2^63)")
            return FieldTerm(fname, int(value)) if op == ":" else Compare(fname, _op(op), int(value))
        if op != ":":
            raise QuerySyntaxError(at, "unsupported_operator",
                                   f"'{name}' cannot be compared with '{op}'; use '{name}:value'")
        allowed = self.mapping.fields[fname].values  # a keyword with a closed value set (status, channel)
        if allowed and value.lower() not in allowed:
            raise QuerySyntaxError(vat, "invalid_value",
                                   f"'{value}' is not a {name}; expected one of {', '.join(allowed)}")
        return FieldTerm(fname, value.lower())

    def _date(self, fname: str, op: str, value: str, vat: int) -> Node:
        rel = _RELATIVE.match(value.lower())
        if rel:
            point = self.now_ms - int(rel.group(1)) * _UNIT_MS[rel.group(2)]
            if op == ":":
                return Compare(fname, ">=", point)  # `updated:7d` reads as "within the last 7 days"
            return Compare(fname, _op(op), point)
        start, end = _date_range(value, vat)
        if op == ":":
            return And((Compare(fname, ">=", start), Compare(fname, "<", end)))
        if op == ">":
            return Compare(fname, ">=", end)     # later than the whole day/instant
        if op == ">=":
            return Compare(fname, ">=", start)
        if op == "<":
            return Compare(fname, "<", start)
        return Compare(fname, "<", end)          # <= : up to the end of that day


def _date_range(value: str, vat: int) -> tuple[int, int]:
    """[start, end) in epoch ms (UTC) of a date (whole day) or a date-time (that minute/second)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            d = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
            return _ms(d), _ms(d + dt.timedelta(days=1))
        d = dt.datetime.fromisoformat(value)
    except ValueError:
        raise QuerySyntaxError(vat, "invalid_date",
                               f"'{value}' is not a date: use 2024-01-31, 2024-01-31T08:00 or a relative time "
                               "like 7d, 24h, 2w") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    step = dt.timedelta(seconds=1) if d.second or len(value) > 16 else dt.timedelta(minutes=1)
    return _ms(d), _ms(d + step)


def _ms(d: dt.datetime) -> int:
    return int(d.timestamp() * 1000)


def _op(op: str) -> CompareOp:
    assert op in (">", ">=", "<", "<=")
    return op  # type: ignore[return-value]


def _pos(tok: Token) -> int:
    return int(tok.start_pos or 0)


def exact_kind(word: str) -> ExactKind | None:
    word = unicodedata.normalize("NFKC", word)  # a pasted full-width ＯＲＤ－２０２３－１ is ORD-2023-1
    if _EMAIL.match(word):
        return "email"
    if _TICKET_NO.match(word):
        return "ticket_number"
    if _PHONE.match(word) and sum(c.isdigit() for c in word) >= 7 and ("-" in word or word.startswith(("+", "1"))):
        return "phone"
    if _DIGITS.match(word):
        return "number"
    if _ORDER_NO.match(word):
        return "order_number"
    return None


def _words_node(words: list[_Word]) -> Node:
    if len(words) == 1:
        kind = exact_kind(words[0].text)
        if kind is not None:
            return Exact(words[0].text.lstrip("#") if kind == "ticket_number" and words[0].text[0] == "#"
                         else words[0].text, kind)
    return Text(" ".join(w.text for w in words))


def _finish(item: Any) -> Node:
    if isinstance(item, _Word):
        return _words_node([item])
    assert not isinstance(item, Tree | Token), item
    return item  # type: ignore[no-any-return]


def parse_query(text: str, mapping: IndexMapping, now_ms: int | None = None) -> Node:
    """Parse `text`; raises QuerySyntaxError (position, problem) for any malformed input."""
    now = now_ms if now_ms is not None else _ms(dt.datetime.now(dt.UTC))
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except LarkError as exc:  # pragma: no cover - defensive: lark-internal failure on odd input
        raise QuerySyntaxError(0, "syntax", str(exc).splitlines()[0]) from None
    try:
        node = _Build(mapping, now).transform(tree)
    except QuerySyntaxError:
        raise
    except LarkError as exc:  # VisitError wraps errors raised inside the transformer
        orig = getattr(exc, "orig_exc", None)
        if isinstance(orig, QuerySyntaxError):
            raise orig from None
        raise QuerySyntaxError(0, "syntax", str(orig or exc).splitlines()[0]) from None
    assert isinstance(node, Text | Phrase | Exact | FieldTerm | CustomField | Compare | Has | And | Or | Not | MatchAll)
    return node


_TRAILING_FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_]*(?:\.[^\s:<>=()"]+)?)(:|>=|<=|>|<)\s*$')


def _syntax_error(text: str, exc: UnexpectedInput) -> QuerySyntaxError:
    pos = getattr(exc, "pos_in_stream", None)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        cut = len(text) if isinstance(exc, UnexpectedEOF) or exc.token.type == "$END" else int(exc.token.start_pos or 0)
        dangling = _TRAILING_FIELD.search(text[:cut])
        if dangling is not None:
            return QuerySyntaxError(dangling.start(), "missing_value",
                                    f"'{dangling.group(1)}{dangling.group(2)}' needs a value right after it "
                                    f"(no space), e.g. status:open")
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        pos = len(text)
        stripped = text.rstrip()
        if stripped.endswith("OR") or stripped.endswith("NOT"):
            return QuerySyntaxError(len(stripped) - (2 if stripped.endswith("OR") else 3), "dangling_operator",
                                    "the query ends with an operator that needs something after it")
        if text.count("(") > text.count(")"):
            return QuerySyntaxError(text.rfind("("), "unclosed_paren", "'(' is never closed")
        return QuerySyntaxError(pos, "unexpected_end", "the query ends too early")
    if isinstance(exc, UnexpectedCharacters):
        p = int(exc.pos_in_stream or 0)
        ch = text[p] if p < len(text) else ""
        if ch == '"':
            return QuerySyntaxError(p, "unclosed_quote", "the phrase starting here has no closing '\"'")
        return QuerySyntaxError(p, "unexpected_character", f"unexpected character {ch!r}")
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        p = int(tok.start_pos or 0) if pos is None else int(pos)
        if tok.type == "_RPAR" and text[:p].rstrip().endswith("("):
            return QuerySyntaxError(p, "empty_group", "'()' has nothing inside")
        if tok.type == "_RPAR":
            return QuerySyntaxError(p, "unmatched_paren", "')' has no matching '('")
        if tok.type == "_OR":
            return QuerySyntaxError(p, "dangling_operator", "'OR' needs a term on both sides")
        return QuerySyntaxError(p, "unexpected_token", f"unexpected {str(tok)!r}")
    return QuerySyntaxError(int(pos or 0), "syntax", str(exc).splitlines()[0])
