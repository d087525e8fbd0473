"""A seeded, realistic stream of helpdesk changes (tickets, comments, tags) written with real corpus text,
used by crash-safety and replay tests and by benchmarks."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from searchcore.dbconfig import MySQLSettings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tickets"


def real_texts(limit: int = 3000) -> list[tuple[str, str, str]]:
    """(title, ask, answer) rows of the real medical dialogue corpus."""
    path = DATA / "medical_dialogue.csv"
    out = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            out.append((row["title"], row["ask"], row["answer"]))
            if len(out) >= limit:
                break
    return out


@dataclass
class Workload:
    db: MySQLSettings
    tenants: list[int]
    seed: int
    texts: list[tuple[str, str, str]] = field(default_factory=real_texts)
    changes: int = 0
    next_ticket: int = 100_000
    next_comment: int = 1_000_000

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.live: dict[int, list[int]] = {t: [] for t in self.tenants}
        self.comments: dict[tuple[int, int], list[int]] = {}
        self.tags: dict[int, list[int]] = {}

    def prepare(self) -> None:
        conn = self._connect()
        with conn.cursor() as cur:
            for t in self.tenants:
                cur.execute("SELECT id FROM tickets WHERE tenant_id=%s", (t,))
                self.live[t] = [int(r[0]) for r in cur.fetchall()]
                cur.execute("SELECT ticket_id, id FROM ticket_comments WHERE tenant_id=%s", (t,))
                for tid, cid in cur.fetchall():
                    self.comments.setdefault((t, int(tid)), []).append(int(cid))
                for n in range(3):
                    cur.execute("INSERT IGNORE INTO tags (tenant_id, id, name) VALUES (%s,%s,%s)",
                                (t, 50_000 + n, f"工作负载标签{n}"))
                self.tags[t] = [50_000 + n for n in range(3)]
        conn.commit()
        conn.close()

    def _connect(self) -> pymysql.connections.Connection:  # type: ignore[type-arg]
        kwargs = self.db.connect_kwargs()
        kwargs["autocommit"] = False
        return pymysql.connect(**kwargs)

    def run(self, total_changes: int, *, rate: float | None = None) -> int:
        """Write until `total_changes` row changes are committed; `rate` caps changes per second."""
        import time

        conn = self._connect()
        started = time.monotonic()
        try:
            while self.changes < total_changes:
                if rate is not None:
                    ahead = self.changes / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
                with conn.cursor() as cur:
                    for _ in range(self.rng.randint(1, 8)):
                        self._one(cur)
                conn.commit()
        finally:
            conn.close()
        return self.changes

    def _one(self, cur: pymysql.cursors.Cursor) -> None:
        rng = self.rng
        t = rng.choice(self.tenants)
        live = self.live[t]
        kind = rng.random()
        title, ask, answer = rng.choice(self.texts)
        if kind < 0.25 or not live:
            tid = self.next_ticket
            self.next_ticket += 1
            cur.execute(
                "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description, status, priority) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (t, tid, f"W-{t}-{tid}", title, ask, rng.choice(["new", "open", "pending"]),
                 rng.choice(["low", "normal", "high", "urgent"])),
            )
            live.append(tid)
            self.changes += 1
        elif kind < 0.45:
            tid = rng.choice(live)
            cur.execute("UPDATE tickets SET subject=%s, status=%s WHERE tenant_id=%s AND id=%s",
                        (title, rng.choice(["open", "pending", "solved", "closed"]), t, tid))
            self.changes += 1
        elif kind < 0.52:
            tid = live.pop(rng.randrange(len(live)))
            cur.execute("DELETE FROM ticket_comments WHERE tenant_id=%s AND ticket_id=%s", (t, tid))
            cur.execute("DELETE FROM ticket_tags WHERE tenant_id=%s AND ticket_id=%s", (t, tid))
            cur.execute("DELETE FROM tickets WHERE tenant_id=%s AND id=%s", (t, tid))
            self.comments.pop((t, tid), None)
            self.changes += 3
        elif kind < 0.75:
            tid = rng.choice(live)
            cid = self.next_comment
            self.next_comment += 1
            cur.execute("INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (%s,%s,%s,%s)",
                        (t, cid, tid, answer))
            self.comments.setdefault((t, tid), []).append(cid)
            self.changes += 1
        elif kind < 0.85:
            candidates = [k for k in self.comments if k[0] == t and self.comments[k]]
            if not candidates:
                return
            key = rng.choice(candidates)
            cid = rng.choice(self.comments[key])
            if rng.random() < 0.5:
                cur.execute("UPDATE ticket_comments SET body=%s WHERE tenant_id=%s AND id=%s", (ask, t, cid))
            else:
                cur.execute("DELETE FROM ticket_comments WHERE tenant_id=%s AND id=%s", (t, cid))
                self.comments[key].remove(cid)
            self.changes += 1
        else:
            tid = rng.choice(live)
            tag = rng.choice(self.tags[t])
            if rng.random() < 0.6:
                cur.execute("INSERT IGNORE INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (%s,%s,%s)",
                            (t, tid, tag))
            else:
                cur.execute("DELETE FROM ticket_tags WHERE tenant_id=%s AND ticket_id=%s AND tag_id=%s", (t, tid, tag))
            self.changes += 1
