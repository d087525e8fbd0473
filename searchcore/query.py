"""The backend-neutral query model: what an agent asked for, independent of Tantivy or Elasticsearch.

Input: built by queryapi/querylang.py (the agents' query language) or directly by code and tests.
Output: frozen dataclasses — a boolean tree of `Node`s plus a `SearchRequest` (sort, cursor, facets, paging) —
that each backend translates (searchcore/embedded_search.py → Tantivy, searchcore/elastic*.py → ES DSL).
Guarantee: the model is stable and self-describing; every value is already validated and resolved
(dates are absolute UTC epoch milliseconds, enum values are names known to the mapping, field names are
index-mapping field names), so a backend never parses user text and never needs the current time.

Semantics (both backends must implement them identically):

* `Text(text)`: free words. The backend analyzes `text` with the tenant's query analyzer (plain cut) and
  applies the tenant's query-time synonyms; each resulting term slot is matched over every `text` field of the
  mapping (`<f>` and its sub-word field) with the field's `boost`; at least
  `ranking.required_matches(n)` of n slots must match (all when n <= ranking.all_terms_up_to). Scored (BM25).
  Adjacent bare words of the query language form ONE `Text` node ("打印机 卡纸" → Text("打印机 卡纸")).
  A phrase-proximity bonus (ranking.phrase_boost, ranking.phrase_slop) is added for n >= 2.
* `Phrase(text)`: the analyzed terms at consecutive positions in one text field. Scored.
* `Exact(value)`: a pasted identifier (ticket number, order number, email, phone, bare digits). Matches the
  lowercased value in every keyword field with an `exact_boost` (constant score = that boost, so exact hits rank
  first) OR as `Text(value)`. `kind` says what the value looked like; `requester_ids` are the users whose email or
  phone equals the value (resolved by the API against the source database; those tickets are exact hits too).
* `FieldTerm(field, value)`: equality filter on a keyword / enum / integer field (`status`, `priority`, `tags`,
  `category`, `channel`, `assignee_id`, `requester_id`, `ticket_number`, `order_number`). Keyword values are
  lowercased. `value=None` means "the field has no value" (e.g. `assignee:none`). Not scored.
* `CustomField(key, value)`: equality on `custom_fields.<key>` (string compare of the JSON leaf). Not scored.
* `Compare(field, op, value)`: range filter on a datetime (epoch ms), enum (by definition order) or integer
  field. `>` means later / higher. Not scored.
* `Has(what)`: existence filter; `what="comments"` = at least one live comment. Not scored.
* `And`, `Or`, `Not`: boolean structure. `Not` never matches on its own; a query that is only negations
  matches every ticket except those. `MatchAll` matches every visible ticket (filters-only queries).

Sorting and paging: `Sort(key, order)`; the unique tiebreaker is always `ticket_id` ascending. A `Cursor` is the
(sort value, ticket_id) of the last hit of the previous page (Elasticsearch: `search_after`); the API encodes it
opaquely and signs it; backends see only this decoded form.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

CompareOp: TypeAlias = Literal[">", ">=", "<", "<="]
SortKey: TypeAlias = Literal["relevance", "created", "updated", "priority"]
SortOrder: TypeAlias = Literal["asc", "desc"]
ExactKind: TypeAlias = Literal["ticket_number", "order_number", "email", "phone", "number"]

# Sort key -> mapping field (relevance sorts by score).
SORT_FIELDS: dict[str, str | None] = {
    "relevance": None,
    "created": "created_at",
    "updated": "updated_at",
    "priority": "priority",
}
# Facets an agent may request, as mapping field names.
FACET_FIELDS: tuple[str, ...] = ("status", "priority", "tags", "assignee_id", "category", "channel")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Phrase:
    text: str


@dataclass(frozen=True)
class Exact:
    value: str
    kind: ExactKind
    requester_ids: tuple[int, ...] = ()

    @property
    def keyword(self) -> str:
        """The value as keyword fields hold it: NFKC (full-width ＯＲＤ－１ = ORD-1), trimmed, lowercased."""
        return unicodedata.normalize("NFKC", self.value).strip().lower()

    @property
    def ticket_id(self) -> int | None:
        """A bare ticket id (`4093`, `#4093`, `#004093`) also matches the ticket with that id."""
        digits = self.keyword.lstrip("#")
        if digits.isdigit() and int(digits) < 2**63:
            return int(digits)
        return None


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str | int | None


@dataclass(frozen=True)
class CustomField:
    key: str
    value: str


@dataclass(frozen=True)
class Compare:
    field: str
    op: CompareOp
    value: int | str   # datetime: epoch ms (UTC); enum: value name; integer: int


@dataclass(frozen=True)
class Has:
    what: Literal["comments"]


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class MatchAll:
    pass


Node: TypeAlias = Text | Phrase | Exact | FieldTerm | CustomField | Compare | Has | And | Or | Not | MatchAll

SCORING_NODES = (Text, Phrase, Exact)


@dataclass(frozen=True)
class Sort:
    key: SortKey = "relevance"
    order: SortOrder = "desc"


@dataclass(frozen=True)
class Cursor:
    """Position after which the next page starts: the last hit's sort value and ticket id."""

    value: float | int | None
    ticket_id: int


@dataclass(frozen=True)
class SearchRequest:
    """One search. `query` is the parsed tree; when it is None, `text` is searched as `Text(text)`.

    `offset` is for shallow pages only (the API refuses deep offsets); `after` is the cursor of the previous page;
    `facets` lists mapping fields to count over ALL matching tickets (not only the page)."""

    text: str = ""
    limit: int = 10
    offset: int = 0
    query: Node | None = None
    sort: Sort = field(default_factory=Sort)
    after: Cursor | None = None
    facets: tuple[str, ...] = ()
    highlight: bool = True

    def tree(self) -> Node:
        if self.query is not None:
            return self.query
        return Text(self.text) if self.text.strip() else MatchAll()


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


def walk(node: Node) -> list[Node]:
    """Every node of the tree, depth first (parents before children)."""
    out: list[Node] = [node]
    if isinstance(node, And | Or):
        for child in node.children:
            out.extend(walk(child))
    elif isinstance(node, Not):
        out.extend(walk(node.child))
    return out


def positive_scoring(node: Node) -> list[Text | Phrase | Exact]:
    """Scoring nodes that are not under a `Not` (what highlights and explanations are about)."""
    if isinstance(node, Text | Phrase | Exact):
        return [node]
    if isinstance(node, And | Or):
        return [n for c in node.children for n in positive_scoring(c)]
    return []
