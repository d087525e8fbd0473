"""Opaque, signed pagination cursors.

Input: the decoded cursor (`searchcore.query.Cursor`) plus what it is bound to: tenant, query text, sort.
Output: a URL-safe string `<payload>.<hmac>`; decoding checks the signature and the binding.
Guarantee: a cursor cannot be forged or replayed against another tenant, query or sort order (→ CursorError,
a 400 in the API); the secret comes from the API settings/environment, never from the request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from searchcore.query import Cursor, Sort


class CursorError(ValueError):
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def _binding(tenant_id: int, query: str, sort: Sort) -> str:
    return hashlib.sha256(f"{tenant_id}\x00{query}\x00{sort.key}\x00{sort.order}".encode()).hexdigest()[:16]


def encode_cursor(secret: bytes, tenant_id: int, query: str, sort: Sort, cursor: Cursor) -> str:
    payload = json.dumps({"b": _binding(tenant_id, query, sort), "v": cursor.value, "id": cursor.ticket_id},
                         separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    sig = base64.urlsafe_b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=")
    return f"{body}.{sig.decode()}"


def decode_cursor(secret: bytes, tenant_id: int, query: str, sort: Sort, token: str) -> Cursor:
    body, _, sig = token.partition(".")
    expected = base64.urlsafe_b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=")
    if not sig or not hmac.compare_digest(sig.encode(), expected):
        raise CursorError("invalid_cursor", "the cursor is not one this API issued (bad signature)")
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        value, ticket_id, binding = data["v"], int(data["id"]), str(data["b"])
    except (ValueError, KeyError, TypeError):
        raise CursorError("invalid_cursor", "the cursor is malformed") from None
    if binding != _binding(tenant_id, query, sort):
        raise CursorError("cursor_mismatch", "the cursor belongs to another query or sort order; start again")
    if value is not None and not isinstance(value, int | float):
        raise CursorError("invalid_cursor", "the cursor is malformed")
    return Cursor(value=value, ticket_id=ticket_id)
