"""Bulk item classification and retries, driven by the hand-written sample responses in
tests/golden/elasticsearch/ (ok, 409, 429, 400 mapper_parsing_exception, 5xx); and the replay rule on the
request stream: older changes carry lower external versions, deletes are versioned tombstones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore.documents import Part, StoredTicket
from searchcore.elastic_backend import BulkRejected, ElasticBackend, ElasticConfig
from searchcore.elastic_bulk import BulkOp, BulkRetryExhausted, RejectedDocument, RetryPolicy, classify_item, run_bulk
from searchcore.elastic_recording import RecordedRequest, Recorder, default_responder

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "elasticsearch"


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((GOLDEN / name).read_text("utf-8")))


def op(i: int) -> BulkOp:
    return BulkOp({"index": {"_index": "ts-tickets-t7", "_id": f"7:{i}", "version": 100 + i,
                             "version_type": "external_gte"}}, {"tenant_id": 7, "ticket_id": i}, 7, i, 100 + i)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_items_are_classified_by_their_own_status() -> None:
    items = sample("bulk_response_mixed.json")["body"]["items"]
    kinds = [(classify_item(i).kind, classify_item(i).error_type) for i in items]
    assert kinds == [("written", ""), ("stale", "version_conflict_engine_exception"),
                     ("retry", "es_rejected_execution_exception"), ("rejected", "mapper_parsing_exception"),
                     ("retry", "unavailable_shards_exception"), ("rejected", "document_parsing_exception")]


def test_only_the_failed_subset_is_retried_with_backoff() -> None:
    answers = [sample("bulk_response_mixed.json")["body"], sample("bulk_response_retry.json")["body"]]
    sent: list[list[dict[str, Any]]] = []

    def send(lines: list[dict[str, Any]]) -> dict[str, Any]:
        sent.append(lines)
        return answers[len(sent) - 1]

    sleeps = Sleeps()
    report = run_bulk([op(i) for i in range(1, 7)], send, RetryPolicy(initial_backoff_s=0.5, sleep=sleeps))
    assert [line["index"]["_id"] for line in sent[1] if "index" in line] == ["7:3", "7:5"]
    assert len(sent[1]) == 4                                   # action + source of each retried item only
    assert (report.written, report.stale, report.attempts, report.retried_items) == (3, 1, 2, 2)
    assert sleeps.calls == [0.5]
    rejected = {r.doc_id: r for r in report.rejected}
    assert sorted(rejected) == ["7:4", "7:6"]
    r4 = rejected["7:4"]
    assert (r4.status, r4.error_type, r4.tenant_id, r4.ticket_id, r4.version) == (400, "mapper_parsing_exception",
                                                                                  7, 4, 104)
    assert "created_at" in r4.reason and r4.source == {"tenant_id": 7, "ticket_id": 4}


def test_retries_run_out_with_a_structured_error() -> None:
    body = sample("bulk_response_mixed.json")["body"]
    only_429 = {"errors": True, "items": [body["items"][2]]}
    sleeps = Sleeps()
    with pytest.raises(BulkRetryExhausted) as info:
        run_bulk([op(3)], lambda lines: only_429, RetryPolicy(max_attempts=4, initial_backoff_s=1.0, sleep=sleeps),
                 tenant_id=7)
    assert info.value.attempts == 4 and info.value.tenant_id == 7
    assert info.value.failing[0][:2] == ("7:3", 429)
    assert sleeps.calls == [1.0, 2.0, 4.0]


def test_a_whole_request_429_is_retried_through_the_client() -> None:
    error = sample("error_429_response.json")
    calls: list[RecordedRequest] = []

    def respond(request: RecordedRequest) -> tuple[int, Any]:
        calls.append(request)
        if len(calls) == 1:
            return error["status"], error["body"]
        return default_responder(request)

    recorder = Recorder(respond)
    backend = ElasticBackend(recorder.client(), load_mapping("tickets", 1), Analyzer(AnalyzerConfig()),
                             ElasticConfig(retry=RetryPolicy(sleep=Sleeps())))
    report = backend.run(7, [op(1), op(2)])
    assert (report.written, report.attempts) == (2, 2)
    assert calls[0].body == calls[1].body


def _backend(respond: Any, dead: list[RejectedDocument] | None = None) -> tuple[ElasticBackend, Recorder]:
    recorder = Recorder(respond)
    sink = None if dead is None else dead.append
    return ElasticBackend(recorder.client(), load_mapping("tickets", 1), Analyzer(AnalyzerConfig()),
                          ElasticConfig(retry=RetryPolicy(sleep=Sleeps())), dead_letter=sink), recorder


def _alias_exists(request: RecordedRequest) -> tuple[int, Any] | None:
    if request.method == "HEAD" and request.path == "/_alias/ts-tickets-t7":
        return 200, None
    return None


def test_rejected_documents_go_to_the_dead_letter_sink_and_the_position_still_advances() -> None:
    mixed = sample("bulk_response_mixed.json")["body"]

    def respond(request: RecordedRequest) -> tuple[int, Any]:
        if request.path == "/_bulk":
            return 200, {"errors": True, "items": [mixed["items"][0], mixed["items"][3]]}
        return _alias_exists(request) or default_responder(request)

    dead: list[RejectedDocument] = []
    backend, recorder = _backend(respond, dead)
    docs = [StoredTicket(7, 1, Part(101, {"subject": "a"})), StoredTicket(7, 4, Part(104, {"subject": "b"}))]
    from searchcore.positions import BinlogPosition
    out = backend.write(7, docs, BinlogPosition("mysql-bin.000003", 900))
    assert (out.written, out.stale) == (1, 0)
    assert [d.doc_id for d in dead] == ["7:4"] and dead[0].error_type == "mapper_parsing_exception"
    meta = [r for r in recorder.requests if r.method == "PUT" and "__meta__" in r.path]
    assert meta and meta[-1].body["meta"]["applied"] == {"file": "mysql-bin.000003", "offset": 900, "gtid": None}


def test_without_a_sink_a_rejection_raises_and_the_position_is_not_recorded() -> None:
    mixed = sample("bulk_response_mixed.json")["body"]

    def respond(request: RecordedRequest) -> tuple[int, Any]:
        if request.path == "/_bulk":
            return 200, {"errors": True, "items": [mixed["items"][3]]}
        return _alias_exists(request) or default_responder(request)

    backend, recorder = _backend(respond)
    with pytest.raises(BulkRejected) as info:
        backend.write(7, [StoredTicket(7, 4, Part(104, {"subject": "b"}))], None)
    assert info.value.tenant_id == 7 and info.value.rejected[0].status == 400
    assert not [r for r in recorder.requests if "__meta__" in r.path and r.method == "PUT"]


def test_replayed_older_changes_carry_lower_external_versions_and_tombstones_are_documents() -> None:
    """Acceptance 3 on the ES request stream: newer doc and a deletion first, then a replay of older changes."""
    replay_answer = sample("bulk_response_replay_conflicts.json")["body"]
    state = {"bulks": 0}

    def respond(request: RecordedRequest) -> tuple[int, Any]:
        if request.path == "/_bulk":
            state["bulks"] += 1
            if state["bulks"] == 2:
                return 200, replay_answer
        return _alias_exists(request) or default_responder(request)

    backend, recorder = _backend(respond)
    newer = StoredTicket(7, 42, Part(5000, {"subject": "new"}))
    deleted = StoredTicket(7, 43, Part(5100, None))
    first = backend.write(7, [newer, deleted], None)
    older = StoredTicket(7, 42, Part(4000, {"subject": "old"}))
    resurrect = StoredTicket(7, 43, Part(4200, {"subject": "insert replayed"}))
    second = backend.write(7, [older, resurrect], None)
    assert (first.written, first.stale) == (2, 0)
    assert (second.written, second.stale) == (0, 2)
    bulks = [r.body for r in recorder.requests if r.path == "/_bulk"]
    actions = [line for body in bulks for line in body[0::2]]
    assert all(next(iter(a)) == "index" for a in actions)                # never a bare delete
    assert [(a["index"]["_id"], a["index"]["version"], a["index"]["version_type"]) for a in actions] == [
        ("7:42", 5000, "external_gte"), ("7:43", 5100, "external_gte"), ("7:42", 4000, "external_gte"),
        ("7:43", 4200, "external_gte")]
    tombstone = bulks[0][3]
    assert tombstone["visible"] is False and tombstone["version"] == 5100
    assert tombstone["stored"]["ticket"] == [5100, None]
