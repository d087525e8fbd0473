"""Acceptance 5 (issue 7): tenant A uploads a dictionary that makes 打印机卡纸 one word. Until A's reindex switches,
A's queries keep the old tokens and every hit; after it, 打印机卡纸 is one token at index and query time; tenant B's
tokens never change; no 5xx throughout (searches run continuously while the reindex runs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reindex_support import insert_tickets, wait_job
from test_sync_live import Running

from queryapi.auth import create_key
from searchcore.dbconfig import MySQLSettings

pytestmark = pytest.mark.integration
A, B = 1, 2
WORD = "打印机卡纸"


@pytest.fixture()
def running(fresh_db: MySQLSettings, state_dir: Path) -> Iterator[Running]:
    for tenant in (A, B):
        rows = [(i, f"{WORD}了 第{i}台", "办公室的激光打印机一直卡纸，请尽快处理") for i in range(1, 301)]
        rows += [(i, f"退款问题 {i}", "订单已经取消但是没有收到退款") for i in range(301, 601)]
        insert_tickets(fresh_db, tenant, rows, comments_every=7)
    r = Running(fresh_db, state_dir, snapshot_chunk_rows=100)
    r.sync()
    yield r
    r.stop()


def search(r: Running, key: str, q: str) -> dict[str, Any]:
    resp = r.client.get("/v1/tickets/search", params={"q": q, "limit": 5}, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_dictionary_switches_with_the_reindex_only_for_its_tenant(running: Running) -> None:
    r = running
    agent_a, admin_a, agent_b = create_key(r.db, A, "agent"), create_key(r.db, A, "admin"), create_key(r.db, B, "agent")
    hdr = {"Authorization": f"Bearer {admin_a}"}
    before_a, before_b = search(r, agent_a, WORD), search(r, agent_b, WORD)
    assert before_a["query_tokens"] == ["打印机", "卡纸"] and before_a["total"] == 300
    assert r.client.post("/v1/admin/dictionaries", json={"user_words": [WORD]},
                         headers={"Authorization": f"Bearer {agent_a}"}).status_code == 403
    up = r.client.post("/v1/admin/dictionaries", json={"user_words": [WORD]}, headers=hdr)
    assert up.status_code == 201, up.text
    version = up.json()["version"]
    listed = r.client.get("/v1/admin/dictionaries", headers=hdr).json()
    assert listed["staged"] == version and listed["active"] is None
    assert search(r, agent_a, WORD)["query_tokens"] == ["打印机", "卡纸"]      # staged: nothing changes yet

    seen: list[tuple[str, int, list[str], int]] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            for who, key in (("A", agent_a), ("B", agent_b)):
                resp = r.client.get("/v1/tickets/search", params={"q": WORD, "limit": 3},
                                    headers={"Authorization": f"Bearer {key}"})
                body = resp.json()
                seen.append((who, resp.status_code, body.get("query_tokens", []), body.get("total", -1)))

    thread = threading.Thread(target=searcher, daemon=True)
    thread.start()
    started = r.client.post("/v1/admin/reindex", json={"dictionary_version": version, "throttle": 400}, headers=hdr)
    assert started.status_code == 202, started.text
    job = wait_job(r.state_dir, started.json()["job"], timeout=120)
    stop.set()
    thread.join(timeout=30)
    assert job["phase"] == "done", job
    assert job["verify"]["first_attempt_clean"], job["verify"]
    assert job["elasticsearch_actions"][-1] == {"remove_index": {"index": f"ts-tickets-v1-t{A}-g1"}}

    assert all(status == 200 for _, status, _, _ in seen), [s for s in seen if s[1] != 200][:3]
    assert all(total == 300 for _, _, _, total in seen), {t for *_, t in seen}      # never a lost hit
    a_tokens = [tuple(tokens) for who, _, tokens, _ in seen if who == "A"]
    assert a_tokens[0] == ("打印机", "卡纸")
    # the searcher's last request may have started just before the switch; once switched, never back
    switch = a_tokens.index((WORD,)) if (WORD,) in a_tokens else len(a_tokens)
    assert all(t == (WORD,) for t in a_tokens[switch:]), "went back to the old analyzer after the switch"
    assert {tuple(tokens) for who, _, tokens, _ in seen if who == "B"} == {("打印机", "卡纸")}

    after_a = search(r, agent_a, WORD)
    assert after_a["query_tokens"] == [WORD] and after_a["total"] == 300
    assert search(r, agent_b, WORD)["query_tokens"] == before_b["query_tokens"]
    analyzed = r.client.get("/v1/analyze", params={"text": f"{WORD}了"},
                            headers={"Authorization": f"Bearer {agent_a}"}).json()
    assert WORD in [t["term"] for t in analyzed["tokens"]]
    state = r.client.get("/v1/admin/dictionaries", headers=hdr).json()
    assert state["active"] == version and state["staged"] is None
    # the live stream writes new documents of A with the new analyzer
    insert_tickets(r.db, A, [(9001, f"新的{WORD}工单", "又卡纸了")])
    r.sync()
    assert search(r, agent_a, WORD)["total"] == 301
