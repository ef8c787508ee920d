"""Fixtures of the console tests: a register with list entries at every step of their life, the users of two
authorities, and a TestClient of the check service's application (the console is mounted in it)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from engine.access import users
from engine.service.api import create_app
from lists import lifecycle
from lists import repair as list_repair
from tests.builders_lists import scenario
from tests.lists.conftest import samr_office  # noqa: F401 (a fixture: the pack naming 福州's authority 榕市监)

D = dt.date
PW = "secret12345"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def staff(store, office: str) -> None:
    """A clerk and a reviewer of 福州 (``office``), and a clerk of 泉州 (the shipped market pack's authority)."""
    with store.transaction() as conn:
        users.add(conn, "张经办", office, "clerk", PW, "admin")
        users.add(conn, "李审核", office, "reviewer", PW, "admin")
        users.add(conn, "泉州经办", "泉市监", "clerk", PW, "admin")


@pytest.fixture
def world(store, factory, samr_office):  # noqa: F811
    return build_world(store, factory, samr_office)


def build_world(store, factory, office: str) -> dict:
    """Three 严重违法失信名单 entries of 福州 companies (the scenario's region 350100): entry 1 served on 2025-05-06
    with an objection filed on 2025-05-10, entry 2 awaiting its pre-listing notice, entry 3 served, listed after
    its window and with a refused repair application of 2025-07-01."""
    s = scenario(store, factory, lists=("black", "black", "black"), as_of=D(2025, 4, 30), penalty_on=D(2025, 3, 1))
    staff(store, office)
    with store.transaction() as conn:
        lifecycle.propose_from_cycle(conn, s["cycle"])
        lifecycle.serve(conn, D(2025, 5, 6), "admin", entry_id=1)
        lifecycle.serve(conn, D(2025, 5, 6), "admin", entry_id=3)
        s["objection"] = lifecycle.file_objection(conn, 1, "处罚决定已申请行政复议", [], D(2025, 5, 10), "张经办")[
            "objection_id"
        ]
        lifecycle.advance(conn, D(2025, 6, 30))
        s["application"] = list_repair.apply(conn, 3, D(2025, 7, 1), "申请人王五", None)["application_id"]
    return s


class Browser:
    """A TestClient that follows no redirect, with the console's login and CSRF token at hand."""

    def __init__(self, store):
        self.client = TestClient(create_app(store, server_key=b"k" * 32), follow_redirects=False)
        self.csrf = ""

    def login(self, name: str, password: str = PW, next_: str = "/"):
        page = self.client.get("/login")
        token = CSRF.search(page.text).group(1)
        answer = self.client.post("/login", data={"name": name, "password": password, "csrf": token, "next": next_})
        if answer.status_code == 303:
            home = self.client.get(answer.headers["location"])
            self.csrf = CSRF.search(home.text).group(1)
        return answer

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kwargs):
        body = dict(data or {})
        if csrf:
            body["csrf"] = self.csrf
        return self.client.post(path, data=body, **kwargs)


@pytest.fixture
def browser(store):
    return Browser(store)
