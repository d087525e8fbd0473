"""Acceptance (issue 8): a schemathesis-style fuzz of the app's own OpenAPI schema (hypothesis drives it; the
schemathesis package itself is not a dependency): every operation, random and schema-shaped parameters, valid,
missing, garbage and other-role credentials. No response is a 5xx; every error is JSON with a code."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queryapi.app import create_app
from queryapi.auth import create_key
from queryapi.settings import ApiSettings
from searchcore.dbconfig import MySQLSettings
from syncer.load import load_demo
from syncer.service import SyncService
from syncer.settings import SyncSettings

pytestmark = pytest.mark.integration

junk = st.one_of(st.text(max_size=40), st.integers(-10**12, 10**12).map(str), st.sampled_from(
    ["", "退款", "status:open", "\"unclosed", "a OR", "-", "priority>=high", "created>2024-01-01", "0-1-5",
     "x" * 600, "%00", "../../etc", "1e309", "true", "null"]))


def operations(schema: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    out = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            out.append((method.upper(), path, op.get("parameters", [])))
    return out


def value_for(param: dict[str, Any]) -> st.SearchStrategy[str]:
    sch = param.get("schema", {})
    options: list[st.SearchStrategy[str]] = [junk]
    if "enum" in sch:
        options.append(st.sampled_from([str(v) for v in sch["enum"]]))
    for alt in sch.get("anyOf", [sch]):
        if alt.get("type") == "integer":
            options.append(st.integers(alt.get("minimum", -5), alt.get("maximum", 10**6)).map(str))
    return st.one_of(*options)


@pytest.fixture(scope="module")
def fuzz_env(mariadb: MySQLSettings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from dataclasses import replace

    from syncer.load import ensure_schema

    db = replace(mariadb, database="schema_fuzz")
    ensure_schema(db)
    load_demo(db)
    state = tmp_path_factory.mktemp("fuzz-state")
    service = SyncService(replace(SyncSettings(source=db, state_dir=state), tailer_process=False))
    service.ensure_snapshot()
    service.close()
    client = TestClient(create_app(ApiSettings(source=db, state_dir=state, key_cache_seconds=60,
                                               wait_for_max_s=0.2)), raise_server_exceptions=False)
    creds = {"agent": create_key(db, 1, "agent"), "admin": create_key(db, 1, "admin"),
             "platform": create_key(db, 2, "admin", platform_admin=True), "garbage": "tsk_garbage",
             "jwt_garbage": "eyJ.eyJ.sig", "none": ""}
    return client, creds


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_no_5xx_and_every_error_is_json_with_a_code(fuzz_env: Any, data: st.DataObject) -> None:
    client, creds = fuzz_env
    method, path, params = data.draw(st.sampled_from(operations(client.app.openapi())))
    who = data.draw(st.sampled_from(sorted(creds)))
    query: dict[str, str] = {}
    real_path = path
    for p in params:
        if p["in"] == "path":
            raw = data.draw(value_for(p)) or "0"
            real_path = real_path.replace("{" + p["name"] + "}", quote(raw, safe=""))
        elif p["in"] == "query" and (p.get("required") or data.draw(st.booleans())):
            query[p["name"]] = data.draw(value_for(p))
    headers = {"Authorization": f"Bearer {creds[who]}"} if creds[who] else {}
    body = data.draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(["tenant_id", "q", "entries", "x"]),
                                                          junk, max_size=3)))
    resp = client.request(method, real_path, params=query, headers=headers, json=body)
    assert resp.status_code < 500, (method, real_path, query, who, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        err = resp.json()["error"]
        assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str)
        assert "Traceback" not in resp.text
