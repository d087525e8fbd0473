"""Structured JSON logs with Elastic Common Schema field names (ship to ELK as they are).

Input: standard `logging` records; `extra={"tenant": ..., "position": ...}` and the request context
(`request_context`, set by the API's middleware). Output: one JSON object per line.
Guarantee: every line has `@timestamp`, `log.level`, `log.logger`, `message`, `ecs.version`; the tenant is
`organization.id` (ECS's owner of a multi-tenant resource), the request id `http.request.id`, the binlog
position `ticketsearch.position` (custom fields live under the product's own namespace, as ECS asks).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
from typing import Any

ECS_VERSION = "8.11.0"

# A mutable dict per request (set by the middleware; worker threads see the same dict through context copies).
request_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("request_context",
                                                                                        default=None)


class EcsJsonFormatter(logging.Formatter):
    def __init__(self, service: str = "ticketsearch") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "@timestamp": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
            "ecs.version": ECS_VERSION,
            "service.name": self.service,
            "process.pid": record.process,
        }
        ctx = request_context.get()
        if ctx:
            if ctx.get("request_id"):
                out["http.request.id"] = ctx["request_id"]
            if ctx.get("tenant") is not None:
                out["organization.id"] = str(ctx["tenant"])
        tenant = getattr(record, "tenant", None)
        if tenant is not None:
            out["organization.id"] = str(tenant)
        position = getattr(record, "position", None)
        if position is not None:
            out["ticketsearch.position"] = str(position)
        for key in ("http.request.method", "url.path", "http.response.status_code", "event.duration",
                    "user.id", "event.action"):
            value = getattr(record, key.replace(".", "_"), None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["error.type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            out["error.message"] = str(record.exc_info[1])
            out["error.stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: int, *, json_logs: bool | None = None, service: str = "ticketsearch") -> None:
    """JSON (ECS) logs when `json_logs` or env TICKETSEARCH_LOG_FORMAT=json; plain text otherwise."""
    if json_logs is None:
        json_logs = os.environ.get("TICKETSEARCH_LOG_FORMAT", "").lower() == "json"
    handler = logging.StreamHandler()
    if json_logs:
        handler.setFormatter(EcsJsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
