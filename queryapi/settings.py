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
    # issue 8: limits, JWT, freshness, readiness (docs/security.md, docs/operations.md)
    max_clauses: int = 64               # query nodes (words, phrases, filters, boolean operators)
    request_timeout_s: float = 10.0     # past this a request answers 503 `timeout`
    jwt_issuer: str | None = None       # JWTs are accepted only when issuer and key are configured
    jwt_key: str | None = None          # HS256 secret, or a PEM public key for RS256/ES256
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str | None = None
    wait_for_max_s: float = 5.0         # bound of a `wait_for=<gtid>` search
    stall_seconds: float = 30.0         # /readyz: behind the source with no progress for this long = stalled

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiSettings:
        algorithms = tuple(a.strip() for a in env.get("TICKETSEARCH_JWT_ALGORITHMS", "HS256").split(",") if a.strip())
        return cls(source=MySQLSettings.from_env(env), state_dir=Path(env.get("TICKETSEARCH_STATE_DIR", ".state")),
                   jwt_issuer=env.get("TICKETSEARCH_JWT_ISSUER") or None,
                   jwt_key=env.get("TICKETSEARCH_JWT_KEY") or None,
                   jwt_algorithms=algorithms or ("HS256",),
                   jwt_audience=env.get("TICKETSEARCH_JWT_AUDIENCE") or None,
                   request_timeout_s=float(env.get("TICKETSEARCH_REQUEST_TIMEOUT_S", "10")),
                   stall_seconds=float(env.get("TICKETSEARCH_STALL_SECONDS", "30")))

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "index"
