"""Strict loader of versioned index definitions.

Input: mappings/definitions/<name>_v<version>.json. Output: a frozen IndexMapping.
Guarantee: unknown keys, unknown field types and missing required fields are refused with the file
and the problem. A change to a mapping is a new file with a new version, never an edit in place.
Both backends read the same definition; the optional `elasticsearch` section holds the settings only
Elasticsearch uses (shards, replicas, refresh interval, `index.gc_deletes`, the CJK-bigram sub-field),
and the embedded backend ignores it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

FieldType = Literal["text", "keyword", "enum", "integer", "datetime", "json"]


class MappingError(ValueError):
    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class FieldDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: FieldType
    boost: float = 1.0
    exact_boost: float | None = None
    facet: bool = False
    values: tuple[str, ...] = ()

    @field_validator("values")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("enum values must be unique")
        return v


class Ranking(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_should_match_ratio: float = 0.75  # of the query's term slots, at least ceil(n * ratio) (>= 1) must match
    all_terms_up_to: int = 2               # ... but queries of at most this many slots need all of them
    highlight_fragment_chars: int = 160
    subword_weight: float = 0.5           # a sub-word hit counts this fraction of its field's boost
    query_subword_weight: float = 0.0     # optional extra clauses for the query's own sub-words (search mode)
    phrase_boost: float = 0.0             # proximity bonus: all query terms within phrase_slop (0 = off)
    phrase_slop: int = 2
    recency_weight: float = 0.0           # score *= 1 + w * 2^(-age / half-life) over the top window (0 = off)
    recency_half_life_days: float = 30.0
    rerank_window: int = 200
    long_query_slots: int = 0              # queries of at least this many slots (a pasted sentence) need ...
    long_query_ratio: float = 0.75         # ... ceil(n * long_query_ratio) of them (0 slots = off)

    def required_matches(self, slots: int) -> int:
        """How many of a query's `slots` term slots a document must match (both backends use this)."""
        if slots <= self.all_terms_up_to:
            return slots
        ratio = self.min_should_match_ratio
        if self.long_query_slots and slots >= self.long_query_slots:
            ratio = self.long_query_ratio
        return max(1, min(slots, math.ceil(slots * ratio)))


class ElasticOptions(BaseModel):
    """Elasticsearch-only index settings of a mapping version (defaults: one shard, ES's own defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    number_of_shards: int = 1
    number_of_replicas: int = 1
    refresh_interval: str = "1s"
    gc_deletes: str = "60s"         # tombstones are documents, so this only guards the rare purge deletes
    max_result_window: int = 10_000
    cjk_bigram: bool = False        # add a `<text field>.cjk` sub-field (CJK bigrams) for recall


class IndexMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: int
    description: str = ""
    fields: dict[str, FieldDef]
    ranking: Ranking = Ranking()
    elasticsearch: ElasticOptions = ElasticOptions()

    def text_fields(self) -> list[tuple[str, float]]:
        return [(n, f.boost) for n, f in self.fields.items() if f.type == "text"]

    def enum_rank(self, field: str, value: str | None) -> int | None:
        values = self.fields[field].values
        return values.index(value) + 1 if value in values else None

    def enum_value(self, field: str, rank: int) -> str | None:
        values = self.fields[field].values
        return values[rank - 1] if 1 <= rank <= len(values) else None


REQUIRED_FIELDS = ("subject", "body", "comments", "status", "priority", "created_at", "updated_at")


_DEFINITION = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)_v(?P<version>[1-9][0-9]*)\.json$")


def mapping_versions(name: str = "tickets") -> list[int]:
    """The versions of `name` that have a definition file, ascending."""
    found: list[int] = []
    for path in (Path(__file__).parent / "definitions").iterdir():
        match = _DEFINITION.match(path.name)
        if match is not None and match.group("name") == name:
            found.append(int(match.group("version")))
    return sorted(found)


def load_mapping(name: str = "tickets", version: int = 1) -> IndexMapping:
    source = f"mappings/definitions/{name}_v{version}.json"
    try:
        text = (Path(__file__).parent / "definitions" / f"{name}_v{version}.json").read_text("utf-8")
    except FileNotFoundError as exc:
        raise MappingError("no such mapping version", source=source) from exc
    try:
        mapping = IndexMapping.model_validate_json(text)
    except ValidationError as exc:
        raise MappingError(str(exc), source=source) from exc
    if mapping.name != name or mapping.version != version:
        raise MappingError(f"file declares {mapping.name} v{mapping.version}", source=source)
    missing = [f for f in REQUIRED_FIELDS if f not in mapping.fields]
    if missing:
        raise MappingError(f"required fields missing: {missing}", source=source)
    return mapping
