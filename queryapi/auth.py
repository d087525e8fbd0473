"""API-key authentication: `Authorization: Bearer <key>` -> (tenant, role).

Keys are stored as SHA-256 hashes in the source database's `api_keys` table; the tenant always comes
from the key, never from a request parameter. Lookups are cached briefly; comparison of the hash is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import pymysql

from searchcore.dbconfig import MySQLSettings


@dataclass(frozen=True)
class Principal:
    tenant_id: int
    role: str


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(source: MySQLSettings, tenant_id: int, role: str, label: str | None = None) -> str:
    if role not in ("agent", "admin"):
        raise ValueError(f"role must be agent or admin, not {role!r}")
    key = "tsk_" + secrets.token_urlsafe(24)
    conn = pymysql.connect(**source.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO api_keys (key_hash, tenant_id, role, label) VALUES (%s,%s,%s,%s)",
                        (hash_key(key), tenant_id, role, label))
    finally:
        conn.close()
    return key


class KeyAuthenticator:
    def __init__(self, source: MySQLSettings, cache_seconds: float) -> None:
        self._source = source
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, header: str | None) -> Principal:
        if not header or not header.startswith("Bearer "):
            raise AuthError(401, "unauthenticated", "missing 'Authorization: Bearer <api key>' header")
        key = header[len("Bearer "):].strip()
        if not key:
            raise AuthError(401, "unauthenticated", "empty API key")
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or now - cached[0] > self._ttl:
            cached = (now, self._lookup(digest))
            with self._lock:
                self._cache[digest] = cached
        principal = cached[1]
        if principal is None:
            raise AuthError(401, "unauthenticated", "unknown API key")
        return principal

    def _lookup(self, digest: str) -> Principal | None:
        conn = pymysql.connect(**self._source.connect_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT key_hash, tenant_id, role FROM api_keys WHERE key_hash = %s", (digest,))
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None or not hmac.compare_digest(str(row[0]), digest):
            return None
        return Principal(tenant_id=int(row[1]), role=str(row[2]))
