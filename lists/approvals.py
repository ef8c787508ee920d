"""Two-step decisions on list entries: a proposal (初审) by one user, approved or returned (审核) by another.

Four kinds, each carried out by the lifecycle function that a one-step decision calls, in the transaction of the
approval:

==========  ===============================  ==================================================================
kind        target                           carried out on approval
==========  ===============================  ==================================================================
listing     the entry (state ``proposed``)   :func:`lists.lifecycle.serve`: the pre-listing notice is served on
                                             the approval date and the objection window starts
objection   the objection (undecided)        :func:`lists.lifecycle.decide_objection` (``uphold`` true/false)
repair      the repair application           :func:`lists.repair.decide` (``approve`` true/false)
revocation  the entry (listed or pending)    :func:`lists.lifecycle.revoke`
==========  ===============================  ==================================================================

Rules (:mod:`engine.access.guard`): the proposer holds a role that may propose and the reviewer one that may
review; the reviewer is never the proposer; both act only on entities of their authority's region and lists of
its packs; both dates are today or earlier and the review is not earlier than the proposal. One proposal per
target is pending at a time. A returned proposal keeps the reviewer's reason; the clerk proposes again. The event
the decision appends carries ``signed`` (proposal id, 初审 and 审核 names and dates) and the notices print both.
An admin may decide in one step from the CLI (:func:`decide_directly`): a proposal and its approval by the same
admin, marked ``single_step``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.access import AccessRefused, guard
from engine.access.users import User
from engine.errors import ListError
from engine.store import audit, people
from engine.store import lists as q
from lists import lifecycle
from lists import repair as list_repair

KINDS = ("listing", "objection", "repair", "revocation")
KIND_NAMES = {
    "listing": "列入名单（送达列入前告知书）",
    "objection": "异议决定",
    "repair": "信用修复决定",
    "revocation": "撤销列入",
}


def _entry_of(conn, kind: str, target_id: int) -> tuple[lifecycle.Entry, dict[str, Any] | None]:
    """The entry a proposal acts on (locked), with the objection or application it decides."""
    if kind in ("listing", "revocation"):
        return lifecycle.load_one(conn, target_id), None
    if kind == "objection":
        objection = q.get_objection(conn, target_id)
        if objection is None:
            raise ListError(f"There is no objection {target_id}; see 'supervise lists history CODE' for the ids.")
        return lifecycle.load_one(conn, objection["entry_id"]), objection
    if kind == "repair":
        app = q.get_application(conn, target_id)
        if app is None:
            raise ListError(f"There is no repair application {target_id}; see 'supervise lists history CODE'.")
        return lifecycle.load_one(conn, app["entry_id"]), app
    raise ListError(f"No decision kind '{kind}': one of {', '.join(KINDS)}.")


def may_act(user: User, entry: lifecycle.Entry) -> None:
    """The entry's entity in the user's region and its pack one the user's authority runs (AccessRefused)."""
    guard.require_region(user, entry.row.get("entity_region"), f"{entry.row.get('entity_name')}（{entry.row['code']}）")
    guard.require_pack(user, entry.row["pack_id"])


def _check_target(kind: str, entry: lifecycle.Entry, target: dict[str, Any] | None, decision: dict) -> None:
    """What must hold of the target for the decision to be proposed (the same is checked again on approval by
    the lifecycle function itself)."""
    if kind == "listing" and entry.state != "proposed":
        raise ListError(
            f"{entry.label} is {entry.state}; a listing is proposed while the entry awaits its pre-listing notice."
        )
    if kind == "revocation" and entry.state not in lifecycle.OPEN:
        raise ListError(f"{entry.label} is {entry.state}; an entry that has ended needs no revocation.")
    if kind == "objection":
        assert target is not None
        if target["decision"]:
            raise ListError(f"Objection {target['id']} was already {target['decision']} on {target['decided_on']}.")
        if not isinstance(decision.get("uphold"), bool):
            raise ListError("An objection decision says whether the objection is upheld: uphold true or false.")
    if kind == "repair":
        assert target is not None
        if target["decision"]:
            raise ListError(
                f"Repair application {target['id']} was already {target['decision']} on {target['decided_on']}."
            )
        if not isinstance(decision.get("approve"), bool):
            raise ListError("A repair decision says whether the application is approved: approve true or false.")
        if decision["approve"] and not (target.get("eligibility") or {}).get("eligible"):
            raise ListError(
                f"Repair application {target['id']} does not meet the conditions "
                f"({'; '.join((target.get('eligibility') or {}).get('unmet') or [])}); it can only be rejected."
            )


def propose(
    conn, user: User, kind: str, target_id: int, decision: dict[str, Any], reason: str, on: dt.date
) -> dict[str, Any]:
    """Record ``user``'s proposal (初审) of a decision; it awaits another user's review."""
    guard.require_role(user, "propose")
    guard.require_past(on, what="初审")
    entry, target = _entry_of(conn, kind, target_id)
    may_act(user, entry)
    reason = (reason or "").strip()
    if not reason:
        raise ListError("A proposal gives its reason (the facts and the rule it rests on).")
    _check_target(kind, entry, target, decision)
    if (pending := people.pending_of(conn, kind, target_id)) is not None:
        raise ListError(
            f"Proposal {pending.id} ({KIND_NAMES[kind]}, by {pending.proposed_by} on {pending.proposed_on}) "
            f"awaits review already; it is approved or returned first."
        )
    proposal_id = people.insert_proposal(conn, kind, entry.id, target_id, decision, reason, on, user.name)
    audit(conn, user.name, f"propose.{kind}", f"entry {entry.id}", proposal_id=proposal_id, target_id=target_id)
    return {
        "proposal_id": proposal_id,
        "kind": kind,
        "kind_name": KIND_NAMES[kind],
        "entry_id": entry.id,
        "target_id": target_id,
        "decision": decision,
        "proposed_by": user.name,
        "proposed_on": on.isoformat(),
        "status": "pending",
    }


def _proposal(conn, proposal_id: int) -> Any:
    row = people.proposal(conn, proposal_id, lock=True)
    if row is None:
        raise ListError(f"There is no proposal {proposal_id}; see 'supervise approvals list'.")
    if row.outcome is not None:
        raise ListError(f"Proposal {proposal_id} was already {row.outcome} by {row.reviewed_by} on {row.reviewed_on}.")
    return row


def _carry_out(conn, row: Any, actor: str, on: dt.date, signed: dict[str, Any]) -> Any:
    """The decision, by the lifecycle function a one-step decision calls; its typed result."""
    kind, target, decision = row.kind, row.target_id, row.decision or {}
    result: Any
    if kind == "listing":
        result = lifecycle.serve(conn, on, actor, entry_id=target, signed=signed)
    elif kind == "objection":
        result = lifecycle.decide_objection(conn, target, bool(decision["uphold"]), row.reason, on, actor, signed)
    elif kind == "repair":
        result = list_repair.decide(conn, target, bool(decision["approve"]), row.reason, on, actor, signed)
    else:
        result = lifecycle.revoke(conn, target, row.reason, on, actor, signed)
    return result


def _review(conn, user: User, proposal_id: int, on: dt.date, single_step: bool = False) -> Any:
    row = _proposal(conn, proposal_id)
    if not single_step:
        guard.require_role(user, "review")
        if row.proposed_by == user.name:
            raise AccessRefused(
                f"{user.name}提出了初审意见（第{proposal_id}号），不能再审核自己的意见：审核由另一位审核人办理。"
            )
    guard.require_past(on, what="审核")
    if on < row.proposed_on:
        raise ListError(f"Proposal {proposal_id} was made on {row.proposed_on}; it cannot be reviewed earlier ({on}).")
    entry, _ = _entry_of(conn, row.kind, row.target_id)
    may_act(user, entry)
    return row


def approve(conn, user: User, proposal_id: int, on: dt.date, single_step: bool = False) -> dict[str, Any]:
    """Approve (审核通过) another user's proposal: the decision is carried out now, signed by both."""
    row = _review(conn, user, proposal_id, on, single_step)
    signed = {
        "proposal_id": proposal_id,
        "proposed_by": row.proposed_by,
        "proposed_on": row.proposed_on.isoformat(),
        "approved_by": user.name,
        "approved_on": on.isoformat(),
        **({"single_step": True} if single_step else {}),
    }
    result = _carry_out(conn, row, user.name, on, signed)
    people.insert_review(conn, proposal_id, "approved", None, on, user.name)
    audit(conn, user.name, f"approve.{row.kind}", f"entry {row.entry_id}", proposal_id=proposal_id)
    return {"proposal_id": proposal_id, "kind": row.kind, "status": "approved", "signed": signed, "result": result}


def send_back(conn, user: User, proposal_id: int, reason: str, on: dt.date) -> dict[str, Any]:
    """Return (退回) a proposal with the reviewer's reason; nothing else changes."""
    reason = (reason or "").strip()
    if not reason:
        raise ListError("A returned proposal says why (the clerk reads it in the queue).")
    row = _review(conn, user, proposal_id, on)
    people.insert_review(conn, proposal_id, "returned", reason, on, user.name)
    audit(conn, user.name, f"return.{row.kind}", f"entry {row.entry_id}", proposal_id=proposal_id)
    return {"proposal_id": proposal_id, "kind": row.kind, "status": "returned", "reason": reason}


def decide_directly(
    conn, user: User, kind: str, target_id: int, decision: dict[str, Any], reason: str, on: dt.date
) -> dict[str, Any]:
    """An admin's one-step decision (the CLI's commands as before): proposal and approval by the same admin,
    marked ``single_step`` in the event and the history."""
    guard.require_role(user, "decide_directly")
    proposed = propose(conn, user, kind, target_id, decision, reason, on)
    return approve(conn, user, proposed["proposal_id"], on, single_step=True)


def decide(
    conn, user: User, kind: str, target_id: int, decision: dict[str, Any], reason: str, on: dt.date
) -> dict[str, Any]:
    """What a decision command does for ``user``: an admin decides in one step, anyone else proposes."""
    if user.role == "admin":
        return decide_directly(conn, user, kind, target_id, decision, reason, on)
    return propose(conn, user, kind, target_id, decision, reason, on)


def _named(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["kind_name"] = KIND_NAMES[row["kind"]]
        row["status"] = row["outcome"] or "pending"
    return rows


def _visible(user: User | None, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if user is None:
        return rows
    return [r for r in rows if user.covers_region(r["region"]) and user.runs_pack(r["pack_id"])]


def pending(conn, user: User | None = None) -> list[dict[str, Any]]:
    """Proposals awaiting review (within ``user``'s authority when given)."""
    return _visible(user, _named(people.proposals(conn, "pending")))


def returned(conn, user: User | None = None) -> list[dict[str, Any]]:
    """Proposals returned by a reviewer with no newer proposal of the same target: the clerk's to redo."""
    return _visible(user, _named(people.proposals(conn, "returned")))


def of_entry(conn, entry_id: int) -> list[dict[str, Any]]:
    """Every proposal on an entry with its review, oldest first (the case page's history)."""
    return _named(people.proposals(conn, entry_id=entry_id))
