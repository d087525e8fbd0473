"""Freshness tokens (read-your-writes): `wait_for=<gtid>` on a search.

Input: a MariaDB GTID `domain-server-sequence` (the helpdesk reads `@@last_gtid` right after its commit), the
caller's tenant and a bound in seconds. Output: True once that transaction is searchable for the tenant, False
when the bound passed first (the search then answers with `"stale": true`).
Guarantee: "searchable" means the tenant's index (or the sync checkpoint, which moves only after the index
commits that cover it) is at or past a binlog position whose GTID state (`BINLOG_GTID_POS`) includes the
transaction: the comparison is against the source's binlog, per GTID domain.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import pymysql

from queryapi.limits import RequestRejected
from queryapi.settings import ApiSettings
from searchcore import generations
from searchcore.backend import UnknownTenant
from searchcore.embedded import EmbeddedBackend
from searchcore.positions import BinlogPosition

_GTID = re.compile(r"^(\d{1,10})-(\d{1,10})-(\d{1,20})$")


@dataclass(frozen=True)
class Gtid:
    domain: int
    server: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> Gtid:
        m = _GTID.match(text.strip())
        if m is None:
            raise RequestRejected(400, "invalid_wait_for",
                                  "wait_for must be a MariaDB GTID `domain-server-sequence` (e.g. 0-1-42), "
                                  "as read from @@last_gtid after the commit", where="wait_for")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def gtid_state_covers(state: str | None, gtid: Gtid) -> bool:
    """Does a GTID position list (`0-1-57,1-2-9`) include `gtid` (same domain, sequence at or past it)?"""
    for part in (state or "").split(","):
        m = _GTID.match(part.strip())
        if m is not None and int(m.group(1)) == gtid.domain and int(m.group(3)) >= gtid.seq:
            return True
    return False


class FreshnessWaiter:
    def __init__(self, settings: ApiSettings, backend: EmbeddedBackend, poll_s: float = 0.05) -> None:
        self.settings = settings
        self.backend = backend
        self.poll_s = poll_s
        self._state_cache: dict[tuple[str, int], str | None] = {}
        self._lock = threading.Lock()

    def wait(self, tenant_id: int, wait_for: str, bound_s: float | None = None) -> bool:
        gtid = Gtid.parse(wait_for)
        bound = self.settings.wait_for_max_s if bound_s is None else min(bound_s, self.settings.wait_for_max_s)
        deadline = time.monotonic() + max(0.0, bound)
        while True:
            position = self._searchable_position(tenant_id)
            if position is not None and self._covers(position, gtid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_s)

    def _searchable_position(self, tenant_id: int) -> BinlogPosition | None:
        from syncer.kafka_lag import synced_position

        best = synced_position(self.settings.state_dir)
        # Outside the request's read scope: the search that follows must pin the reader that is fresh *now*.
        token = generations._SCOPE.set(None)
        try:
            applied = self.backend.state(tenant_id).applied
        except UnknownTenant:
            applied = None
        finally:
            generations._SCOPE.reset(token)
        if applied is not None and (best is None or best < applied):
            best = applied
        return best

    def _covers(self, position: BinlogPosition, gtid: Gtid) -> bool:
        if gtid_state_covers(position.gtid, gtid):
            return True
        key = (position.file, position.offset)
        with self._lock:
            if key in self._state_cache:
                return gtid_state_covers(self._state_cache[key], gtid)
        state = self._gtid_state(position)
        with self._lock:
            if len(self._state_cache) > 1024:
                self._state_cache.clear()
            self._state_cache[key] = state
        return gtid_state_covers(state, gtid)

    def _gtid_state(self, position: BinlogPosition) -> str | None:
        try:
            conn = pymysql.connect(**self.settings.source.connect_kwargs(with_database=False))
        except pymysql.MySQLError:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (position.file, position.offset))
                row = cur.fetchone()
        except pymysql.MySQLError:
            return None
        finally:
            conn.close()
        return None if row is None or row[0] is None else str(row[0])
