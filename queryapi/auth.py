"""Authentication: `Authorization: Bearer <API key | JWT>` -> Principal (tenant, role).

Input: the Authorization header of a request. Output: a Principal, or an AuthError (401/403) with a code.
Guarantee: the tenant always comes from the credential, never from a request parameter.

- API keys (`tsk_...`) are stored only as SHA-256 hashes in the source database's `api_keys` table, looked up
  by hash and compared in constant time. A key can expire (`expires_at`), be revoked (`revoked_at`) and be
  rotated (a new key for the same tenant and role; the old one expires after a grace period). Lookups are
  cached for `cache_seconds`; expiry is checked on every request (the cache never extends a key's life),
  revocation takes effect within `cache_seconds`.
- JWTs (three dot-separated segments) are verified with PyJWT against the configured key, algorithms and
  issuer (`exp` and `iss` required, `alg: none` never accepted). Claims: `tenant_id` (int) and `role`.
- Roles: `agent` (search its tenant), `admin` (also its tenant's admin endpoints), `platform_admin`
  (admin endpoints of every tenant; its searches still use the tenant of its credential).
- A purged tenant (`ticketsearch tenant purge`) is refused (403 `tenant_purged`) whatever the credential.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
import pymysql

from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
from searchcore.ecslog import request_context

ROLES = ("agent", "admin", "platform_admin")
KEY_PREFIX = "tsk_"


@dataclass(frozen=True)
class Principal:
    tenant_id: int
    role: str
    subject: str = ""          # key prefix or JWT `sub`: for logs, never a secret
    via: str = "api_key"       # "api_key" | "jwt"

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "platform_admin"

    def may_administer(self, tenant_id: int) -> bool:
        """Admin endpoints of `tenant_id`: its own admins, or a platform admin."""
        return self.is_platform_admin or (self.role == "admin" and tenant_id == self.tenant_id)


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def require_admin(principal: Principal, tenant_id: int | None = None) -> None:
    """Raise 403 unless `principal` may call admin endpoints of `tenant_id` (default: its own tenant)."""
    target = principal.tenant_id if tenant_id is None else tenant_id
    if not principal.may_administer(target):
        raise AuthError(403, "forbidden", f"role {principal.role!r} may not call admin endpoints of tenant {target}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _connect(source: MySQLSettings) -> pymysql.connections.Connection:
    return pymysql.connect(**source.connect_kwargs())


def create_key(source: MySQLSettings, tenant_id: int, role: str, label: str | None = None, *,
               expires_in_s: float | None = None, platform_admin: bool = False) -> str:
    """A new API key (printed once, stored only as its hash). `platform_admin` keys are stored with role admin."""
    if role not in ("agent", "admin"):
        raise ValueError(f"role must be agent or admin, not {role!r}")
    if platform_admin and role != "admin":
        raise ValueError("a platform-admin key must have role admin")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    conn = _connect(source)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO api_keys (key_hash, tenant_id, role, label, key_prefix, platform_admin, expires_at)"
                " VALUES (%s,%s,%s,%s,%s,%s, IF(%s IS NULL, NULL, NOW(3) + INTERVAL %s MICROSECOND))",
                (hash_key(key), tenant_id, role, label, key[:10], int(platform_admin), expires_in_s,
                 int((expires_in_s or 0) * 1_000_000)))
        conn.commit()
    finally:
        conn.close()
    return key


def rotate_key(source: MySQLSettings, old_key: str, grace_s: float = 3600.0) -> str:
    """A new key with the old key's tenant, role and label; the old key expires `grace_s` from now."""
    conn = _connect(source)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tenant_id, role, label, platform_admin FROM api_keys WHERE key_hash=%s"
                        " AND revoked_at IS NULL", (hash_key(old_key),))
            row = cur.fetchone()
            if row is None:
                raise KeyError("unknown or revoked API key")
            cur.execute("UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, '9999-12-31'),"
                        " NOW(3) + INTERVAL %s MICROSECOND) WHERE key_hash=%s",
                        (int(grace_s * 1_000_000), hash_key(old_key)))
        conn.commit()
    finally:
        conn.close()
    return create_key(source, int(row[0]), str(row[1]), row[2], platform_admin=bool(row[3]))


def revoke_key(source: MySQLSettings, key: str) -> bool:
    conn = _connect(source)
    try:
        with conn.cursor() as cur:
            n = cur.execute("UPDATE api_keys SET revoked_at = NOW(3) WHERE key_hash=%s AND revoked_at IS NULL",
                            (hash_key(key),))
        conn.commit()
    finally:
        conn.close()
    return bool(n)


def delete_tenant_keys(source: MySQLSettings, tenant_id: int) -> int:
    conn = _connect(source)
    try:
        with conn.cursor() as cur:
            n = cur.execute("DELETE FROM api_keys WHERE tenant_id=%s", (tenant_id,))
        conn.commit()
    finally:
        conn.close()
    return int(n)


@dataclass(frozen=True)
class JwtSettings:
    issuer: str
    key: str
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str | None = None
    leeway_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.algorithms or any(a.lower() == "none" for a in self.algorithms):
            raise ValueError("JWT algorithms must be named and never 'none'")


class JwtVerifier:
    """Verifies a JWT's signature, `exp`, `iss` (and `aud` when configured) and reads tenant and role claims."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings

    def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            claims = jwt.decode(token, s.key, algorithms=list(s.algorithms), issuer=s.issuer, audience=s.audience,
                                leeway=s.leeway_s,
                                options={"require": ["exp", "iss"], "verify_aud": s.audience is not None})
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "expired_credentials", "the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, "invalid_credentials", f"invalid token: {exc}") from None
        tenant, role = claims.get("tenant_id"), claims.get("role")
        if isinstance(tenant, bool) or not isinstance(tenant, int) or tenant < 0:
            raise AuthError(401, "invalid_credentials", "the token has no integer `tenant_id` claim")
        if role not in ROLES:
            raise AuthError(401, "invalid_credentials", f"the token's `role` claim must be one of {list(ROLES)}")
        return Principal(tenant_id=tenant, role=str(role), subject=str(claims.get("sub", ""))[:64], via="jwt")


@dataclass(frozen=True)
class _KeyRecord:
    principal: Principal
    expires_at: float | None     # unix seconds
    revoked: bool


class KeyAuthenticator:
    """API keys (and JWTs when a verifier is given) -> Principal."""

    def __init__(self, source: MySQLSettings, cache_seconds: float, jwt_verifier: JwtVerifier | None = None,
                 purged_file: Path | None = None) -> None:
        self._source = source
        self._ttl = cache_seconds
        self._jwt = jwt_verifier
        self._purged = PurgedTenants(purged_file) if purged_file is not None else None
        self._cache: dict[str, tuple[float, _KeyRecord | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, header: str | None) -> Principal:
        if not header:
            raise AuthError(401, "unauthenticated", "missing 'Authorization: Bearer <api key or token>' header")
        scheme, _, credential = header.strip().partition(" ")
        if scheme.lower() != "bearer":  # the scheme name is case-insensitive (RFC 9110)
            raise AuthError(401, "unauthenticated", "unsupported authorization scheme (the credential is not "
                            "echoed); use 'Authorization: Bearer <api key or token>'")
        credential = credential.strip()
        if not credential:
            raise AuthError(401, "unauthenticated", "empty credential")
        principal = self._jwt_principal(credential) if credential.count(".") == 2 else self._key_principal(credential)
        if self._purged is not None and principal.tenant_id in self._purged.ids():
            raise AuthError(403, "tenant_purged", f"tenant {principal.tenant_id} has been offboarded")
        ctx = request_context.get()
        if ctx is not None:
            ctx["tenant"] = principal.tenant_id
        return principal

    def _jwt_principal(self, token: str) -> Principal:
        if self._jwt is None:
            raise AuthError(401, "invalid_credentials", "tokens are not accepted: no JWT issuer/key is configured")
        return self._jwt.verify(token)

    def _key_principal(self, key: str) -> Principal:
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or now - cached[0] > self._ttl:
            cached = (now, self._lookup(digest))
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = cached
        record = cached[1]
        if record is None:
            raise AuthError(401, "unauthenticated", "unknown API key")
        if record.revoked:
            raise AuthError(401, "revoked_credentials", "the API key has been revoked")
        if record.expires_at is not None and time.time() >= record.expires_at:
            raise AuthError(401, "expired_credentials", "the API key has expired")
        return record.principal

    def _lookup(self, digest: str) -> _KeyRecord | None:
        conn = _connect(self._source)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT key_hash, tenant_id, role, platform_admin, key_prefix,"
                            " UNIX_TIMESTAMP(expires_at), revoked_at IS NOT NULL FROM api_keys WHERE key_hash = %s",
                            (digest,))
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None or not hmac.compare_digest(str(row[0]), digest):
            return None
        role = "platform_admin" if row[3] else str(row[2])
        principal = Principal(tenant_id=int(row[1]), role=role, subject=str(row[4] or ""), via="api_key")
        return _KeyRecord(principal, None if row[5] is None else float(row[5]), bool(row[6]))


class PurgedTenants:
    """The ids in `<state>/purged_tenants.json`, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, frozenset[int]] = (-1.0, frozenset())

    def ids(self) -> frozenset[int]:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return frozenset()
        if mtime != self._seen[0]:
            try:
                data = json.loads(self.path.read_text("utf-8"))
                self._seen = (mtime, frozenset(int(t) for t in data.get("tenants", {})))
            except (OSError, ValueError, AttributeError):
                pass
        return self._seen[1]


def mark_purged(path: Path, tenant_ids: Sequence[int]) -> None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    tenants = dict(data.get("tenants", {}))
    for t in tenant_ids:
        tenants[str(t)] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"tenants": tenants}, indent=2), "utf-8")
    tmp.replace(path)


def authenticator_for(settings: ApiSettings) -> KeyAuthenticator:
    """API keys always; JWTs when both an issuer and a key are configured."""
    verifier = None
    if settings.jwt_issuer and settings.jwt_key:
        verifier = JwtVerifier(JwtSettings(settings.jwt_issuer, settings.jwt_key, settings.jwt_algorithms,
                                           settings.jwt_audience))
    return KeyAuthenticator(settings.source, settings.key_cache_seconds, verifier,
                            purged_file=settings.state_dir / "purged_tenants.json")
