"""JWT verification, roles, clause limits, GTID freshness parsing and ECS log lines (no services)."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest

from queryapi.auth import AuthError, JwtSettings, JwtVerifier, KeyAuthenticator, Principal, require_admin
from queryapi.freshness import Gtid, gtid_state_covers
from queryapi.limits import RequestRejected, check_clauses, count_clauses
from searchcore.dbconfig import MySQLSettings
from searchcore.ecslog import EcsJsonFormatter, request_context
from searchcore.query import And, Not, Or, Text

SECRET = "unit-test-secret-of-enough-length-32b"
ISS = "https://idp.example"


def token(claims: dict[str, object], key: str = SECRET, alg: str = "HS256") -> str:
    base: dict[str, object] = {"iss": ISS, "exp": int(time.time()) + 60, "tenant_id": 7, "role": "agent"}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm=alg)


def verifier() -> JwtVerifier:
    return JwtVerifier(JwtSettings(ISS, SECRET))


def code_of(tok: str) -> tuple[int, str]:
    with pytest.raises(AuthError) as err:
        verifier().verify(tok)
    return err.value.status, err.value.code


def test_valid_token_gives_tenant_and_role_from_claims() -> None:
    p = verifier().verify(token({"role": "admin", "sub": "alice"}))
    assert p == Principal(7, "admin", "alice", "jwt")


@pytest.mark.parametrize("claims,key,code", [
    ({"exp": int(time.time()) - 5}, SECRET, "expired_credentials"),
    ({"iss": "https://evil.example"}, SECRET, "invalid_credentials"),
    ({}, "another-secret-of-enough-length-32b!", "invalid_credentials"),
    ({"tenant_id": None}, SECRET, "invalid_credentials"),
    ({"tenant_id": "7"}, SECRET, "invalid_credentials"),
    ({"role": "root"}, SECRET, "invalid_credentials"),
    ({"exp": None}, SECRET, "invalid_credentials"),
])
def test_bad_tokens_are_401(claims: dict[str, object], key: str, code: str) -> None:
    assert code_of(token(claims, key)) == (401, code)


def test_tampered_payload_and_alg_none_are_rejected() -> None:
    head, payload, sig = token({}).split(".")
    forged = jwt.encode({"iss": ISS, "exp": int(time.time()) + 60, "tenant_id": 8, "role": "platform_admin"},
                        SECRET).split(".")[1]
    assert code_of(f"{head}.{forged}.{sig}") == (401, "invalid_credentials")
    unsigned = jwt.encode({"iss": ISS, "exp": int(time.time()) + 60, "tenant_id": 7, "role": "admin"}, None,
                          algorithm="none")
    assert code_of(unsigned) == (401, "invalid_credentials")
    with pytest.raises(ValueError):
        JwtSettings(ISS, SECRET, ("none",))


def test_header_forms_and_tokens_without_configuration() -> None:
    auth = KeyAuthenticator(MySQLSettings(), 0, None)
    for header in (None, "", "Basic abc", "Bearer ", "Bearer    "):
        with pytest.raises(AuthError) as err:
            auth.authenticate(header)
        assert err.value.status == 401
    with pytest.raises(AuthError) as err:
        auth.authenticate("Bearer " + token({}))
    assert err.value.code == "invalid_credentials"
    assert KeyAuthenticator(MySQLSettings(), 0, verifier()).authenticate("Bearer " + token({})).tenant_id == 7


def test_roles() -> None:
    agent, admin, platform = Principal(1, "agent"), Principal(1, "admin"), Principal(1, "platform_admin")
    assert not agent.may_administer(1) and admin.may_administer(1) and not admin.may_administer(2)
    assert platform.may_administer(2)
    with pytest.raises(AuthError) as err:
        require_admin(agent)
    assert err.value.status == 403
    require_admin(platform, 99)


def test_clause_limit() -> None:
    node = And((Text("a"), Or((Text("b"), Not(Text("c"))))))
    assert count_clauses(node) == 6
    check_clauses(node, 6)
    with pytest.raises(RequestRejected) as err:
        check_clauses(node, 5)
    assert err.value.status == 400 and err.value.code == "too_many_clauses" and err.value.where == "q"


def test_gtid_parsing_and_coverage() -> None:
    assert Gtid.parse("0-1-42") == Gtid(0, 1, 42)
    for bad in ("", "0-1", "a-b-c", "0-1-2-3", "1;DROP"):
        with pytest.raises(RequestRejected):
            Gtid.parse(bad)
    assert gtid_state_covers("0-1-42", Gtid(0, 1, 42))
    assert gtid_state_covers("1-5-3,0-1-50", Gtid(0, 2, 45))     # another server of the same domain
    assert not gtid_state_covers("0-1-41", Gtid(0, 1, 42))
    assert not gtid_state_covers("1-1-99", Gtid(0, 1, 42))        # other domain
    assert not gtid_state_covers(None, Gtid(0, 1, 1))


def test_ecs_log_line_has_tenant_position_and_request_id() -> None:
    token_ = request_context.set({"request_id": "req-1", "tenant": 3})
    try:
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
        record.position = "mariadb-bin.000001:42"
        line = json.loads(EcsJsonFormatter().format(record))
    finally:
        request_context.reset(token_)
    assert line["message"] == "hello world" and line["log.level"] == "warning" and "@timestamp" in line
    assert line["http.request.id"] == "req-1" and line["organization.id"] == "3"
    assert line["ticketsearch.position"] == "mariadb-bin.000001:42" and line["ecs.version"]
