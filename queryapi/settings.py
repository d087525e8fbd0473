"""Settings of the query API process: one frozen object, passed explicitly to create_app."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from searchcore.dbconfig import MySQLSettings


@dataclass(frozen=True)
class ApiSettings:
    source: MySQLSettings = field(default_factory=MySQLSettings)
    state_dir: Path = Path(".state")
    mapping_version: int = 1
    max_query_chars: int = 500
    max_limit: int = 100
    max_offset: int = 1000          # deeper pages must use cursors
    key_cache_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiSettings:
        return cls(source=MySQLSettings.from_env(env), state_dir=Path(env.get("TICKETSEARCH_STATE_DIR", ".state")))

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "index"
