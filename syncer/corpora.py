"""Reading the real public corpora (../shared/data/tickets) into source tenants and tickets.

Input: the data directory with medical_dialogue.csv, online_shopping_10_cats.csv, waimai_10k.csv and
ChnSentiCorp_htl_all.csv. Output: SourceTenant lists (text exactly as in the files, leading BOM stripped).
Guarantee: a missing or malformed file raises CorpusFileError naming the file and the line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MEDICAL = "medical_dialogue.csv"
SHOPPING = "online_shopping_10_cats.csv"
WAIMAI = "waimai_10k.csv"
HOTEL = "ChnSentiCorp_htl_all.csv"
CORPUS_FILES = (MEDICAL, SHOPPING, WAIMAI, HOTEL)

_HEADERS = {
    MEDICAL: ["department", "title", "ask", "answer"],
    SHOPPING: ["cat", "label", "review"],
    WAIMAI: ["label", "review"],
    HOTEL: ["label", "review"],
}

# ASCII slugs for the categories known in the shipped files; unknown ones get "<prefix>-<n>".
_MEDICAL_SLUGS = {
    "肝病科": "hepatology",
    "消化科": "gastroenterology",
    "神经科": "neurology",
    "心血管科": "cardiology",
    "内分泌科": "endocrinology",
    "呼吸科": "respiratory",
    "肾内科": "nephrology",
    "感染科": "infectious",
    "血液科": "hematology",
    "普通内科": "internal",
    "风湿免疫科": "rheumatology",
}
_SHOPPING_SLUGS = {
    "书籍": "books",
    "平板": "tablets",
    "手机": "phones",
    "水果": "fruit",
    "洗发水": "shampoo",
    "热水器": "water-heaters",
    "蒙牛": "mengniu",
    "衣服": "clothing",
    "计算机": "computers",
    "酒店": "hotels",
}

LABEL_TAGS = {0: "差评", 1: "好评"}


# ------------------------------------------------------------------------------------------------ errors


class LoadError(Exception):
    """Base class of every loader error."""


class CorpusFileError(LoadError):
    """A corpus file is missing or malformed; ``line`` is the 1-based physical line (0 = whole file)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")



@dataclass(frozen=True)
class SourceTicket:
    """One ticket as read from a corpus file, text exactly as in the file."""

    subject: str
    description: str
    category: str
    answer: str | None
    label: int | None
    line: int


@dataclass
class SourceTenant:
    base_index: int  # 0-based over all tenants of all files (stable: from full-file scans)
    slug: str
    name: str
    kind: str  # medical | shopping | waimai | hotel
    tickets: list[SourceTicket] = field(default_factory=list)


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


_CLAUSE_END = re.compile(r"[，,。．.！!？?；;：:、～~…\s]+")


def first_clause(text: str, limit: int = 30) -> str:
    """The first non-empty clause of ``text`` (split at punctuation and whitespace), at most ``limit``
    characters; the whole text's first ``limit`` characters if it has no punctuation; ``(无内容)`` if empty.
    """
    for part in _CLAUSE_END.split(text):
        if part:
            return part[:limit]
    return "(无内容)"


def _find_corpus_dir(data_dir: Path) -> Path:
    for candidate in (data_dir / "tickets", data_dir):
        if (candidate / MEDICAL).is_file():
            return candidate
    raise CorpusFileError(
        data_dir / "tickets" / MEDICAL,
        0,
        f"corpus file not found (looked in {data_dir / 'tickets'} and {data_dir})",
    )


def _read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (physical line number, fields) for each data record; checks header and column count."""
    if not path.is_file():
        raise CorpusFileError(path, 0, "corpus file not found")
    expected = _HEADERS[path.name]
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header != expected:
                raise CorpusFileError(path, 1, f"header is {header!r}, expected {expected!r}")
            line = reader.line_num
            for row in reader:
                start = line + 1
                line = reader.line_num
                if len(row) != len(expected):
                    raise CorpusFileError(path, start, f"expected {len(expected)} columns, got {len(row)}")
                yield start, [_strip_bom(v) for v in row]
    except UnicodeDecodeError as exc:
        raise CorpusFileError(path, 0, f"not valid UTF-8 at byte {exc.start}") from exc
    except csv.Error as exc:
        raise CorpusFileError(path, 0, f"CSV syntax error: {exc}") from exc


def _label(path: Path, line: int, value: str) -> int:
    if value not in ("0", "1"):
        raise CorpusFileError(path, line, f"label must be 0 or 1, got {value!r}")
    return int(value)


def read_corpora(data_dir: Path, *, limit_per_file: int | None = None) -> list[SourceTenant]:
    """Read the four corpus files into tenants (all tenants of the full files, tickets limited to the
    first ``limit_per_file`` records of each file; tenants may end up with no tickets)."""
    if limit_per_file is not None and limit_per_file < 0:
        raise ValueError(f"limit_per_file must be >= 0, got {limit_per_file}")
    root = _find_corpus_dir(data_dir)
    tenants: list[SourceTenant] = []

    def grouped(
        kind: str, prefix: str, slugs: dict[str, str], names: str, rows: list[tuple[int, str, SourceTicket]]
    ) -> None:
        by_cat: dict[str, SourceTenant] = {}
        for _line, cat, _t in rows:
            if cat not in by_cat:
                n = len(by_cat) + 1
                by_cat[cat] = SourceTenant(
                    len(tenants), f"{prefix}-{slugs.get(cat, str(n))}", names.format(cat), kind
                )
                tenants.append(by_cat[cat])
        for i, (_line, cat, ticket) in enumerate(rows):
            if limit_per_file is not None and i >= limit_per_file:
                break
            by_cat[cat].tickets.append(ticket)

    path = root / MEDICAL
    med: list[tuple[int, str, SourceTicket]] = []
    for line, (dept, title, ask, answer) in _read_csv(path):
        if not dept.strip():
            raise CorpusFileError(path, line, "department is empty")
        med.append((line, dept, SourceTicket(title, ask, dept, answer, None, line)))
    grouped("medical", "med", _MEDICAL_SLUGS, "医疗咨询 · {}", med)

    path = root / SHOPPING
    shop: list[tuple[int, str, SourceTicket]] = []
    for line, (cat, label, review) in _read_csv(path):
        if not cat.strip():
            raise CorpusFileError(path, line, "cat is empty")
        shop.append(
            (
                line,
                cat,
                SourceTicket(first_clause(review), review, cat, None, _label(path, line, label), line),
            )
        )
    grouped("shopping", "shop", _SHOPPING_SLUGS, "电商 · {}", shop)

    for fname, kind, slug, name, category in (
        (WAIMAI, "waimai", "waimai", "外卖平台", "外卖"),
        (HOTEL, "hotel", "hotel", "酒店预订", "酒店"),
    ):
        path = root / fname
        tenant = SourceTenant(len(tenants), slug, name, kind)
        tenants.append(tenant)
        for i, (line, (label, review)) in enumerate(_read_csv(path)):
            if limit_per_file is not None and i >= limit_per_file:
                break
            tenant.tickets.append(
                SourceTicket(first_clause(review), review, category, None, _label(path, line, label), line)
            )
    return tenants


# ------------------------------------------------------------------------------------------------ rows


