"""Every read request the Elasticsearch backend builds names the tenant's alias and filters on the tenant;
for a tenant in a shared index it also carries the tenant's routing (the alias filter alone would do, but a
request that forgot the alias must still not read another tenant).
"""

from __future__ import annotations

from typing import Any

import pytest

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore.backend import SearchRequest
from searchcore.elastic_backend import ElasticBackend, ElasticConfig
from searchcore.elastic_recording import RecordedRequest, Recorder, default_responder
from searchcore.elastic_search import FieldFilter, SearchPlan


def _respond(request: RecordedRequest) -> tuple[int, Any]:
    if request.method == "HEAD" and request.path.startswith("/_alias/"):
        return 200, None
    return default_responder(request)


def _filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["query"]["bool"]["filter"])


@pytest.mark.parametrize(("tenant", "shared"), [(7, False), (9, True)])
def test_every_read_names_the_tenant_alias_filter_and_routing(tenant: int, shared: bool) -> None:
    recorder = Recorder(_respond)
    backend = ElasticBackend(recorder.client(), load_mapping("tickets", 1), Analyzer(AnalyzerConfig()),
                             ElasticConfig(prefix="ts", shared_tenants=frozenset({9})))
    backend.load(tenant, [1, 2])
    backend.get(tenant, 1)
    backend.state(tenant)
    backend.search(tenant, SearchRequest("打印机 卡纸"))
    backend.search_plan(tenant, SearchPlan(text="x", filters=(FieldFilter("status", "eq", "open"),),
                                           facets=("status",)))
    backend.count(tenant, SearchPlan(text="退款"))
    backend.explain(tenant, 1, SearchPlan(text="printer"))
    alias = f"ts-tickets-t{tenant}"
    reads = list(recorder.requests)
    assert {r.path.rsplit("/", 1)[-1] for r in reads} >= {"_mget", "_search", "_count", f"{tenant}%3A1",
                                                          f"__meta__%3A{tenant}"}
    for r in reads:
        assert r.path == f"/_alias/{alias}" or r.path.startswith(f"/{alias}/"), r.summary()
        if r.method == "HEAD":
            continue
        if shared:
            assert r.params.get("routing") == str(tenant), r.summary()
        else:
            assert "routing" not in r.params, r.summary()
        if r.body is not None and "query" in r.body:
            assert {"term": {"tenant_id": tenant}} in _filters(r.body), r.summary()
            assert {"term": {"visible": True}} in _filters(r.body), r.summary()
        if r.path.endswith("/_mget"):
            assert all(i.startswith(f"{tenant}:") for i in r.body["ids"])
        if "/_explain/" in r.path or "/_doc/" in r.path:
            assert r.path.rsplit("/", 1)[-1] in (f"{tenant}%3A1", f"__meta__%3A{tenant}"), r.summary()


def test_a_hit_of_another_tenant_is_refused() -> None:
    def respond(request: RecordedRequest) -> tuple[int, Any]:
        if request.path.endswith("/_search"):
            hit = {"_id": "8:1", "_score": 1.0, "_source": {"stored": {"tenant_id": 8, "ticket_id": 1,
                                                                        "ticket": [1, {"subject": "x"}],
                                                                        "children": {}}}}
            return 200, {"hits": {"total": {"value": 1, "relation": "eq"}, "hits": [hit]}}
        return _respond(request)

    backend = ElasticBackend(Recorder(respond).client(), load_mapping("tickets", 1), Analyzer(AnalyzerConfig()))
    with pytest.raises(RuntimeError, match="tenant 8"):
        backend.search(7, SearchRequest("x"))
