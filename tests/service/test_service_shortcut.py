"""POST /api/v1/checks answers a request through its shortcut (engine.service.api: the body and the signed headers
read directly, without FastAPI's dependency machinery) exactly as FastAPI's declared route answers it: the same
status and document for the requests the shortcut takes and for those it leaves to FastAPI (each error), and the
same decision-log rows. Both applications run on the same store, one with ``shortcuts=False``."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.service.api import create_app
from engine.service.apps import add_app, revoke_app
from engine.store import schema
from tests.service.conftest import STRANGER, Caller, check_body, sign

PATH = "/api/v1/checks"


def variants(codes: dict[str, str]) -> dict[str, dict]:
    """name -> how to send it: body (a document or raw bytes), headers to change (None: leave out), whether to
    sign something else than what is sent."""
    good = check_body(codes["bad"], codes["good"], codes["person"])
    return {
        "valid": dict(body=good),
        "valid, charset given": dict(body=good, headers={"Content-Type": "application/json; charset=utf-8"}),
        "valid, content type in capitals": dict(body=good, headers={"Content-Type": "Application/JSON"}),
        "valid, no as_of": dict(body={k: v for k, v in good.items() if k != "as_of"}),
        "a subject not in the register": dict(body=check_body(STRANGER)),
        "no content type": dict(body=good, headers={"Content-Type": None}),
        "text/plain": dict(body=good, headers={"Content-Type": "text/plain"}),
        "application/problem+json": dict(body=good, headers={"Content-Type": "application/problem+json"}),
        "not JSON": dict(body=b'{"service_item": '),
        "not UTF-8": dict(body=b'{"service_item": "\xc3\x28"}'),
        "UTF-16": dict(body=json.dumps(good).encode("utf-16")),
        "an empty body": dict(body=b""),
        "a JSON list": dict(body=[good]),
        "a field too many": dict(body={**good, "extra": 1}),
        "no subjects": dict(body={**good, "subjects": []}),
        "a NUL character": dict(body=check_body(codes["good"], requester={"department": "a\x00b", "case_no": "1"})),
        "a date that is not one": dict(body={**good, "as_of": "2026-02-30"}),
        "an unknown service item": dict(body=check_body(codes["good"], service="nope")),
        "an invalid code": dict(body=check_body("91350100M00010000X")),
        "a nonce of 129 characters": dict(body=good, nonce="n" * 129),
        "a nonce of 128 characters": dict(body=good, nonce="n" * 128),
        "no signature": dict(body=good, headers={"X-Signature": None}),
        "an empty timestamp": dict(body=good, headers={"X-Timestamp": ""}),
        "a timestamp that is not a number": dict(body=good, headers={"X-Timestamp": "soon"}),
        "a wrong signature": dict(body=good, signed=b"{}"),
        "a wrong signature and a bad body": dict(body={**good, "extra": 1}, signed=b"{}"),
        "a long nonce and a bad body": dict(body={**good, "extra": 1}, nonce="n" * 129),
        "an unknown app": dict(body=good, headers={"X-App-Key": "nobody"}),
        "a query string": dict(body=good, query="?x=1"),
    }


def send(client: TestClient, app: dict, how: dict, tag: str) -> tuple[int, dict]:
    body = how["body"]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    nonce = how.get("nonce") or f"{tag}-{uuid.uuid4().hex}"
    if how.get("nonce") and len(how["nonce"]) <= 128:
        nonce = tag[0] + how["nonce"][1:]  # as long as given, different for each application (it is spent)
    path = PATH + how.get("query", "")
    headers = {
        "Content-Type": "application/json",
        "X-App-Key": app["app_key"],
        "X-Timestamp": stamp,
        "X-Nonce": nonce,
        "X-Signature": sign(app["secret"], "POST", path, stamp, nonce, how.get("signed", raw)),
    }
    for name, value in (how.get("headers") or {}).items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    response = client.post(path, content=raw, headers=headers)
    document = response.json()
    document.pop("check_id", None)
    return response.status_code, document


def log_rows(store, check_ids: list[int]) -> list[dict]:
    c = schema.checks
    with store.read() as conn:
        rows = conn.execute(sa.select(c).where(c.c.id.in_(check_ids)).order_by(c.c.id)).mappings().all()
    keep = ("app_id", "department", "case_no", "service_item", "as_of", "request", "answer")
    return [{k: r[k] for k in keep} for r in rows]


@pytest.fixture
def both(world):
    store, codes = world
    app = add_app(store, "政务服务平台", "check", "市行政审批局")
    declared = TestClient(create_app(store, shortcuts=False))
    shortcut = TestClient(create_app(store))
    return store, codes, app, declared, shortcut


def test_the_shortcut_answers_every_request_as_the_declared_route_does(both):
    store, codes, app, declared, shortcut = both
    for name, how in variants(codes).items():
        expected = send(declared, app, how, "d")
        got = send(shortcut, app, how, "s")
        assert got == expected, name


def test_the_shortcut_logs_what_the_declared_route_logs(both):
    store, codes, app, declared, shortcut = both
    how = dict(body=check_body(codes["bad"], codes["good"], codes["person"], STRANGER))
    ids = []
    for client, tag in ((declared, "d"), (shortcut, "s")):
        signer = Caller(client, app["app_key"], app["secret"])
        stamp, nonce = int(time.time()), f"{tag}-{uuid.uuid4().hex}"
        response = signer.post(PATH, how["body"], ts=stamp, nonce=nonce)
        assert response.status_code == 200, response.text
        ids.append(response.json()["check_id"])
        # The nonce is spent: the same request again is refused alike by both.
        again = signer.post(PATH, how["body"], ts=stamp, nonce=nonce)
        assert again.status_code == 401 and "was used before" in again.json()["error"]
    first, second = log_rows(store, ids)
    assert first == second


def test_a_revoked_app_is_refused_alike(both):
    store, codes, app, declared, shortcut = both
    how = dict(body=check_body(codes["good"]))
    assert send(declared, app, how, "d")[0] == send(shortcut, app, how, "s")[0] == 200  # both have seen the app
    revoke_app(store, app["app_key"])
    expected, got = send(declared, app, how, "d"), send(shortcut, app, how, "s")
    assert expected[0] == 403 and got == expected
