"""Resolution of people references in a parsed query: emails/phones/names → the tenant's user ids.

Input: a query tree, the tenant id (from the credential) and the source database settings.
Output: the same tree with `Exact(email|phone).requester_ids` filled and `FieldTerm(assignee_id|requester_id,
"<email, phone or name>")` replaced by the matching ids (an `Or` of id terms, or a never-matching id when none).
Guarantee: lookups are scoped to the caller's tenant; results are cached briefly; an unreachable database leaves
the references unresolved (they then match nothing) rather than failing the search.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pymysql

from searchcore.dbconfig import MySQLSettings
from searchcore.query import And, Exact, FieldTerm, Node, Not, Or

NO_USER = -1


class PeopleResolver:
    def __init__(self, source: MySQLSettings, ttl_seconds: float = 30.0) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._cache: dict[tuple[int, str], tuple[float, tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def lookup(self, tenant_id: int, ref: str) -> tuple[int, ...]:
        key = (tenant_id, ref.lower())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        digits = "".join(c for c in ref if c.isdigit() or c == "+")
        try:
            conn = pymysql.connect(**self._source.connect_kwargs())
        except pymysql.MySQLError:
            return ()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id FROM users WHERE tenant_id=%s AND (LOWER(email)=%s OR phone=%s OR phone=%s "
                            "OR name=%s) LIMIT 50", (tenant_id, ref.lower(), ref, digits, ref))
                ids = tuple(sorted(int(r[0]) for r in cur.fetchall()))
        except pymysql.MySQLError:
            return ()
        finally:
            conn.close()
        with self._lock:
            self._cache[key] = (now, ids)
        return ids

    def resolve(self, tenant_id: int, node: Node) -> Node:
        if isinstance(node, Exact) and node.kind in ("email", "phone"):
            return replace(node, requester_ids=self.lookup(tenant_id, node.value))
        people_field = isinstance(node, FieldTerm) and node.field in ("assignee_id", "requester_id")
        if isinstance(node, FieldTerm) and people_field and isinstance(node.value, str):
            ids = self.lookup(tenant_id, node.value) or (NO_USER,)
            terms = tuple(FieldTerm(node.field, i) for i in ids)
            return terms[0] if len(terms) == 1 else Or(terms)
        if isinstance(node, And):
            return And(tuple(self.resolve(tenant_id, c) for c in node.children))
        if isinstance(node, Or):
            return Or(tuple(self.resolve(tenant_id, c) for c in node.children))
        if isinstance(node, Not):
            return Not(self.resolve(tenant_id, node.child))
        return node
