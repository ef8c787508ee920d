"""Schemathesis fuzzes every operation of the check service's OpenAPI document (issue 16: "no 500").

The operations are read from the app's own ``/api/v1/openapi.json`` at run time, so a route added later is fuzzed
without touching this file. Each generated request (valid by the schema, then invalid by it) is signed as a real
client signs it, by an app with every scope: the signed PATH is the path and query exactly as sent, the body the
bytes sent. Every answer must be no server error, a status the operation documents, the documented content type
and a body that conforms to the documented schema; and no signed request may be refused as unsigned (401), or the
fuzz would never reach the routes. Bounded: ``SUPERVISE_FUZZ_EXAMPLES`` examples per operation and mode (default
6: a check that reaches the engine costs about 1.4 s, most of the run), derandomized, so a run takes about 15 s
and repeats itself.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import time
import uuid

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.service import apps
from engine.service.api import create_app
from tests.service.conftest import AS_OF, STRANGER, Caller, check_body, check_count

EXAMPLES = int(os.environ.get("SUPERVISE_FUZZ_EXAMPLES", "6"))
SIGNED = {"x-app-key", "x-timestamp", "x-nonce", "x-signature"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
KNOWN = {  # the operations of this slice: the schema must still have them (others may be added)
    "GET /api/v1/health",
    "POST /api/v1/checks",
    "POST /api/v1/checks/{check_id}/feedback",
    "GET /api/v1/entities/{code}",
    "GET /api/v1/lists/{list}/changes",
}


def signed_request(case, app_key: str, secret: str) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path with query as sent, body bytes, headers) of a generated case, signed."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in SIGNED}
    prepared = requests.Request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        json=kwargs.get("json"),
        data=kwargs.get("data"),
    ).prepare()
    body = prepared.body or b""
    raw = body.encode() if isinstance(body, str) else body
    path = prepared.path_url
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    text = f"{prepared.method}\n{path}\n{stamp}\n{nonce}\n{hashlib.sha256(raw).hexdigest()}"
    signature = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    sent = {k: v for k, v in prepared.headers.items() if k.lower() not in ("content-length",)}
    sent.update({"X-App-Key": app_key, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature})
    return str(prepared.method), path, raw, sent


def hints(codes: dict[str, str], check_id: int) -> dict[str, list]:
    """Values that reach past validation, by parameter or body field name (random text rarely names a code in
    the register or a service item): a valid case takes one of them for such a field, most of the time."""
    return {
        "code": [*codes.values(), STRANGER],
        "list": ["tax-credit.red", "tax-credit.black", "tax-credit.watch", "red"],
        "since": ["2026-01-01", "2026-04-30T00:00:00+08:00", "2026-04-30T00:00:00Z", "2026-05-01T08:00:00"],
        "after": [0, 1, 2],
        "service_item": ["invoice_supply", "发票领用", "government_procurement", "bank_tax_loan"],
        "check_id": [check_id],
        "ref": ["r0", "r1"],
        "as_of": [AS_OF.isoformat()],
    }


def hinted(value, choices: dict[str, list], rnd) -> None:
    """Replace, in place and at random, the fields of ``value`` (dicts and lists within) that ``choices`` names."""
    if isinstance(value, dict):
        for key in list(value):
            if key in choices and rnd.random() < 0.75:
                value[key] = rnd.choice(choices[key])
            else:
                hinted(value[key], choices, rnd)
    elif isinstance(value, list):
        for item in value:
            hinted(item, choices, rnd)


def fuzz(operation, mode, send, statuses, choices) -> None:
    """Run ``EXAMPLES`` generated cases of one operation in one mode through ``send`` and judge each answer."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), rnd=st.randoms(use_true_random=False))
    def run(case, rnd):
        if mode is schemathesis.GenerationMode.POSITIVE:
            # An optional query parameter the case left out is given, now and then, from the hints too.
            missing = [p.name for p in operation.query if p.name in choices and p.name not in (case.query or {})]
            if missing and rnd.random() < 0.5:
                case.query = {**(case.query or {}), **{name: rnd.choice(choices[name]) for name in missing}}
            for part in (case.path_parameters, case.query, case.body):
                hinted(part, choices, rnd)
        method, path, response = send(case)
        statuses[operation.label][response.status_code] += 1
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:500]}"
        if operation.label != "GET /api/v1/health":
            assert response.status_code != 401, f"{method} {path} signed but refused: {response.text}"
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise
        # Nothing of the operation can be made invalid by its schema (health: no parameter, no body).


@pytest.mark.slow
def test_every_operation_answers_without_a_server_error_and_as_documented(world):
    store, codes = world
    app = apps.add_app(store, "fuzz", ",".join(apps.SCOPES))
    api = create_app(store)
    client = TestClient(api, raise_server_exceptions=False)  # a 500 is a response to judge, not an exception

    def send(case):
        method, path, body, headers = signed_request(case, app["app_key"], app["secret"])
        return method, path, client.request(method, path, content=body, headers=headers)

    # A check of this app, with refs r0 and r1, for the feedback route to find.
    made = Caller(client, app["app_key"], app["secret"]).post("/api/v1/checks", check_body(codes["bad"], codes["good"]))
    assert made.status_code == 200, made.text
    choices = hints(codes, made.json()["check_id"])
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert KNOWN <= {op.label for op in operations}
    statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            fuzz(operation, mode, send, statuses, choices)
    assert set(statuses) == {op.label for op in operations}
    print({label: dict(counts) for label, counts in sorted(statuses.items())})


# -- what the fuzz found, pinned (on SQLite and PostgreSQL) -------------------------------------------------


def test_a_path_with_escapes_is_signed_as_sent(world):
    store, _ = world
    app = apps.add_app(store, "x", "lists")
    caller = Caller(TestClient(create_app(store)), app["app_key"], app["secret"])
    response = caller.get("/api/v1/entities/%E5%BC%A0%E4%B8%89")  # 张三, percent-escaped as a client sends it
    assert response.status_code == 422, response.text  # past the signature: the code is not a code
    assert "张三" in response.json()["error"]


def test_a_nul_character_or_a_body_that_is_not_utf8_is_the_callers_422(world):
    store, codes = world
    app = apps.add_app(store, "x", "check")
    caller = Caller(TestClient(create_app(store)), app["app_key"], app["secret"])
    nul = caller.post("/api/v1/checks", check_body(codes["good"], requester={"department": "a\x00b", "case_no": "1"}))
    assert nul.status_code == 422 and "NUL" in nul.json()["error"]
    # Not UTF-8 (FastAPI reads the body before any dependency, so this is refused before the signature is checked)
    garbled = caller.post("/api/v1/checks", {}, send=b'{"service_item": "\xc3\x28"}')
    assert garbled.status_code == 422 and garbled.json() == {"error": "The request body is not JSON in UTF-8."}
    assert check_count(store) == 0
