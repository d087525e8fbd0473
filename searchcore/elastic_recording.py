"""A recording transport node for the Elasticsearch client: request building without a server.

Input: the requests the official client sends (method, path, query parameters, JSON or NDJSON body) and a
responder that answers each one (status, JSON body).
Output: RecordedRequests in order, with the body decoded (NDJSON as a list of objects).
Guarantee: the client under test is the real `elasticsearch.Elasticsearch` with its real serializer and
parameter handling; only the HTTP round trip is replaced. It is used by unit tests (golden request bodies,
bulk classification) and never pretends to be a live cluster: the default responder answers "nothing here".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders, NodeConfig
from elastic_transport._node._base import NodeApiResponse
from elasticsearch import Elasticsearch


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    body: Any                      # decoded JSON; a list of objects for NDJSON; None without a body

    def summary(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")


Responder = Callable[[RecordedRequest], tuple[int, Any]]


def default_responder(request: RecordedRequest) -> tuple[int, Any]:
    """Empty-cluster answers: no aliases, no documents; writes acknowledged."""
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    if request.method == "HEAD":
        return 404, None
    if last == "_bulk":
        items = []
        lines = request.body or []
        i = 0
        while i < len(lines):
            op = next(iter(lines[i]))
            meta = lines[i][op]
            items.append({op: {"_index": meta.get("_index"), "_id": meta.get("_id"),
                               "_version": meta.get("version", 1), "result": "created" if op != "delete"
                               else "deleted", "status": 201 if op != "delete" else 200}})
            i += 1 if op == "delete" else 2
        return 200, {"took": 1, "errors": False, "items": items}
    if last == "_mget":
        ids = (request.body or {}).get("ids", [])
        return 200, {"docs": [{"_index": "x", "_id": i, "found": False} for i in ids]}
    if last == "_search":
        return 200, {"took": 1, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
    if last == "_count":
        return 200, {"count": 0}
    if last == "_alias" or "/_alias/" in request.path:
        return 404, {"error": "alias missing", "status": 404}
    if request.method == "GET":
        return 404, {"_index": "x", "_id": last, "found": False}
    return 200, {"acknowledged": True}


@dataclass
class Recorder:
    responder: Responder = default_responder
    requests: list[RecordedRequest] = field(default_factory=list)

    def client(self) -> Elasticsearch:
        recorder = self

        class _Node(RecordingNode):
            pass

        _Node.recorder = recorder
        return Elasticsearch("http://recorded.invalid:9200", node_class=_Node, max_retries=0)


def _decode(body: bytes | None, content_type: str) -> Any:
    if not body:
        return None
    text = body.decode("utf-8")
    if "ndjson" in content_type:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class RecordingNode(BaseNode):
    recorder: Recorder

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)

    def perform_request(self, method: str, target: str, body: bytes | None = None,
                        headers: HttpHeaders | None = None, request_timeout: Any = None) -> NodeApiResponse:
        parts = urlsplit(target)
        content_type = "" if headers is None else str(headers.get("content-type", ""))
        request = RecordedRequest(method, parts.path, dict(parse_qsl(parts.query)), _decode(body, content_type))
        self.recorder.requests.append(request)
        status, payload = self.recorder.responder(request)
        raw = b"" if payload is None else json.dumps(payload).encode("utf-8")
        meta = ApiResponseMeta(status=status, http_version="1.1",
                               headers=HttpHeaders({"content-type": "application/json",
                                                    "x-elastic-product": "Elasticsearch"}),
                               duration=0.0, node=self.config)
        return NodeApiResponse(meta, raw)
