"""Input limits and the request guard of the query API.

Input: parsed queries (clause count) and every HTTP request (ASGI). Output: `RequestRejected` (a 4xx JSON
error with a code) for queries over the limits; a 503 `timeout` JSON error for requests slower than the
configured timeout; a 500 `internal` JSON error (with the request id, never a stack trace) for anything
unexpected; an `X-Request-ID` header on every response and one ECS access-log line per request.
Guarantee: no client ever receives a stack trace or a non-JSON error from this app.
Query length, page size and offset limits are in ApiSettings and checked where the parameters are read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from searchcore.ecslog import request_context
from searchcore.query import And, Node, Not, Or

log = logging.getLogger("queryapi.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestRejected(Exception):
    """A request over a limit or otherwise invalid: answered as {"error": {code, message, where}}."""

    def __init__(self, status: int, code: str, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.where = where

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.where is not None:
            err["where"] = self.where
        return {"error": err}


def count_clauses(node: Node) -> int:
    """Every node of the query tree counts once (words, phrases, filters, AND/OR/NOT)."""
    if isinstance(node, And | Or):
        return 1 + sum(count_clauses(c) for c in node.children)
    if isinstance(node, Not):
        return 1 + count_clauses(node.child)
    return 1


def check_clauses(node: Node, max_clauses: int) -> None:
    n = count_clauses(node)
    if n > max_clauses:
        raise RequestRejected(400, "too_many_clauses",
                              f"the query has {n} clauses; at most {max_clauses} are allowed", where="q")


Observer = Callable[[str, str, int, float], None]   # (endpoint template, method, status, seconds)


class RequestGuard:
    """Pure ASGI middleware: request id, timeout, catch-all JSON 500, access log, latency observer."""

    def __init__(self, app: Any, timeout_s: float, observer: Observer | None = None) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.observer = observer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        ctx: dict[str, Any] = {"request_id": request_id, "tenant": None}
        token = request_context.set(ctx)
        state = {"started": False, "status": 500}
        began = time.monotonic()

        async def guarded_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if state["started"]:
                    return
                state["started"] = True
                state["status"] = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            elif state.get("closed"):
                return
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, guarded_send), timeout=self.timeout_s)
        except TimeoutError:
            log.warning("request timed out after %.1f s", self.timeout_s)
            await self._error(guarded_send, state, 503, "timeout",
                              f"the request took longer than {self.timeout_s:g} s; narrow the query or retry",
                              request_id)
        except Exception:  # noqa: BLE001 - answered as JSON; the trace goes to the log only
            log.exception("unhandled error")
            await self._error(guarded_send, state, 500, "internal", "internal error", request_id)
        finally:
            seconds = time.monotonic() - began
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            status = int(state["status"])
            log.info("%s %s -> %d", scope.get("method"), scope.get("path"), status,
                     extra={"url_path": scope.get("path"),
                            "http_request_method": scope.get("method"), "http_response_status_code": status,
                            "event_duration": int(seconds * 1e9), "tenant": ctx.get("tenant")})
            if self.observer is not None:
                self.observer(endpoint, str(scope.get("method")), status, seconds)
            request_context.reset(token)

    @staticmethod
    async def _error(send: Any, state: dict[str, Any], status: int, code: str, message: str,
                     request_id: str) -> None:
        if state["started"]:
            state["closed"] = True   # headers already sent: the client sees a truncated response, never a trace
            return
        body = json.dumps({"error": {"code": code, "message": message, "request_id": request_id}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        state["status"] = status
        await send({"type": "http.response.body", "body": body})
