"""Backend fixtures for the contract suite: the embedded backend always, Elasticsearch when
TICKETSEARCH_ES_URL names a live Elasticsearch 9 cluster (otherwise those runs are skipped, saying why)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzers import Analyzer, AnalyzerConfig
from mappings import load_mapping
from searchcore.backend import SearchBackend

ES_URL_VAR = "TICKETSEARCH_ES_URL"
ES_SKIP_REASON = (f"{ES_URL_VAR} is not set: the Elasticsearch run of the backend contract suite is skipped "
                  f"(set it to an Elasticsearch 9 URL, e.g. http://localhost:9200 from docker-compose.yml)")
_SKIPPED: list[str] = []


@pytest.fixture(params=["embedded", "elasticsearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchBackend]:
    analyzer = Analyzer(AnalyzerConfig())
    mapping = load_mapping("tickets", 1)
    if request.param == "embedded":
        from searchcore.embedded import EmbeddedBackend

        embedded = EmbeddedBackend(tmp_path / "index", mapping, analyzer, writable=True)
        yield embedded
        embedded.close()
        return
    url = os.environ.get(ES_URL_VAR)
    if not url:
        _SKIPPED.append(request.node.nodeid)
        pytest.skip(ES_SKIP_REASON)
    from elasticsearch import Elasticsearch

    from searchcore.elastic_backend import ElasticBackend, ElasticConfig

    client = Elasticsearch(url, request_timeout=30)
    es = ElasticBackend(client, mapping, analyzer, ElasticConfig(prefix=f"tsct{uuid.uuid4().hex[:8]}",
                                                                 shared_tenants=frozenset({902}),
                                                                 refresh="wait_for"))
    try:
        yield es
    finally:
        es.drop_tenant_indices()
        client.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SKIPPED:
        terminalreporter.write_line(f"contract suite: {len(_SKIPPED)} Elasticsearch run(s) skipped: {ES_SKIP_REASON}")
