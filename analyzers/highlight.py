"""Highlighting on the ORIGINAL text from token spans.

Input: the original text and (start, end) spans (e.g. `Token.start`/`Token.end` of matched tokens).
Output: HTML-safe text with the spans wrapped in `pre`/`post`, or a short snippet of it.
Guarantee: every character of `text` outside the markers is HTML-escaped; overlapping or touching spans
are merged, spans are clipped to the text and empty ones ignored; `pre`/`post` are inserted verbatim.
"""

from __future__ import annotations

import html

ELLIPSIS = "…"


def merge_spans(spans: list[tuple[int, int]], length: int | None = None) -> list[tuple[int, int]]:
    """Sort, clip to [0, length], drop empty spans and merge overlapping/adjacent ones."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if length is not None:
            a, b = max(0, min(a, length)), max(0, min(b, length))
        a = max(a, 0)
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _render(text: str, spans: list[tuple[int, int]], lo: int, hi: int, pre: str, post: str) -> str:
    parts: list[str] = []
    pos = lo
    for a, b in spans:
        a, b = max(a, lo), min(b, hi)
        if b <= a:
            continue
        parts.append(html.escape(text[pos:a]))
        parts.append(pre + html.escape(text[a:b]) + post)
        pos = b
    parts.append(html.escape(text[pos:hi]))
    return "".join(parts)


def highlight(text: str, spans: list[tuple[int, int]], pre: str = "<em>", post: str = "</em>") -> str:
    """Whole text, HTML-escaped, with the merged spans wrapped in pre/post."""
    return _render(text, merge_spans(spans, len(text)), 0, len(text), pre, post)


def make_snippet(
    text: str,
    spans: list[tuple[int, int]],
    max_chars: int = 160,
    pre: str = "<em>",
    post: str = "</em>",
) -> str:
    """At most `max_chars` characters of `text` (markers and ellipses not counted) around the densest
    group of spans, highlighted; '…' marks a cut at either end. Without spans: the beginning of the text."""
    merged = merge_spans(spans, len(text))
    if len(text) <= max_chars:
        return _render(text, merged, 0, len(text), pre, post)
    lo = 0
    if merged:
        # Pick the window (starting a little before some span) that covers the most highlighted characters.
        lead = min(20, max_chars // 4)
        best, best_cover = 0, -1
        for a, _ in merged:
            start = max(0, min(a - lead, len(text) - max_chars))
            end = start + max_chars
            cover = sum(max(0, min(b2, end) - max(a2, start)) for a2, b2 in merged)
            if cover > best_cover:
                best, best_cover = start, cover
        lo = best
    hi = min(len(text), lo + max_chars)
    if lo < len(text) and lo > 0 and "\udc00" <= text[lo] <= "\udfff":
        lo += 1  # never start on the second half of a surrogate pair (only possible with broken input)
    body = _render(text, merged, lo, hi, pre, post)
    return (ELLIPSIS if lo > 0 else "") + body + (ELLIPSIS if hi < len(text) else "")
