"""Settings of the sync process: one frozen object, built from the environment by the CLI and passed
explicitly (never read at import)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from searchcore.dbconfig import MySQLSettings


@dataclass(frozen=True)
class SyncSettings:
    source: MySQLSettings = field(default_factory=MySQLSettings)
    state_dir: Path = Path(".state")
    source_mapping_path: Path | None = None       # None: the built-in helpdesk mapping
    mapping_version: int = 1
    batch_max_changes: int = 20000                # flush the batch at this many row changes ...
    batch_max_wait_s: float = 0.1                 # ... or after this long (commit -> searchable latency)
    snapshot_chunk_rows: int = 2000
    max_document_bytes: int = 4_000_000           # larger documents go to the dead-letter store, never dropped
    replica_server_id: int = 4_242_001
    tailer_process: bool = True                   # decode the binlog on another core

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> SyncSettings:
        mapping_path = env.get("TICKETSEARCH_SOURCE_MAPPING")
        base = cls(
            source=MySQLSettings.from_env(env),
            state_dir=Path(env.get("TICKETSEARCH_STATE_DIR", ".state")),
            source_mapping_path=Path(mapping_path) if mapping_path else None,
            max_document_bytes=int(env.get("TICKETSEARCH_MAX_DOCUMENT_BYTES", str(cls.max_document_bytes))),
            replica_server_id=int(env.get("TICKETSEARCH_REPLICA_SERVER_ID", str(cls.replica_server_id))),
            snapshot_chunk_rows=int(env.get("TICKETSEARCH_SNAPSHOT_CHUNK_ROWS", str(cls.snapshot_chunk_rows))),
            batch_max_changes=int(env.get("TICKETSEARCH_BATCH_MAX_CHANGES", str(cls.batch_max_changes))),
        )
        return _replace(base, overrides)

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "index"


def _replace(base: SyncSettings, overrides: Mapping[str, object]) -> SyncSettings:
    from dataclasses import replace

    return replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
