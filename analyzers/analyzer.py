"""The analyzer: text -> tokens for the index (search mode) and for queries (plain cut).

Input: any Python str; an `AnalyzerConfig` (HMM flag, user dictionary, stop words, version).
Output: `list[Token]` with normalized term text, offsets into the ORIGINAL string, phrase positions and the
producing stage.
Guarantees:
* Same config => same tokens on the index and the query side; `analyze_index(t)` contains every token of
  `analyze_query(t)` (same text, offsets and position) plus sub-words.
* Positions are consecutive (0, 1, 2, ...) over the plain-cut tokens that survive filtering; a sub-word
  gets the position of the plain-cut token that contains it, so phrases built from query tokens match.
* `text[t.start:t.end]` is the original text the token came from (its normalization equals `t.text`
  unless one original character expanded into several tokens, e.g. '㍿').
* Tokens made only of whitespace/punctuation (no letter, digit or symbol such as emoji) and stop words are
  dropped. A dropped plain-cut token takes its sub-words with it.
* Case-insensitive: `PayPal退款`, `PAYPAL退款`, `paypal退款` give identical tokens; traditional and
  simplified give the same token text (`帳號` -> `账号`).
* Order numbers: with HMM off `A2024-00017` gives `a2024`, `00017` at consecutive positions (so a phrase
  query finds it); with HMM on the segmenter keeps `a2024-00017` whole. Add such patterns to the user
  dictionary if they must always be one token.
No I/O beyond the built-in jieba dictionary and the data passed in; nothing is read from settings.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from importlib import metadata

import rjieba

from analyzers.normalize import normalize_mapped
from analyzers.prepass import Prepass, build_prepass, canonical_entry, needs_prepass
from analyzers.types import SOURCE_PREPASS, SOURCE_SEGMENTER, SOURCE_SUBWORD, AnalyzerConfig, Token

PIPELINE_VERSION = "nfkc+t2s+dotfold+asciilower/prepass/rjieba/1"
_KEEP_CACHE_LIMIT = 200_000
_new = object.__new__
_setattr = object.__setattr__

_Raw = list[tuple[str, int, int]]


@functools.cache
def _content_re() -> re.Pattern[str]:
    """A token is kept if it has a letter or digit, or an 'other symbol' (emoji, ©)."""
    symbols = [chr(cp) for cp in range(0x80, 0x110000) if unicodedata.category(chr(cp)) == "So"]
    return re.compile("[^\\W_]|[" + "".join(re.escape(c) for c in symbols) + "]")


@functools.cache
def _library_versions() -> str:
    out = []
    for dist in ("rjieba", "opencc", "OpenCC"):
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return ",".join(out)


def _canon(word: str) -> str:
    return canonical_entry(normalize_mapped(word).text)


class Analyzer:
    """Per-tenant analyzer; build once per (tenant, index generation) and reuse (construction ~0.2 s)."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self._config = config
        self._hmm = config.hmm
        words = sorted({w for w in map(_canon, config.user_words) if w})
        self._user_words = frozenset(words)
        self._stop = frozenset(w for w in map(_canon, config.stop_words) if w)
        self._jieba = rjieba.Jieba()
        for w in words:
            if not needs_prepass(w):
                self._jieba.add_word(w, None, None)
        self._prepass: Prepass = build_prepass(w for w in words if needs_prepass(w))
        self._keep: dict[str, bool] = {}
        self._dropped: set[str] = set()
        self._sub_cache: dict[str, list[tuple[str, int, int]]] = {}
        self._sub_terms_cache: dict[tuple[str, bool], list[str]] = {}
        payload = json.dumps(
            {
                "pipeline": PIPELINE_VERSION,
                "libraries": _library_versions(),
                "hmm": config.hmm,
                "user_words": words,
                "stop_words": sorted(self._stop),
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        self._identity = f"{config.version}-{hashlib.sha256(payload.encode('utf-8')).hexdigest()[:16]}"

    @property
    def terms_may_contain_spaces(self) -> bool:
        """True when dictionary entries with spaces exist (only they can yield a term with a space)."""
        return self._prepass.pattern is not None

    @property
    def config(self) -> AnalyzerConfig:
        return self._config

    @property
    def identity(self) -> str:
        """`<version>-<sha256 prefix>` of pipeline, library versions, HMM flag, dictionary and stop words."""
        return self._identity

    def origin(self, token: Token) -> str:
        """Which data produced a token: "user-dictionary" (tenant entry, pre-pass or segmenter),
        "builtin-dictionary" (jieba's own dictionary) or "segmenter" (no dictionary entry: single characters,
        ASCII runs, HMM)."""
        if token.text in self._user_words:
            return "user-dictionary"
        if self._jieba.has_word(token.text):
            return "builtin-dictionary"
        return "segmenter"

    def normalize(self, text: str) -> str:
        """NFKC + t2s + middle-dot fold + ASCII lowercase; the length may differ from `text` only where NFKC
        expands or composes characters (offsets are then mapped by the analyze_* methods)."""
        return normalize_mapped(text).text

    # -- filtering -------------------------------------------------------------------------------

    def _keep_word(self, w: str) -> bool:
        keep = (w.isalnum() or _content_re().search(w) is not None) and w not in self._stop
        if len(self._keep) >= _KEEP_CACHE_LIMIT:
            self._keep.clear()
        self._keep[w] = keep
        if not keep:
            self._dropped.add(w)  # never cleared: bounded by the distinct dropped tokens (punctuation, stop words)
        return keep

    # -- segmentation ----------------------------------------------------------------------------

    def _raw(self, n: str, mode: str) -> tuple[_Raw, dict[int, str]]:
        """Segment normalized text; returns (word, start, end) in segmenter order and prepass starts."""
        tokenize = self._jieba.tokenize
        matches = self._prepass.find(n) if self._prepass.pattern is not None else []
        if not matches:
            return tokenize(n, mode, self._hmm), {}
        out: _Raw = []
        pre: dict[int, str] = {}
        pos = 0
        for a, b, entry in matches:
            if a > pos:
                out.extend((w, s + pos, e + pos) for w, s, e in tokenize(n[pos:a], mode, self._hmm))
            out.append((entry, a, b))
            pre[a] = entry
            pos = b
        if pos < len(n):
            out.extend((w, s + pos, e + pos) for w, s, e in tokenize(n[pos:], mode, self._hmm))
        return out, pre

    def analyze_query(self, text: str) -> list[Token]:
        """Plain cut: consecutive positions, no sub-words."""
        norm = normalize_mapped(text)
        raw, pre = self._raw(norm.text, "default")
        cache = self._keep
        out: list[Token] = []
        append = out.append
        starts, ends = norm.starts, norm.ends
        pos = 0
        for w, s, e in raw:
            keep = cache.get(w)
            if keep is None:
                keep = self._keep_word(w)
            if not keep:
                continue
            src = SOURCE_PREPASS if pre and pre.get(s) == w else SOURCE_SEGMENTER
            if starts is not None and ends is not None:
                s, e = starts[s], ends[e - 1]
            tok = _new(Token)
            _setattr(tok, "__dict__", {"text": w, "start": s, "end": e, "position": pos, "source": src})
            append(tok)
            pos += 1
        return out

    def _subwords(self, piece: str, prepass: bool) -> list[tuple[str, int, int]]:
        """Sub-words of one plain-cut token, offsets relative to it (cached per distinct piece).

        Segmenter tokens: jieba's search mode rule (dictionary 2-grams if longer than 2, then dictionary
        3-grams if longer than 3). Pre-pass entries: the segmenter's search-mode tokens of the entry."""
        subs = self._sub_cache.get(piece)
        if subs is not None:
            return subs
        if prepass:
            subs = [t for t in self._jieba.tokenize(piece, "search", self._hmm) if t[2] - t[1] < len(piece)]
        else:
            has_word = self._jieba.has_word
            subs = []
            for size in (2, 3) if len(piece) > 3 else (2,):
                grams = ((piece[i : i + size], i, i + size) for i in range(len(piece) - size + 1))
                subs.extend(g for g in grams if has_word(g[0]))
        if len(self._sub_cache) >= _KEEP_CACHE_LIMIT:
            self._sub_cache.clear()
        self._sub_cache[piece] = subs
        return subs

    def analyze_index(self, text: str) -> list[Token]:
        """Search mode: every plain-cut token, each followed by its sub-words at the same position."""
        norm = normalize_mapped(text)
        n = norm.text
        raw, pre = self._raw(n, "default")
        cache = self._keep
        out: list[Token] = []
        append = out.append
        starts, ends = norm.starts, norm.ends
        pos = 0
        for w, s, e in raw:
            keep = cache.get(w)
            if keep is None:
                keep = self._keep_word(w)
            if not keep:
                continue
            src = SOURCE_PREPASS if pre and pre.get(s) == w else SOURCE_SEGMENTER
            if starts is not None and ends is not None:
                os_, oe = starts[s], ends[e - 1]
            else:
                os_, oe = s, e
            tok = _new(Token)
            _setattr(tok, "__dict__", {"text": w, "start": os_, "end": oe, "position": pos, "source": src})
            append(tok)
            if e - s > 2:
                for sw, a, b in self._subwords(n[s:e], src is SOURCE_PREPASS):
                    keep = cache.get(sw)
                    if keep is None:
                        keep = self._keep_word(sw)
                    if not keep:
                        continue
                    if starts is not None and ends is not None:
                        os_, oe = starts[s + a], ends[s + b - 1]
                    else:
                        os_, oe = s + a, s + b
                    tok = _new(Token)
                    fields = {"text": sw, "start": os_, "end": oe, "position": pos, "source": SOURCE_SUBWORD}
                    _setattr(tok, "__dict__", fields)
                    append(tok)
            pos += 1
        return out

    def index_terms(self, text: str) -> tuple[list[str], list[str]]:
        """The terms of `analyze_index` without offsets or Token objects: (plain-cut terms in order,
        sub-word terms). The indexing fast path; same filtering, so the terms equal those of analyze_index."""
        n = normalize_mapped(text).text
        if self._prepass.pattern is None:
            words: list[str] = self._jieba.cut(n, self._hmm)
            pre: dict[int, str] = {}
        else:
            raw, pre = self._raw(n, "default")
            words = [w for w, _, _ in raw]
        keep = self._keep
        unseen = set(words).difference(keep)
        if unseen:
            for w in unseen:
                self._keep_word(w)
        dropped = self._dropped
        plain = [w for w in words if w not in dropped]
        subs: list[str] = []
        if pre:
            pre_words = set(pre.values())
            for w in plain:
                if len(w) > 2:
                    subs.extend(self._sub_terms(w, w in pre_words))
        else:
            for w in plain:
                if len(w) > 2:
                    subs.extend(self._sub_terms(w, False))
        return plain, subs

    def _sub_terms(self, piece: str, prepass: bool) -> list[str]:
        key = (piece, prepass)
        found = self._sub_terms_cache.get(key)
        if found is None:
            keep, keep_word = self._keep, self._keep_word
            found = [sw for sw, _a, _b in self._subwords(piece, prepass) if (keep[sw] if sw in keep else keep_word(sw))]
            if len(self._sub_terms_cache) >= _KEEP_CACHE_LIMIT:
                self._sub_terms_cache.clear()
            self._sub_terms_cache[key] = found
        return found
