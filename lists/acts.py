"""What a person does on the lists, under the rules of :mod:`engine.access.guard`: the functions the CLI's list
commands and the console call, each with the acting user (a :class:`~engine.access.users.User` or a user name)
and a connection in the caller's transaction.

* Decisions (serve a pre-listing notice, decide an objection, decide a repair application, revoke): an admin
  decides in one step, as the CLI always did (marked ``single_step``); a clerk or reviewer records a proposal
  (初审) that another user approves (审核) with :func:`lists.approvals.approve` (``supervise approvals``).
* Records of what the party did (an objection, a repair application): a clerk, reviewer or admin of the entity's
  authority records them, dated today or earlier.
* List upkeep (proposals from a cycle, advance, publish): an admin. Extending a listing: a reviewer or admin.

Each write is in the audit log with the user (:func:`engine.store.audit`), in the write's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from engine.access import AccessRefused, guard, users
from engine.access.users import User
from engine.store import audit
from lists import approvals, lifecycle
from lists import publish as list_publish
from lists import repair as list_repair
from lists.results import ProposalList, ProposalMade, Reviewed, Served


def acting(conn, who: User | str) -> User:
    """The enabled user ``who`` (a name is looked up)."""
    return who if isinstance(who, User) else users.get(conn, who)


def _decision(conn, user: User, kind: str, target_id: int, decision: dict, reason: str, on: dt.date) -> Any:
    result = approvals.decide(conn, user, kind, target_id, decision, reason, on)
    return Reviewed(result) if "signed" in result else ProposalMade(result)


def serve(
    conn,
    who: User | str,
    on: dt.date,
    entry_id: int | None = None,
    cycle_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Serve pre-listing notices: an admin serves at once (every proposed entry of a cycle, or one); anyone else
    proposes the listing of one entry (``--entry``) for review."""
    user = acting(conn, who)
    guard.require_past(on, what="送达")
    if user.role != "admin":
        if entry_id is None:
            raise AccessRefused(
                f"{user.name}是{user.role_name}：整批送达只能由管理员办理；经办人逐条提出列入（--entry ID），"
                f"经审核人审核通过后送达。"
            )
        return _decision(conn, user, "listing", entry_id, {}, "拟列入名单，送达列入前告知书", on)
    signed = {"approved_by": user.name, "approved_on": on.isoformat(), "proposed_by": user.name, "single_step": True}
    served = lifecycle.serve(
        conn, on, user.name, entry_id=entry_id, cycle_id=cycle_id, progress=progress, signed=signed
    )
    target = f"entry {entry_id}" if entry_id is not None else f"cycle {cycle_id}"
    audit(conn, user.name, "serve", target, served=len(served["served"]))
    return served if isinstance(served, Served) else Served(served)


def revoke(conn, who: User | str, entry_id: int, reason: str, on: dt.date) -> Any:
    return _decision(conn, acting(conn, who), "revocation", entry_id, {}, reason, on)


def decide_objection(conn, who: User | str, objection_id: int, uphold: bool, reason: str, on: dt.date) -> Any:
    return _decision(conn, acting(conn, who), "objection", objection_id, {"uphold": uphold}, reason, on)


def decide_repair(conn, who: User | str, application_id: int, approve: bool, reason: str, on: dt.date) -> Any:
    return _decision(conn, acting(conn, who), "repair", application_id, {"approve": approve}, reason, on)


def approve(conn, who: User | str, proposal_ids: Sequence[int], on: dt.date) -> list[Reviewed]:
    user = acting(conn, who)
    return [Reviewed(approvals.approve(conn, user, pid, on)) for pid in proposal_ids]


def send_back(conn, who: User | str, proposal_id: int, reason: str, on: dt.date) -> Reviewed:
    return Reviewed(approvals.send_back(conn, acting(conn, who), proposal_id, reason, on))


File = str | dict[str, Any]  # a file's path (CLI) or an uploaded attachment's reference (lists.attachments)


def file_objection(
    conn, who: User | str, entry_id: int, reason: str, evidence: Sequence[File], on: dt.date
) -> dict[str, Any]:
    """Record the party's objection (a clerk records what the party or its representative filed)."""
    user = acting(conn, who)
    guard.require_role(user, "record")
    guard.require_past(on, what="异议登记")
    approvals.may_act(user, lifecycle.load_one(conn, entry_id))
    result = lifecycle.file_objection(conn, entry_id, reason, evidence, on, user.name)
    audit(conn, user.name, "objection.file", f"entry {entry_id}", objection_id=result["objection_id"])
    return result


def apply_repair(
    conn,
    who: User | str,
    entry_id: int,
    on: dt.date,
    commitment: File | None,
    evidence: Sequence[File] = (),
    training: File | None = None,
    credit_report: File | None = None,
) -> dict[str, Any]:
    """Record the party's repair application (checked at once against the pack's conditions)."""
    user = acting(conn, who)
    guard.require_role(user, "record")
    guard.require_past(on, what="修复申请登记")
    approvals.may_act(user, lifecycle.load_one(conn, entry_id))
    result = list_repair.apply(conn, entry_id, on, user.name, commitment, evidence, training, credit_report)
    audit(conn, user.name, "repair.apply", f"entry {entry_id}", application_id=result["application_id"])
    return result


def extend(conn, who: User | str, entry_id: int, months: int, reason: str, on: dt.date) -> dict[str, Any]:
    user = acting(conn, who)
    guard.require_role(user, "review")
    guard.require_past(on, what="延期决定")
    approvals.may_act(user, lifecycle.load_one(conn, entry_id))
    result = lifecycle.extend(conn, entry_id, months, reason, on, user.name)
    audit(conn, user.name, "extend", f"entry {entry_id}", months=months)
    return result


def propose_from_cycle(conn, who: User | str, cycle_id: int, as_of: dt.date | None = None) -> Any:
    user = acting(conn, who)
    guard.require_role(user, "run")
    return lifecycle.propose_from_cycle(conn, cycle_id, as_of, user.name)


def advance(conn, who: User | str | None, as_of: dt.date, progress: Callable[[int], None] | None = None) -> Any:
    """The automatic transitions due by ``as_of`` (listing after the window, expiry): recorded as ``system``
    unless an admin is named."""
    if who is None:
        return lifecycle.advance(conn, as_of, "system", progress=progress)
    user = acting(conn, who)
    guard.require_role(user, "run")
    return lifecycle.advance(conn, as_of, user.name, progress=progress)


def publish(conn, who: User | str, out_dir: str, as_of: dt.date) -> Any:
    user = acting(conn, who)
    guard.require_role(user, "run")
    return list_publish.publish(conn, out_dir, as_of, user.name)


def proposals(conn, who: User | str | None, status: str = "pending") -> dict[str, Any]:
    user = acting(conn, who) if who is not None else None
    rows = approvals.returned(conn, user) if status == "returned" else approvals.pending(conn, user)
    return ProposalList({"status": status, "proposals": rows})
