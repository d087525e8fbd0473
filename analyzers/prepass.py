"""Longest-match pre-pass for dictionary entries the segmenter cannot produce on its own.

Input: normalized, lowercased dictionary entries; normalized, lowercased text.
Output: non-overlapping matches (start, end, canonical entry) in text order.
Guarantee: at each position the longest entry wins; an entry that begins/ends with an ASCII letter or
digit only matches at an ASCII word boundary (so `xr-500` is not found in `xr-5000`, `1/2` not in `11/23`);
whitespace inside an entry matches any run of whitespace, and the token text is the entry with single
spaces.

jieba and jieba-rs split text at spaces, '·', '/' (and, without HMM, between '-' and digits) before they
consult the dictionary, so entries such as `apple watch`, `冯·诺伊曼`, `1/2`, `5w-30`, `xr-500` are matched
here; entries made only of CJK ideographs and ASCII letters/digits go to the segmenter's dictionary instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SEGMENTER_SAFE = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]+")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")


def canonical_entry(word: str) -> str:
    """Collapse whitespace runs to one space and strip (input already normalized)."""
    return " ".join(word.split())


def needs_prepass(entry: str) -> bool:
    """True when the segmenter would split `entry` before consulting its dictionary."""
    return _SEGMENTER_SAFE.fullmatch(entry) is None


def _entry_pattern(entry: str) -> str:
    body = r"\s+".join(re.escape(part) for part in entry.split(" "))
    head = r"(?<![0-9a-z])" if entry[0] in _ALNUM else ""
    tail = r"(?![0-9a-z])" if entry[-1] in _ALNUM else ""
    return f"{head}{body}{tail}"


@dataclass(frozen=True)
class Prepass:
    """Compiled matcher; `pattern` is None when there are no entries."""

    pattern: re.Pattern[str] | None

    def find(self, text: str) -> list[tuple[int, int, str]]:
        if self.pattern is None:
            return []
        return [(m.start(), m.end(), canonical_entry(m.group())) for m in self.pattern.finditer(text)]


def build_prepass(entries: Iterable[str]) -> Prepass:
    """Compile canonical entries, longest first (Python's alternation takes the first that matches)."""
    ordered = sorted({e for e in entries if e}, key=lambda e: (-len(e), e))
    if not ordered:
        return Prepass(None)
    return Prepass(re.compile("|".join(_entry_pattern(e) for e in ordered)))
