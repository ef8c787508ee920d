"""POST /api/v1/checks and GET /api/v1/health (issue 16): answers from stored decisions, fails closed, refuses
every unsigned, stale, replayed, revoked or unscoped request, and logs every answer in the transaction that
answers it (HTTP 503 when the log cannot be written); on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.service.api import CheckAnswer, create_app
from engine.service.apps import add_app, revoke_app
from engine.store import schema
from tests.service.conftest import PERSON, STRANGER, check_body, check_count, nonce_count

PATH = "/api/v1/checks"


def test_health_answers_without_authentication(world):
    store, _ = world
    add_app(store, "x", "check")
    response = TestClient(create_app(store)).get("/api/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "ok", "schema_revision": "0009"}


def test_openapi_documents_the_check_route(caller):
    doc = caller.client.get("/api/v1/openapi.json").json()
    post = doc["paths"][PATH]["post"]
    assert {"401", "403", "422", "503", "200"} <= set(post["responses"])
    assert {p["name"] for p in post["parameters"]} == {"x-app-key", "x-timestamp", "x-nonce", "x-signature"}
    assert {"401", "403", "404", "409"} <= set(doc["paths"][PATH + "/{check_id}/feedback"]["post"]["responses"])
    verdict = doc["components"]["schemas"]["CheckResultOut"]["properties"]["verdict"]
    assert set(verdict["enum"]) == {"restricted", "incentive", "no_measure", "needs_review"}


def test_a_signed_check_answers_each_subject_from_the_committed_cycle(world, caller):
    store, codes = world
    body = check_body(codes["bad"], codes["good"], codes["plain"], STRANGER)
    response = caller.post(PATH, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    results = {r["ref"]: r for r in answer["results"]}
    assert [r["verdict"] for r in answer["results"]] == ["restricted", "incentive", "no_measure", "needs_review"]
    bad = results["r0"]
    assert bad["code"] == codes["bad"] and bad["measures"] and all(m["kind"] == "sanction" for m in bad["measures"])
    assert bad["decisions"][0]["pack"] == "tax-credit" and bad["decisions"][0]["tier"] == "D"
    assert bad["decisions"][0]["tier_label"] == "D级"
    assert results["r1"]["measures"][0]["kind"] == "incentive"
    # Fails closed: a code not in the register is needs_review with the reason, never no_measure.
    assert results["r3"]["why"] and "不在主体名录中" in results["r3"]["why"][0]
    assert check_count(store) == 1
    # The answer is sent as answer() built it: exactly the document the OpenAPI schema's model describes.
    assert CheckAnswer.model_validate(answer).model_dump(mode="json") == answer


def test_the_chinese_name_of_a_service_item_is_accepted(world, caller):
    _, codes = world
    response = caller.post(PATH, check_body(codes["bad"], service="发票领用"))
    assert response.status_code == 200 and response.json()["results"][0]["verdict"] == "restricted"


def test_an_unknown_service_item_is_422_naming_it_with_did_you_mean(world, caller):
    store, codes = world
    response = caller.post(PATH, check_body(codes["good"], service="invoice_suply"))
    assert response.status_code == 422
    error = response.json()
    assert error["service_item"] == "invoice_suply"
    assert "Unknown service item 'invoice_suply' (did you mean 'invoice_supply'?)" in error["error"]
    by_name = caller.post(PATH, check_body(codes["good"], service="发票领"))
    assert by_name.status_code == 422 and "did you mean '发票领用'?" in by_name.json()["error"]
    assert (check_count(store), nonce_count(store)) == (0, 0)  # nothing answered, logged or spent


def test_no_committed_cycle_is_needs_review_never_no_measure(store, key_file):
    from tests.builders_engine import Register, tax

    code = Register(store).entity(records=[tax(2025, 80)])
    app = add_app(store, "x", "check")
    from tests.service.conftest import Caller

    caller = Caller(TestClient(create_app(store)), app["app_key"], app["secret"])
    (result,) = caller.post(PATH, check_body(code)).json()["results"]
    assert result["verdict"] == "needs_review" and "尚无" in result["why"][0] and result["decisions"] == []


@pytest.mark.parametrize("n", [0, 101])
def test_one_to_a_hundred_subjects(world, caller, n):
    store, codes = world
    response = caller.post(PATH, check_body(*([codes["good"]] * n)))
    assert response.status_code == 422 and "subjects" in response.json()["error"]
    assert check_count(store) == 0


def test_a_hundred_subjects_are_one_check(world, caller):
    store, codes = world
    response = caller.post(PATH, check_body(*([codes["plain"]] * 100)))
    assert response.status_code == 200 and len(response.json()["results"]) == 100
    assert check_count(store) == 1


def test_a_cycle_committed_while_the_service_runs_is_cited_by_the_next_check(world, caller):
    """The service keeps the current cycles in memory; a new revision committed by another process must be the
    one the very next check cites (a superseded revision never)."""
    from engine.pipeline.cycles import run_cycle
    from tests.service.conftest import AS_OF

    store, codes = world
    first = caller.post(PATH, check_body(codes["bad"])).json()["results"][0]["decisions"][0]["cycle_id"]
    second_cycle = run_cycle(store, "tax-credit", "2025", as_of=AS_OF, rerun=True)
    answer = caller.post(PATH, check_body(codes["bad"])).json()["results"][0]
    assert answer["decisions"][0]["cycle_id"] == second_cycle["cycle"] != first
    assert all(m["cause"].get("cycle") != first for m in answer["measures"] if m["cause"]["type"] == "tier")


def test_an_invalid_code_is_422_naming_it(world, caller):
    store, _ = world
    response = caller.post(PATH, check_body("91350100M00010000X"))
    assert response.status_code == 422 and "91350100M00010000X" in response.json()["error"]
    assert check_count(store) == 0


# -- refusals -----------------------------------------------------------------------------------------------


REFUSALS = {
    "missing signature": (dict(drop=["X-Signature"]), 401, "X-Signature missing"),
    "missing app key": (dict(drop=["X-App-Key"]), 401, "X-App-Key missing"),
    "wrong signature": (dict(signature="0" * 64), 401, "X-Signature does not match"),
    "body changed after signing": (dict(send=b'{"service_item": "bidding"}'), 401, "X-Signature does not match"),
    "unknown app key": (dict(app_key="app_000000000000000000000000"), 401, "Unknown X-App-Key"),
    # Offsets from the clock when the request is made (a value computed at collection would drift while the suite
    # runs: the timestamp is only ever further off than this).
    "stale timestamp": (dict(ts_offset=-301), 401, "off the server's clock"),
    "future timestamp": (dict(ts_offset=600), 401, "off the server's clock"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_requests_are_401_and_store_nothing(world, caller, case):
    store, codes = world
    spoil, status, words = REFUSALS[case]
    if "ts_offset" in spoil:
        spoil = {"ts": int(time.time()) + spoil["ts_offset"]}
    response = caller.post(PATH, check_body(codes["good"]), **spoil)
    assert response.status_code == status and words in response.json()["error"], response.text
    assert (check_count(store), nonce_count(store)) == (0, 0)


def test_a_replayed_nonce_is_refused(world, caller):
    store, codes = world
    assert caller.post(PATH, check_body(codes["good"]), nonce="n-1").status_code == 200
    again = caller.post(PATH, check_body(codes["good"]), nonce="n-1")
    assert again.status_code == 401 and "X-Nonce 'n-1' was used before" in again.json()["error"]
    assert (check_count(store), nonce_count(store)) == (1, 1)


def test_nonces_older_than_any_replay_window_are_pruned_and_younger_ones_kept(world, caller):
    """A nonce must be kept while a replay could still pass the timestamp check (seen at S with a timestamp up to
    S + 300 s, so a replay is refused by its timestamp only from S + 600 s on); older ones are forgotten by the
    first request of a worker and then every PRUNE_EVERY requests."""
    import datetime as dt

    from engine.service.auth import NONCE_KEPT
    from engine.store import now

    store, codes = world
    with store.read() as conn:
        app_id = conn.execute(sa.select(schema.apps.c.id).where(schema.apps.c.app_key == caller.app_key)).scalar_one()
    at = now()
    old, young = at - dt.timedelta(seconds=NONCE_KEPT + 5), at - dt.timedelta(seconds=2 * 300 - 5)
    with store.transaction() as conn:
        conn.execute(
            sa.insert(schema.api_nonces),
            [
                {"app_id": app_id, "nonce": "old", "seen_at": old},
                {"app_id": app_id, "nonce": "young", "seen_at": young},
            ],
        )
    assert caller.post(PATH, check_body(codes["good"])).status_code == 200  # the worker's first request
    with store.read() as conn:
        kept = set(conn.execute(sa.select(schema.api_nonces.c.nonce)).scalars())
    assert "old" not in kept and "young" in kept and len(kept) == 2
    replay = caller.post(PATH, check_body(codes["good"]), nonce="young")
    assert replay.status_code == 401 and "used before" in replay.json()["error"]


def test_a_revoked_key_is_403(world, caller):
    store, codes = world
    revoke_app(store, caller.app_key)
    response = caller.post(PATH, check_body(codes["good"]))
    assert response.status_code == 403 and "was revoked at" in response.json()["error"]
    assert (check_count(store), nonce_count(store)) == (0, 0)


def test_a_key_revoked_after_it_was_used_is_refused_at_once(world, caller):
    """The server keeps an app it has seen in memory; a revocation committed by another process (the CLI) must
    still refuse the very next request."""
    store, codes = world
    assert caller.post(PATH, check_body(codes["good"])).status_code == 200
    revoke_app(store, caller.app_key)
    response = caller.post(PATH, check_body(codes["good"]))
    assert response.status_code == 403 and "was revoked at" in response.json()["error"], response.text
    assert (check_count(store), nonce_count(store)) == (1, 1)


def test_a_scope_the_app_lacks_is_403(world, caller):
    store, codes = world
    lister = add_app(store, "公示系统", "lists")
    from tests.service.conftest import Caller

    other = Caller(caller.client, lister["app_key"], lister["secret"])
    response = other.post(PATH, check_body(codes["good"]))
    assert response.status_code == 403 and "lacks the scope 'check'" in response.json()["error"]
    assert (check_count(store), nonce_count(store)) == (0, 0)


# -- the decision log ---------------------------------------------------------------------------------------


def test_every_answered_check_is_one_log_row_with_personal_data_masked(world, caller):
    store, codes = world
    answered = 0
    for code in (codes["bad"], PERSON, STRANGER, codes["good"]):
        assert caller.post(PATH, check_body(code)).status_code == 200
        answered += 1
    assert caller.post(PATH, check_body(codes["good"], service="nope")).status_code == 422
    assert check_count(store) == answered
    with store.read() as conn:
        rows = conn.execute(sa.select(schema.checks).order_by(schema.checks.c.id)).mappings().all()
    assert [r["department"] for r in rows] == ["市行政审批局"] * answered and rows[0]["case_no"] == "SP-2026-0001"
    person, stranger = rows[1], rows[2]
    text = str(dict(person)) + str(dict(stranger))
    assert PERSON not in text and STRANGER not in text and "张三丰" not in text
    assert person["request"]["subjects"][0]["code"] == PERSON[:4] + "*" * 12 + PERSON[-2:]
    assert person["answer"]["results"][0]["name"] == "张**"
    assert STRANGER[:4] + "*" * 12 + STRANGER[-2:] in stranger["answer"]["results"][0]["why"][0]
    assert rows[0]["request"]["subjects"][0]["code"] == codes["bad"]  # a USCC is not personal data
    assert rows[0]["answer"]["results"][0]["verdict"] == "restricted"


def test_the_decision_log_refuses_update_and_delete(world, caller):
    store, codes = world
    caller.post(PATH, check_body(codes["good"]))
    for statement in (sa.update(schema.checks).values(case_no="x"), sa.delete(schema.checks)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.transaction() as conn:
                conn.execute(statement)
    assert check_count(store) == 1


def _break_the_log(store) -> None:
    """A real failure of the log insert: a trigger that aborts every INSERT into checks."""
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION checks_full() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'decision log disk full'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER checks_full BEFORE INSERT ON checks FOR EACH ROW EXECUTE FUNCTION checks_full()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER checks_full BEFORE INSERT ON checks BEGIN SELECT RAISE(ABORT, 'decision log disk full'); END"
            )


def test_a_check_whose_log_cannot_be_written_is_503_and_not_answered(world, caller):
    store, codes = world
    assert caller.post(PATH, check_body(codes["good"])).status_code == 200
    _break_the_log(store)
    response = caller.post(PATH, check_body(codes["bad"]))
    assert response.status_code == 503
    error = response.json()
    assert "results" not in error and "check_id" not in error
    assert "decision log could not be written" in error["error"] and "disk full" in error["error"]
    assert check_count(store) == 1
