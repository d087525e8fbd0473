"""Golden tests: the requests the Elasticsearch backend sends equal the hand-written ones in
tests/golden/elasticsearch/ (written from the reference docs), and the documented responses are handled.

Input: the real elasticsearch client over a recording node (no server). Output: assertions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping, mapping_versions
from searchcore.documents import Part, StoredTicket
from searchcore.elastic_backend import ElasticBackend, ElasticConfig
from searchcore.elastic_mapping import IndexName
from searchcore.elastic_recording import RecordedRequest, Recorder, default_responder
from searchcore.elastic_search import FieldFilter, SearchPlan, SortKey

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "elasticsearch"
ANALYZER = Analyzer(AnalyzerConfig())


def golden(name: str) -> dict[str, Any]:
    data = json.loads((GOLDEN / name).read_text("utf-8"))
    assert data.get("reference"), f"{name} must name the reference page(s) it follows"
    return dict(data)


def expected_request(name: str) -> dict[str, Any]:
    text = (GOLDEN / name).read_text("utf-8").replace("{{analyzer_identity}}", ANALYZER.identity)
    return dict(json.loads(text)["request"])


def responder_for(routes: dict[tuple[str, str], tuple[int, Any]]) -> Any:
    def respond(request: RecordedRequest) -> tuple[int, Any]:
        for (method, suffix), answer in routes.items():
            if request.method == method and request.path.endswith(suffix):
                return answer
        return default_responder(request)
    return respond


def backend(version: int = 1, routes: dict[tuple[str, str], tuple[int, Any]] | None = None,
            shared: frozenset[int] = frozenset({9})) -> tuple[ElasticBackend, Recorder]:
    recorder = Recorder(responder_for(routes or {}))
    b = ElasticBackend(recorder.client(), load_mapping("tickets", version), ANALYZER,
                       ElasticConfig(prefix="ts", shared_tenants=shared))
    return b, recorder


def as_request(r: RecordedRequest) -> dict[str, Any]:
    return {"method": r.method, "path": r.path, "params": r.params, "body": r.body}


def strip_meta(req: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in req.items() if k in ("method", "path", "params", "body")}


def test_every_golden_file_names_its_reference_page() -> None:
    files = sorted(GOLDEN.glob("*.json"))
    assert len(files) >= 15
    for path in files:
        refs = json.loads(path.read_text("utf-8"))["reference"]
        assert refs and all(r.startswith("https://www.elastic.co/docs/") for r in refs), path.name


@pytest.mark.parametrize("version", mapping_versions("tickets"))
def test_index_creation_for_each_mapping_version(version: int) -> None:
    b, rec = backend(version)
    b.ensure_tenant(7)
    created = [r for r in rec.requests if r.method == "PUT" and r.path.startswith("/ts-tickets-v")]
    assert len(created) == 1
    assert as_request(created[0]) == strip_meta(expected_request(f"create_index_tickets_v{version}.json"))


def test_first_generation_gets_the_tenant_alias() -> None:
    b, rec = backend()
    b.ensure_tenant(7)
    assert [r.summary() for r in rec.requests] == ["HEAD /_alias/ts-tickets-t7", "PUT /ts-tickets-v1-t7-g1",
                                                    "POST /_aliases"]
    assert as_request(rec.requests[-1]) == strip_meta(expected_request("alias_create_dedicated.json"))


def test_shared_tenant_alias_is_filtered_and_routed() -> None:
    b, rec = backend()
    b.ensure_tenant(9)
    assert as_request(rec.requests[-1]) == strip_meta(expected_request("alias_create_shared.json"))


def _ticket_42() -> StoredTicket:
    row = {"ticket_number": "T-1001", "subject": "printer paper jam", "body": "打印机 卡纸", "status": "Open",
           "priority": "high", "category": None, "channel": "email", "requester_id": 11, "assignee_id": None,
           "order_number": "SO-77", "custom_fields": {"model": "X1"},
           "created_at": "2024-01-01 00:00:00", "updated_at": "2024-01-02 00:00:00"}
    return StoredTicket(7, 42, Part(5000, row), {"comments": {"1": Part(4000, {"text": "please restart"})},
                                                 "tags": {"3": Part(4500, {"tag_id": 3, "value": "Hardware"})}})


def test_bulk_index_lines_with_external_versions_and_tombstones() -> None:
    b, rec = backend(routes={("HEAD", "/_alias/ts-tickets-t7"): (200, None)})
    b.write(7, [_ticket_42(), StoredTicket(7, 43, Part(5100, None))], None)
    bulk = [r for r in rec.requests if r.path == "/_bulk"]
    assert len(bulk) == 1
    assert as_request(bulk[0]) == strip_meta(expected_request("bulk_index_external.json"))


def test_bulk_lines_of_a_shared_tenant_carry_its_routing() -> None:
    b, rec = backend(routes={("HEAD", "/_alias/ts-tickets-t9"): (200, None)})
    b.write(9, [StoredTicket(9, 1, Part(700, None))], None)
    bulk = [r for r in rec.requests if r.path == "/_bulk"]
    assert as_request(bulk[0]) == strip_meta(expected_request("bulk_shared_tenant.json"))


def test_bulk_delete_lines_purge_only_tombstones_below_the_replay_horizon() -> None:
    b, rec = backend()
    ops = b.purge_ops(7, [(43, 5100), (44, 8999)], safe_below=9000)
    b.run(7, ops)
    assert as_request(rec.requests[-1]) == strip_meta(expected_request("bulk_delete_external.json"))


def test_alias_swap_is_one_atomic_request() -> None:
    b, rec = backend(2, routes={("GET", "/_alias/ts-tickets-t7"): (200, golden("get_alias_response.json")["body"])})
    b.swap_alias(7, IndexName.parse("ts-tickets-v2-t7-g2"), drop_old=True)
    assert as_request(rec.requests[-1]) == strip_meta(expected_request("alias_swap.json"))


def test_alias_move_from_shared_to_dedicated_never_drops_the_shared_index() -> None:
    alias = {"filter": {"term": {"tenant_id": 9}}, "index_routing": "9", "search_routing": "9"}
    current = {"ts-tickets-v1-shared-g1": {"aliases": {"ts-tickets-t9": alias}}}
    b, rec = backend(routes={("GET", "/_alias/ts-tickets-t9"): (200, current)})
    b.swap_alias(9, IndexName.parse("ts-tickets-v1-t9-g2"), drop_old=True)
    assert as_request(rec.requests[-1]) == strip_meta(expected_request("alias_move_shared_to_dedicated.json"))


def test_new_generation_follows_the_current_one() -> None:
    b, rec = backend(2, routes={("GET", "/_alias/ts-tickets-t7"): (200, golden("get_alias_response.json")["body"])})
    index = b.new_generation(7)
    assert index.name == "ts-tickets-v2-t7-g2"
    assert rec.requests[-1].summary() == "PUT /ts-tickets-v2-t7-g2"


FULL_PLAN = SearchPlan(
    text="printer jam",
    filters=(FieldFilter("status", "eq", "open"), FieldFilter("priority", "gte", "high"),
             FieldFilter("created_at", "gt", "2024-01-01"), FieldFilter("channel", "ne", "email")),
    facets=("status", "priority"), facet_size=5, sort=(SortKey("updated_at", True),), size=20,
    search_after=(1704153600000, 42),
)


def test_search_with_text_filters_facets_highlight_sort_and_search_after() -> None:
    b, rec = backend(routes={("HEAD", "/_alias/ts-tickets-t7"): (200, None)})
    b.search_plan(7, FULL_PLAN)
    search = [r for r in rec.requests if r.path.endswith("/_search")]
    assert as_request(search[0]) == strip_meta(expected_request("search_request.json"))


def test_search_response_handling() -> None:
    response = golden("search_response.json")
    b, rec = backend(routes={("HEAD", "/_alias/ts-tickets-t7"): (200, None),
                             ("POST", "/_search"): (response["status"], response["body"])})
    out = b.search_plan(7, SearchPlan(text="printer jam", facets=("status", "priority"), size=1,
                                      sort=(SortKey("updated_at", True),)))
    assert out.result.total == 2
    assert out.result.query_tokens == ["printer", "jam"]
    hit = out.result.hits[0]
    assert hit.ticket_id == 42 and hit.score == 0.0 and hit.tags == ["Hardware"] and hit.comment_count == 1
    by_field = {(h.field, h.comment_key): h.fragment for h in hit.highlights}
    assert by_field[("subject", None)] == "<em>Printer</em> paper <em>jam</em>"   # on the original text
    assert by_field[("comments", "1")] == "please restart the <em>printer</em>"
    assert out.facets == {"status": [("open", 2)], "priority": [("high", 1), ("urgent", 1)]}
    assert out.next_after == (1704153600000, 42)


def test_exact_keyword_clauses_and_offset_page_for_a_shared_tenant() -> None:
    b, rec = backend(routes={("HEAD", "/_alias/ts-tickets-t9"): (200, None)})
    b.search_plan(9, SearchPlan(text="SO-77", size=10, offset=10))
    req = [r for r in rec.requests if r.path.endswith("/_search")][0]
    exp = expected_request("search_exact_request.json")
    assert (req.method, req.path, req.params) == (exp["method"], exp["path"], exp["params"])
    contains = exp["body_contains"]
    assert req.body["query"]["bool"]["filter"] == contains["filter"]
    matchers = req.body["query"]["bool"]["must"][0]["bool"]["should"]
    for clause in contains["exact"]:
        assert clause in matchers
    assert req.body["sort"] == contains["sort"]
    assert req.body["size"] == contains["size"] and req.body["from"] == contains["from"]


def test_mget_response_handling_keeps_tombstones_for_read_modify_write() -> None:
    response = golden("mget_response.json")
    b, rec = backend(routes={("POST", "/_mget"): (response["status"], response["body"])})
    found = b.load(7, [42, 43, 44])
    assert sorted(found) == [42, 43]
    assert found[42].visible and found[42].version == 5000
    assert not found[43].visible and found[43].version == 5100
    assert rec.requests[-1].body == {"ids": ["7:42", "7:43", "7:44"]}


def test_count_response_handling() -> None:
    response = golden("count_response.json")
    b, _ = backend(routes={("POST", "/_count"): (response["status"], response["body"])})
    assert b.count(7, SearchPlan(text="")) == 12
