"""Chinese-aware text analysis: pure text -> tokens with offsets into the original text.

Input: str texts and an `AnalyzerConfig`.
Output: `Token` lists (index side: search mode with sub-words; query side: plain cut), normalization,
and highlighting helpers that work on original-text spans.
Guarantee: no I/O and no settings read at import; heavy tables are built lazily on first use.
"""

from analyzers.analyzer import Analyzer
from analyzers.highlight import highlight, make_snippet, merge_spans
from analyzers.normalize import normalize, warm_up
from analyzers.types import AnalyzerConfig, Token

__all__ = [
    "Analyzer",
    "AnalyzerConfig",
    "Token",
    "highlight",
    "make_snippet",
    "merge_spans",
    "normalize",
    "warm_up",
]
