"""Text normalization with an offset map back to the original string.

Input: any Python str (emoji, astral characters, lone surrogates included).
Output: `Normalized` = the normalized text (NFKC -> traditional->simplified -> middle-dot variants folded to
'·' -> ASCII-lowercased) plus, only when normalization changed the length somewhere, per-character maps to
the original offsets.
Guarantee: for every normalized span [a, b), `Normalized.span(a, b)` is a span of the ORIGINAL string that
contains exactly the characters the span came from (a character produced by expanding one original
character, e.g. '㍿' -> '株式会社', maps to that whole original character). Normalization is idempotent.

Notes on the steps:
* NFKC is applied per chunk: runs of "safe" characters (NFKC maps each to exactly one character and nothing
  composes with them) are converted with a 1:1 table; a character that expands ('…' -> '...', ligatures,
  '㍿') or a base character followed by combining marks is normalized as one chunk. The result equals
  whole-string NFKC for real text.
* Traditional -> simplified uses OpenCC 't2s' (phrase-aware) on texts that contain at least one character
  t2s maps on its own; text without such a character is left as is (OpenCC's phrase table would otherwise
  also rewrite simplified text, e.g. 万一坏了 -> 万一坯了). If OpenCC changes the length, conversion falls
  back to runs of non-ASCII text and then to single characters, so t2s never shifts offsets.
* A few simplified-script variant words are folded to the mainland form (帐号/帐户/转帐... -> 账号/账户/转账),
  length-preserving, so 帳號, 帐号 and 账号 all give 账号.
* Lowercasing is ASCII only (bytes.lower on UTF-8), which keeps the length; non-ASCII case is kept.
* The character tables are built lazily on first use (about one second), never at import.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

MIDDLE_DOT = "\u00b7"
# Variants people type inside names such as 冯·诺伊曼; folded so dictionary entries match all of them.
_DOT_VARIANTS = "\u2022\u2027\u2219\u22c5\u30fb\uff65\u0387"
_NON_ASCII_RUNS = re.compile(r"[^\x00-\x7f]+")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# Simplified-script variants OpenCC leaves apart (t2s maps 帳號 to 帐号, while mainland text writes 账号).
# Folded as whole words, length-preserving; 帐 alone (帐篷, tent) is left alone.
_VARIANT_WORDS = {
    f"{a}{b}": f"{a}{b}".replace("帐", "账")
    for a, b in [("帐", c) for c in "号户单目本款务期"] + [(c, "帐") for c in "结转对记算查入销挂赊"]
}
_VARIANT_RE = re.compile("|".join(sorted(_VARIANT_WORDS, key=len, reverse=True)))


@dataclass(frozen=True, eq=False)
class Normalized:
    """Normalized text; `starts`/`ends` are None when offsets are the identity."""

    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Original [start, end) for the normalized span [a, b) (b > a)."""
        if self.starts is None or self.ends is None:
            return a, b
        return self.starts[a], self.ends[b - 1]


@dataclass(frozen=True)
class _Detector:
    """Character-set membership test. Regex classes with astral ranges are slow (~1 Mchar/s), BMP-only
    classes fast (~80 Mchar/s): the full pattern is used only for text that contains astral characters."""

    bmp: re.Pattern[str]
    full: re.Pattern[str]

    def search(self, s: str, astral: bool) -> bool:
        return (self.full if astral else self.bmp).search(s) is not None

    @classmethod
    def of(cls, cps: list[int]) -> _Detector:
        bmp = [c for c in cps if c < 0x10000]
        return cls(
            re.compile(f"[{_char_class(bmp)}]" if bmp else "(?!)"),
            re.compile(f"[{_char_class(cps)}]" if cps else "(?!)"),
        )


@dataclass(frozen=True)
class _Tables:
    risky: re.Pattern[str]  # expanders, and base char + combining marks
    has_risky: _Detector  # expanders or combining characters
    has_one: _Detector  # characters with a 1:1 NFKC mapping or a middle-dot fold
    one: dict[int, str]  # str.translate table (ordinal -> replacement)
    has_trad: _Detector  # characters OpenCC t2s changes on their own


def _char_class(cps: list[int]) -> str:
    cps = sorted(set(cps))
    out: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        out.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(out)


@functools.cache
def _converter() -> Callable[[str], str]:
    import opencc

    conv: Callable[[str], str] = opencc.OpenCC("t2s").convert
    return conv


def _table_lists() -> tuple[list[int], list[int], dict[str, str], list[int]]:
    """(combining, expanders, 1:1 NFKC map, characters t2s changes): a scan of all code points (~2 s)."""
    expanders: list[int] = []
    combining: list[int] = [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]  # Hangul V/T jamo compose
    one: dict[str, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if unicodedata.combining(ch):
            combining.append(cp)
        dec = unicodedata.decomposition(ch)
        if dec and dec[0] != "<":
            parts = dec.split()
            if len(parts) == 2:
                combining.append(int(parts[1], 16))  # second half of a canonical pair composes backwards
        norm = unicodedata.normalize("NFKC", ch)
        if len(norm) != 1:
            expanders.append(cp)
        elif norm != ch:
            one[ch] = norm
    convert = _converter()
    trad = [
        cp
        for lo, hi in ((0x80, 0xD800), (0xE000, 0x10000), (0x20000, 0x30000))
        for cp in range(lo, hi)
        if convert(chr(cp)) != chr(cp)
    ]
    return combining, expanders, one, trad


def _cached_table_lists() -> tuple[list[int], list[int], dict[str, str], list[int]]:
    """The scan, cached on disk per (Unicode data, OpenCC) version so a process start does not repeat it.
    The cache is only an optimization: any problem reading or writing it falls back to the scan."""
    import os
    import pickle
    from importlib import metadata
    from pathlib import Path

    try:
        opencc_version = metadata.version("OpenCC")
    except metadata.PackageNotFoundError:
        opencc_version = "unknown"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ticketsearch"
    path = base / f"normalize-tables-{unicodedata.unidata_version}-{opencc_version}-v1.pickle"
    try:
        with open(path, "rb") as fh:
            cached = pickle.load(fh)
        if isinstance(cached, tuple) and len(cached) == 4:
            return cached  # type: ignore[return-value]
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    lists = _table_lists()
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(lists, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
    return lists


@functools.cache
def _tables() -> _Tables:
    combining, expanders, one, trad = _cached_table_lists()
    one = dict(one)
    for ch, norm in list(one.items()):
        if norm in _DOT_VARIANTS:
            one[ch] = MIDDLE_DOT
    for ch in _DOT_VARIANTS:
        if ord(ch) not in expanders:
            one[ch] = MIDDLE_DOT
    table = {ord(ch): norm for ch, norm in one.items()}
    comb = _char_class(combining)
    risky = re.compile(f"[^{comb}]?[{comb}]+|[{_char_class(expanders)}]")
    return _Tables(
        risky,
        _Detector.of(combining + expanders),
        _Detector.of(list(table)),
        table,
        _Detector.of(trad),
    )


def _nfkc_mapped(s: str, t: _Tables, astral: bool) -> Normalized:
    """Chunk-wise NFKC keeping, for each output character, the original span it came from."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def safe(a: int, b: int) -> None:
        seg = s[a:b]
        if t.has_one.search(seg, astral):
            seg = seg.translate(t.one)
        parts.append(seg)
        starts.extend(range(a, b))
        ends.extend(range(a + 1, b + 1))

    pos = 0
    for m in t.risky.finditer(s):
        a, b = m.span()
        if a > pos:
            safe(pos, a)
        seg = unicodedata.normalize("NFKC", s[a:b])
        if t.has_one.search(seg, astral):  # only middle-dot folds can still apply to NFKC output
            seg = seg.translate(t.one)
        parts.append(seg)
        starts.extend([a] * len(seg))
        ends.extend([b] * len(seg))
        pos = b
    if pos < len(s):
        safe(pos, len(s))
    return Normalized("".join(parts), starts, ends)


def _convert_safe(convert: Callable[[str], str], s: str) -> str:
    try:
        return convert(s)
    except (UnicodeError, ValueError):  # lone surrogates cannot cross into OpenCC
        return s


def _t2s(s: str, t: _Tables, astral: bool) -> str:
    if not t.has_trad.search(s, astral):
        return s
    convert = _converter()
    out = _convert_safe(convert, s)
    if len(out) == len(s):
        return out

    def run(m: re.Match[str]) -> str:
        seg = m.group()
        conv = _convert_safe(convert, seg)
        if len(conv) == len(seg):
            return conv
        singles = [_convert_safe(convert, ch) for ch in seg]
        return "".join(c if len(c) == 1 else ch for c, ch in zip(singles, seg, strict=True))

    return _NON_ASCII_RUNS.sub(run, s)


def _ascii_lower(s: str) -> str:
    if s.isascii():
        return s.lower()
    return s.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def normalize_mapped(text: str) -> Normalized:
    """Normalize `text`; keep an offset map only when the length changed somewhere."""
    if text.isascii():
        return Normalized(text.lower())
    t = _tables()
    astral = _ASTRAL.search(text) is not None
    if t.has_risky.search(text, astral):
        res = _nfkc_mapped(text, t, astral)
        s, starts, ends = res.text, res.starts, res.ends
    else:
        s = text.translate(t.one) if t.has_one.search(text, astral) else text
        starts = ends = None
    s = _t2s(s, t, astral)
    if "帐" in s:
        s = _VARIANT_RE.sub(lambda m: _VARIANT_WORDS[m.group()], s)
    return Normalized(_ascii_lower(s), starts, ends)


def normalize(text: str) -> str:
    """The normalization alone (no offsets)."""
    return normalize_mapped(text).text


def warm_up() -> None:
    """Build the lazy character tables now (e.g. at service start) instead of on the first text."""
    _tables()
