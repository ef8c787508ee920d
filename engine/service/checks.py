"""One check answered: :func:`engine.pipeline.check.check` and its decision-log row in one transaction.

The answer exists only if its log row was committed with it: the check reads inside the transaction that appends
the row, and a failure to write the row (or to commit) rolls both back and is :class:`DecisionLogError` (HTTP 503).
The stored copy masks personal data as the public site does (:func:`engine.register.codes.public_party`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

from engine.errors import StoreError, SupervisionError
from engine.pipeline.check import CheckResult, check, service_items
from engine.service.masking import masked, replacements
from engine.store import Connection, Store, now
from engine.store import service as qs


class DecisionLogError(SupervisionError):
    """The decision log could not be written: the check is not answered."""


class _InTransaction:
    """Hands :func:`check` (which reads through ``store.read()``) the open write transaction instead."""

    def __init__(self, conn: Connection):
        self.conn = conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        yield self.conn


def _result(ref: str, r: CheckResult) -> dict[str, Any]:
    def measure(m: Any) -> dict[str, Any]:
        cause = dict(m.cause)
        valid_to = cause.get("valid_to") if cause["type"] == "list" else None
        return {
            "id": m.measure,
            "kind": m.kind,
            "text": m.text,
            "basis": m.basis,
            "department": m.department,
            "cause": cause,
            "valid_to": valid_to,
        }

    return {
        "ref": ref,
        "code": r.uscc,
        "name": r.name,
        "verdict": r.verdict,
        "measures": [measure(m) for m in r.measures if not m.ignored_because],
        "ignored": [{"id": m.measure, "because": m.ignored_because} for m in r.measures if m.ignored_because],
        "why": [v.reason for v in r.reviews],
        "decisions": [
            {"cycle_id": d.cycle, "pack": d.pack, "version": d.version, "tier": d.tier, "tier_label": d.tier_label}
            for d in r.decisions
        ],
    }


def _unregistered(codes: list[str]) -> list[dict[str, Any]]:
    """Codes not in the register, masked by their own kind (an identity number is a person's)."""
    return [{"code": c, "name": None, "entity_type": None, "legal_rep": None} for c in codes]


def warm_up() -> None:
    """Load the packs before the first request (a worker's first checks would otherwise each wait for them); a
    pack that cannot be loaded is logged here and answered for as the checks meet it."""
    try:
        service_items()
    except SupervisionError as exc:
        logging.getLogger("supervise.service").warning(f"Could not load the policy packs at start: {exc}")


def answer(store: Store, request: dict[str, Any], admit: Callable[[Connection], dict[str, Any]]) -> dict[str, Any]:
    """The answer ``{"check_id", "results"}`` to a check request (already validated: ``service_item``,
    ``subjects`` [{ref, code}], ``requester`` {department, case_no}, ``as_of`` date or None), logged in the same
    transaction. ``admit(conn)`` runs first in that transaction and returns the calling app (it spends the
    request's nonce: engine.service.auth.Service.admit), so one commit records the nonce, and the log row or
    nothing. Raises UnknownServiceItem or CodeError (nothing is logged), DecisionLogError (nothing answered)."""
    as_of = request.get("as_of") or dt.date.today()
    subjects = request["subjects"]
    requester = request.get("requester") or {}
    requested_at = now()
    try:
        with store.transaction() as conn:
            app = admit(conn)
            codes = [s["code"] for s in subjects]
            results = check(_InTransaction(conn), codes, request["service_item"], as_of, sources=False)
            out = [_result(s["ref"], r) for s, r in zip(subjects, results)]
            known = {r.uscc: r.entity for r in results if r.entity}
            raw_codes = [r.uscc for r in results] + [s["code"] for s in subjects]
            replace = replacements(list(known.values()) + _unregistered([c for c in raw_codes if c not in known]))
            stored_request = {**request, "as_of": as_of.isoformat()}
            row = {
                "app_id": app["id"],
                "department": requester.get("department"),
                "case_no": requester.get("case_no"),
                "service_item": results[0].service if results else request["service_item"],
                "as_of": as_of,
                "requested_at": requested_at,
                "request": masked(stored_request, replace),
                "answer": masked({"results": out}, replace),
            }
            check_id = qs.insert_check(conn, row)
    except StoreError as exc:  # the log row, the commit or the database failed: nothing was answered
        raise DecisionLogError(f"{str(exc).rstrip('.')}; the check was not answered. Try again later.") from exc
    return {"check_id": check_id, "results": out}
