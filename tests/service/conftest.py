"""Fixtures of the check service tests: a register with a committed tax-credit cycle, an app, a TestClient."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.pipeline.cycles import run_cycle
from engine.register.codes import make_person_id
from engine.service.api import create_app
from engine.service.apps import add_app
from engine.store import entities as qe
from engine.store import now, schema
from tests.builders_engine import Register, tax, violation

AS_OF = dt.date(2026, 4, 30)
PERSON = make_person_id("350102", dt.date(1985, 6, 1), 7)  # a natural person in the register
STRANGER = make_person_id("350102", dt.date(1990, 1, 2), 8)  # an identity number nobody registered


def sign(secret: str, method: str, path: str, ts: str, nonce: str, raw: bytes) -> str:
    """The signature as the issue words it (written out here, not imported from the service)."""
    text = f"{method}\n{path}\n{ts}\n{nonce}\n{hashlib.sha256(raw).hexdigest()}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class Caller:
    """Signs requests for one app against a TestClient (every part can be spoiled for the refusal tests)."""

    def __init__(self, client: TestClient, app_key: str, secret: str):
        self.client, self.app_key, self.secret = client, app_key, secret

    def post(self, path: str, body: dict, *, ts: int | None = None, nonce: str | None = None, **spoil):
        return self.request("POST", path, body, ts=ts, nonce=nonce, **spoil)

    def get(self, path: str, **kw):
        """GET ``path`` (with its query string, which is signed with it: ``/api/v1/x?since=...``)."""
        return self.request("GET", path, None, **kw)

    def delete(self, path: str, body: dict | None = None, **kw):
        return self.request("DELETE", path, body, **kw)

    def request(self, method: str, path: str, body: dict | None, *, ts=None, nonce=None, **spoil):
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        stamp = str(int(time.time()) if ts is None else ts)
        nonce = nonce or uuid.uuid4().hex
        headers = {
            "X-App-Key": spoil.get("app_key", self.app_key),
            "X-Timestamp": stamp,
            "X-Nonce": nonce,
            "X-Signature": spoil.get("signature") or sign(self.secret, method, path, stamp, nonce, raw),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        for name in spoil.get("drop", ()):
            del headers[name]
        return self.client.request(method, path, content=spoil.get("send", raw) or None, headers=headers)


def check_body(*codes: str, service: str = "invoice_supply", **over) -> dict:
    body = {
        "service_item": service,
        "subjects": [{"ref": f"r{i}", "code": c} for i, c in enumerate(codes)],
        "requester": {"department": "市行政审批局", "case_no": "SP-2026-0001"},
        "as_of": AS_OF.isoformat(),
    }
    body.update(over)
    return body


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "service.key"
    monkeypatch.setenv("SUPERVISE_SERVICE_KEY", str(path))
    return path


@pytest.fixture
def world(store, key_file):
    """(store, codes): good (tax A), bad (tax D), plain (tax B), a natural person; tax-credit 2025 committed."""
    reg = Register(store)
    codes = {
        "good": reg.entity(records=[tax(2025, 96)]),
        "bad": reg.entity(records=[tax(2025, 95), violation("2025-05-01", "false_preference_claim")]),
        "plain": reg.entity(records=[tax(2025, 80)]),
    }
    person = {
        "code": PERSON,
        "code_kind": "person",
        "name": "张三丰",
        "entity_type": "natural_person",
        "region": "350102",
        "industry": None,
        "established_on": None,
        "legal_rep": None,
    }
    with store.transaction() as conn:
        qe.upsert_entities(conn, [person])
    codes["person"] = PERSON
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    return store, codes


@pytest.fixture
def caller(world):
    store, _ = world
    app = add_app(store, "政务服务平台", "check,feedback", "市行政审批局")
    client = TestClient(create_app(store))
    return Caller(client, app["app_key"], app["secret"])


def nonce_count(store) -> int:
    return count(store, schema.api_nonces)


def check_count(store) -> int:
    return count(store, schema.checks)


__all__ = ["AS_OF", "PERSON", "STRANGER", "Caller", "check_body", "check_count", "nonce_count", "now", "sign"]
