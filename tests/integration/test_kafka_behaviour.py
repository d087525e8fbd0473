"""Acceptance (issue 5), the pipeline halves in threads of the test process against a private Tansu broker:

- interleaved changes to one ticket and its comments from concurrent MySQL sessions all arrive (none stale);
- a poison change lands in the dead-letter topic with reason, tenant and position, later changes are applied,
  the count is reported, and replaying the dead letters after the fix applies it;
- a change over the broker's message limit is claim-checked and indexed, never lost;
- a re-snapshot through Kafka (TRUNCATE, a table swap) removes the rows gone from the source.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from kafka_support import CLEAN, execute, kafka, read_all, running, tansu, wait_marks  # noqa: F401
from support import compare_index_with_db
from workload import DATA

from searchcore.dbconfig import MySQLSettings
from syncer.kafka_bus import KafkaSettings
from syncer.kafka_indexer import KafkaIndexer
from syncer.kafka_replay import replay_dead_letters
from syncer.kafka_tailer import KafkaTailer
from syncer.load import load_corpora
from syncer.settings import SyncSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATA / "medical_dialogue.csv").exists(), reason=f"real corpora not found in {DATA}"),
]


def test_concurrent_sessions_poison_replay_and_oversized(fresh_db: MySQLSettings, tmp_path: Path,
                                                         kafka: KafkaSettings) -> None:  # noqa: F811
    load_corpora(fresh_db, DATA, limit_per_file=20)
    kafka = replace(kafka, max_message_bytes=100_000, claim_dir=tmp_path / "claims")
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), kafka)
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, kafka, member="solo")
    with running(tailer.run, indexer.run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        # 1. two sessions interleave commits on one ticket (subject) and its comments
        tenant, ticket = 1, 900_001
        execute(fresh_db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                          "VALUES (%s,%s,'C-1','开始','并发')", (tenant, ticket))

        def ticket_session() -> None:
            for i in range(150):
                execute(fresh_db, "UPDATE tickets SET subject=%s WHERE tenant_id=%s AND id=%s",
                        (f"第{i}次修改", tenant, ticket))

        def comment_session() -> None:
            for i in range(150):
                execute(fresh_db, "INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) VALUES (%s,%s,%s,%s)",
                        (tenant, 800_000 + i, ticket, f"回复{i}"))
                if i % 3 == 0:
                    execute(fresh_db, "UPDATE ticket_comments SET body=%s WHERE tenant_id=%s AND id=%s",
                            (f"改过的回复{i}", tenant, 800_000 + i))

        sessions = [threading.Thread(target=ticket_session), threading.Thread(target=comment_session)]
        for s in sessions:
            s.start()
        for s in sessions:
            s.join()
        # 2. a poison change (a tag link to a tag that does not exist), then a normal change after it
        execute(fresh_db, "INSERT INTO ticket_tags (tenant_id, ticket_id, tag_id) VALUES (%s,%s,%s)",
                (tenant, ticket, 987_654))
        execute(fresh_db, "UPDATE tickets SET status='solved' WHERE tenant_id=%s AND id=%s", (tenant, ticket))
        # 3. a change far over the broker's message limit
        big = "超大工单正文" * 60_000
        execute(fresh_db, "INSERT INTO tickets (tenant_id, id, ticket_number, subject, description) "
                          "VALUES (%s,%s,'BIG-1','超大',%s)", (tenant, 900_002, big))
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        # every change is there (the last committed subject, all 150 comments, the status after the poison)
        assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN
        assert list((tmp_path / "claims").glob("*.json")), "the big change was not claim-checked"
        assert indexer.counts["dead_lettered"] == 1
        letters = read_all(kafka, kafka.dlq_topic)
        assert len(letters) == 1
        letter = letters[0]
        assert "tags row 987654 of tenant 1 not found" in letter["reason"]
        assert letter["tenant"] == tenant and letter["position"].startswith("mysql-bin.")
        assert json.loads(letter["payload"])["after"]["tag_id"] == 987_654
        # 4. the fix (the tag exists now), then a replay of the dead letters applies the change
        execute(fresh_db, "INSERT INTO tags (tenant_id, id, name) VALUES (%s,%s,'补上的标签')", (tenant, 987_654))
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        problems = compare_index_with_db(fresh_db, settings.state_dir)
        assert [p.split(":")[:2] for p in problems["stale"]] == [["1", "900001"]]   # the tag is still missing
    assert replay_dead_letters(settings, kafka, idle_s=2.0) == {"replayed": 1, "failed": 0}
    assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN


@pytest.mark.parametrize("partitioner", ["tenant", "key"])
def test_resnapshot_through_kafka_removes_rows_gone_from_the_source(fresh_db: MySQLSettings, tmp_path: Path,
                                                                    kafka: KafkaSettings,  # noqa: F811
                                                                    partitioner: str) -> None:
    """TRUNCATE and a shadow-table swap that leaves tickets out make the tailer re-snapshot through Kafka; the
    sweep at the end of the snapshot removes the comments and tickets that are gone (and nothing else) — with
    either partitioner (by key, each partition's sweep covers the documents whose key maps to it)."""
    load_corpora(fresh_db, DATA, limit_per_file=20)
    kafka = replace(kafka, partitioner=partitioner)
    tailer = KafkaTailer(SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer"), kafka)
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    indexer = KafkaIndexer(settings, kafka, member="solo")
    with running(tailer.run, indexer.run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN
        execute(fresh_db, "TRUNCATE TABLE ticket_comments")
        execute(fresh_db, "INSERT INTO ticket_comments (tenant_id, id, ticket_id, body) "
                          "SELECT tenant_id, 7000000 + id, id, '截断之后的回复' FROM tickets WHERE MOD(id, 7) = 0")
        execute(fresh_db, "CREATE TABLE _tickets_new LIKE tickets")
        execute(fresh_db, "INSERT INTO _tickets_new SELECT * FROM tickets WHERE MOD(id, 3) <> 0")
        execute(fresh_db, "RENAME TABLE tickets TO _tickets_old, _tickets_new TO tickets")
        execute(fresh_db, "UPDATE tickets SET subject='交换之后' WHERE MOD(id, 5) = 0")
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        problems = compare_index_with_db(fresh_db, settings.state_dir)
        assert problems == CLEAN, {k: v[:5] for k, v in problems.items()}
    assert indexer.counts["dead_lettered"] == 0


def test_a_dead_lettered_snapshot_row_is_not_swept_away(fresh_db: MySQLSettings, tmp_path: Path,
                                                        kafka: KafkaSettings) -> None:  # noqa: F811
    """A snapshot row the indexer rejects (its document over the size limit) was republished, then rejected: the
    snapshot's sweep must not take it for a row gone from the source and delete the ticket. It stays (stale) and
    is held until the dead-letter replay refreshes it."""
    from syncer.kafka_dead_letters import held_tickets

    load_corpora(fresh_db, DATA, limit_per_file=10)
    tailer_settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "tailer")
    settings = SyncSettings(source=fresh_db, state_dir=tmp_path / "index")
    with running(KafkaTailer(tailer_settings, kafka).run, KafkaIndexer(settings, kafka, member="a").run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN
    execute(fresh_db, "UPDATE tickets SET description=REPEAT('超长的描述', 8000) WHERE tenant_id=1 AND id=2")
    small = replace(settings, max_document_bytes=20_000)
    tailer = KafkaTailer(tailer_settings, kafka)
    tailer.request_resnapshot("test")
    with running(tailer.run, KafkaIndexer(small, kafka, member="b").run):
        wait_marks(fresh_db, settings.state_dir, kafka.partitions)
        problems = compare_index_with_db(fresh_db, settings.state_dir)
    assert problems["missing"] == [] and [p.split(":")[:2] for p in problems["stale"]] == [["1", "2"]], problems
    assert (1, 2) in held_tickets(settings.state_dir)
    assert replay_dead_letters(settings, kafka, idle_s=2.0)["replayed"] >= 1    # default limit: it fits now
    assert compare_index_with_db(fresh_db, settings.state_dir) == CLEAN
    assert held_tickets(settings.state_dir) == set()
