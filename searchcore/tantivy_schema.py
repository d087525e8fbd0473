"""The Tantivy schema derived from an index mapping, and the pure transform document -> index values.

Text fields are pre-analyzed by analyzers/ and written as two whitespace-joined fields: `<f>` holds the
plain cut with consecutive positions (phrases), `<f>__sub` the search-mode sub-words (recall: 农业 finds
中国农业发展银行). Keywords are lowercased raw terms (fast, for facets and exact hits); dates are i64
milliseconds; enums are i64 ranks in definition order. Filters never score (const-score wrappers).
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

from mappings import IndexMapping
from searchcore.documents import StoredTicket
from searchcore.values import datetime_to_ms

TOKENIZER = "ts_ws"
META_KEY = "__meta__"
SUB = "__sub"


def build_schema(mapping: IndexMapping) -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("doc_key", tokenizer_name="raw")
    sb.add_integer_field("ticket_id", stored=True, indexed=True, fast=True)
    sb.add_integer_field("version", stored=True, indexed=True, fast=True)
    sb.add_integer_field("visible", indexed=True, fast=True)
    sb.add_integer_field("comment_count", indexed=True, fast=True)
    sb.add_bytes_field("stored", stored=True)
    for name, fdef in mapping.fields.items():
        if fdef.type == "text":
            sb.add_text_field(name, tokenizer_name=TOKENIZER, index_option="position")
            sb.add_text_field(name + SUB, tokenizer_name=TOKENIZER, index_option="freq")
        elif fdef.type == "keyword":
            sb.add_text_field(name, tokenizer_name="raw", fast=True)
        elif fdef.type in ("enum", "integer", "datetime"):
            sb.add_integer_field(name, indexed=True, fast=True)
        elif fdef.type == "json":
            sb.add_json_field(name, tokenizer_name="raw")
    return sb.build()


def register_tokenizers(index: tantivy.Index) -> None:
    """Called at every open: tokens arrive pre-analyzed, so the field analyzer only splits on spaces."""
    index.register_tokenizer(TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())


def term_text(token_text: str) -> str:
    """A token as one whitespace-free index term (dictionary entries may contain spaces)."""
    return token_text.replace(" ", "\u2581").replace("\t", "\u2581")


@dataclass(frozen=True)
class IndexValues:
    texts: dict[str, list[str]]          # text field -> original values (comments: one per comment)
    keywords: dict[str, list[str]]
    integers: dict[str, int]
    json_values: dict[str, dict[str, object]]


def index_values(doc: StoredTicket, mapping: IndexMapping) -> IndexValues:
    row = doc.fields
    texts: dict[str, list[str]] = {}
    keywords: dict[str, list[str]] = {}
    integers: dict[str, int] = {}
    json_values: dict[str, dict[str, object]] = {}
    for name, fdef in mapping.fields.items():
        if name in ("comments", "tags"):
            continue
        value = row.get(name)
        if value is None:
            continue
        if fdef.type == "text":
            texts[name] = [str(value)]
        elif fdef.type == "keyword":
            keywords[name] = [str(value).lower()]
        elif fdef.type == "enum":
            rank = mapping.enum_rank(name, str(value))
            if rank is not None:
                integers[name] = rank
        elif fdef.type == "integer":
            integers[name] = int(value)
        elif fdef.type == "datetime":
            ms = datetime_to_ms(str(value))
            if ms is not None:
                integers[name] = ms
        elif fdef.type == "json" and isinstance(value, dict):
            json_values[name] = value
    texts["comments"] = [str(r.get("text", "")) for _, r in doc.live_children("comments")]
    keywords["tags"] = sorted({str(r.get("value", "")).lower() for _, r in doc.live_children("tags")})
    return IndexValues(texts, keywords, integers, json_values)
