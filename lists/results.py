"""Typed results of the lists functions (show, history, publish, measures pending): their fields are the keys
of the JSON document ``--json`` prints, ``lines()`` the text the command prints."""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass
from typing import Any

from engine.results import DictResult, Result


def last_day(until: str | None) -> str:
    """The last day of publication (what the public site prints as 公示截止日期) of a stored exclusive end."""
    if not until:
        return "no end"
    return (dt.date.fromisoformat(str(until)[:10]) - dt.timedelta(days=1)).isoformat()


def signed_detail(d: dict) -> str:
    """初审 / 审核 of a two-step decision (lists/approvals.py), or the admin's one step."""
    s = d.get("signed") or {}
    if not s:
        return ""
    if s.get("single_step"):
        return f" [decided in one step by {s.get('approved_by')}]"
    return (
        f" [proposed by {s.get('proposed_by')} on {s.get('proposed_on')}, approved by {s.get('approved_by')} "
        f"on {s.get('approved_on')}]"
    )


def event_detail(ev: dict) -> str:
    """What the history line of an event adds after its reason."""
    d = ev.get("data") or {}
    return _event_detail(ev, d) + signed_detail(d)


def _event_detail(ev: dict, d: dict) -> str:
    if ev["event"] == "notified":
        return f" (objections until {d.get('objection_deadline')})"
    if ev["event"] in ("listed", "extended"):
        return f" (published through {last_day(d.get('until'))})"
    if ev["event"].startswith("objection_"):
        return f" [objection {d.get('objection_id')}]"
    if ev["event"] == "repair_refused":
        return f" [application {d.get('application_id')}; earliest {d.get('earliest_on') or 'never'}]"
    if ev["event"].startswith("repair") and d.get("application_id"):
        return f" [application {d.get('application_id')}]"
    return ""


@dataclass
class ListView(Result):
    """The entries of a list on a date (lifecycle.show)."""

    list: str  # the field shadows the builtin in this class body: builtins.list below
    title: str
    as_of: str
    state: str
    entries: builtins.list[dict[str, Any]]

    def lines(self) -> builtins.list[str]:
        lines = [f"{self.title} ({self.list}) on {self.as_of}: {len(self.entries)} entries ({self.state})"]
        for e in self.entries:
            period = f"{e['listed_from']} .. {last_day(e['until'])}" if e["listed_from"] else "never listed"
            served = (
                f"  served {e['served_on']}, objections until {e['objection_deadline']}"
                if e.get("objection_deadline")
                else ""
            )
            lines.append(
                f"  {e['id']:>5} {e['code']} {e['name']}  {e['state']:<9} {period}{served}  "
                f"{e['authority'] or '-'}  {e['rule']}: {e['reason']}"
            )
        return lines


@dataclass
class EntityHistory(Result):
    """Every list entry of an entity with its events, objections, repairs, measure tasks, notices
    (lifecycle.history)."""

    code: str
    name: str
    entries: list[dict[str, Any]]

    def lines(self) -> list[str]:
        lines = [f"{self.name} {self.code}: {len(self.entries)} list entries"]
        for e in self.entries:
            lines.append(f"Entry {e['id']}  {e['list']} {e['list_title']}  now {e['state']} (since {e['since']})")
            lines.append(
                f"  rule {e['rule']}; basis {e['basis']}; authority {e['authority'] or '-'}; "
                f"decision no. {e['decision_no'] or '-'}; cycle {e['cycle_id']} decision {e['decision_id']}"
            )
            lines.append(f"  reason: {e['reason']}")
            for ev in e["events"]:
                lines.append(
                    f"  #{ev['seq']:<2} {ev['valid_from']}  {ev['event']:<18} -> {ev['state']:<9} "
                    f"by {ev['actor']}: {ev['reason'] or ''}{event_detail(ev)}"
                )
            tasks = e["measure_tasks"]
            if tasks:
                for action in ("apply", "lift"):
                    mine = [t for t in tasks if t["action"] == action]
                    if mine:
                        acked = sum(1 for t in mine if t["acked_on"])
                        lines.append(
                            f"  measures to {action}: {len(mine)} tasks, {acked} acknowledged "
                            f"({', '.join(sorted({t['department'] for t in mine}))})"
                        )
            for n in e["notices"]:
                lines.append(f"  notice {n['number']} {n['kind']} issued {n['issued_on']}")
        return lines


@dataclass
class PublishedLists(Result):
    """What lists.publish wrote: the folder, the date, entries per list folder, the files, entries without a
    stored listing document."""

    out: str
    as_of: str
    counts: dict[str, int]
    files: list[str]
    missing_documents: list[int]

    def lines(self) -> list[str]:
        line = (
            f"Published {sum(self.counts.values())} entries as of {self.as_of} into {self.out} ("
            + ", ".join(f"{k}: {v}" for k, v in self.counts.items())
            + ")."
        )
        missing = self.missing_documents
        if missing:
            ids = ", ".join(str(i) for i in missing[:10])
            line += (
                f"\n{len(missing)} entries have no stored listing document (决定文号 shows 未记载): "
                f"entries {ids}{' ...' if len(missing) > 10 else ''}; issue their notices with "
                f"'supervise notices issue --cycle ID' and publish again."
            )
        return [line]


@dataclass
class PendingTasks(Result):
    """Measure tasks not acknowledged on a date, overdue ones counted per department (measures.pending)."""

    as_of: str
    department: str | None
    tasks: list[dict[str, Any]]
    overdue: int
    overdue_by_department: dict[str, int]

    def lines(self) -> list[str]:
        lines = [
            f"{len(self.tasks)} measure tasks pending on {self.as_of}"
            + (f" for {self.department}" if self.department else "")
            + f", {self.overdue} overdue."
        ]
        for t in self.tasks:
            late = f"  OVERDUE {t['overdue_days']} days" if t["overdue_days"] else ""
            lines.append(
                f"  task {t['task_id']:>5} {t['action']:<5} {t['measure_id']} ({t['department']}) "
                f"{t['list']} {t['code']} {t['name']}, due {t['due_on']}{late}"
            )
        for dept, n in self.overdue_by_department.items():
            lines.append(f"Overdue: {dept}: {n}")
        return lines


class Served(dict):
    """Pre-listing notices served (lifecycle.serve): on, served entries with their objection deadlines, skipped
    entries, and a note when nothing could be served. A dict: tests and the demo read its keys."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def lines(self) -> list[str]:
        lines = [
            f"Notice served on {self['on']} for {len(self['served'])} entries; {len(self['skipped'])} not proposed "
            f"(left alone)."
        ]
        lines += [
            f"  entry {s['entry_id']} {s['list']} {s['code']}: objections until {s['objection_deadline']}"
            for s in self["served"]
        ]
        if self.get("note"):
            lines.append(self["note"])
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


class Advanced(dict):
    """Entries listed and expired on a date (lifecycle.advance), and the ones still waiting, counted by why.
    A dict: tests and the demo read its keys."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def lines(self) -> list[str]:
        waiting = ", ".join(f"{v} {k}" for k, v in self["waiting"].items())
        ended = ""
        if self.get("revoked") or self.get("cured"):
            ended = (
                f", {len(self.get('revoked') or [])} revoked and {len(self.get('cured') or [])} removed because "
                f"their basis was annulled or cured"
            )
        return [
            f"As of {self['as_of']}: {len(self['listed'])} listed, {len(self['expired'])} expired{ended}"
            + (f"; waiting: {waiting}" if waiting else "")
            + "."
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class Proposed(DictResult):
    """propose_from_cycle (Proposer.finish): cycle_id, as_of, proposed, listed, skipped, counts per list."""

    def lines(self) -> list[str]:
        return [
            f"Cycle {self['cycle_id']}: {len(self['proposed'])} entries proposed "
            f"({', '.join(f'{k}: {v}' for k, v in self['counts'].items()) or 'none'}), "
            f"{len(self['listed'])} listed at once (no objection window), {len(self['skipped'])} skipped "
            f"(already listed or already proposed by this cycle)."
        ]


class Revoked(DictResult):
    """revoke: entry_id, was, state, on."""

    def lines(self) -> list[str]:
        return [f"Entry {self['entry_id']} revoked on {self['on']} (was {self['was']})."]


class Extended(DictResult):
    """extend: entry_id, until, previous_until."""

    def lines(self) -> list[str]:
        return [f"Entry {self['entry_id']} now published until {self['until']} (was {self['previous_until']})."]


class ObjectionFiled(DictResult):
    """file_objection: objection_id, entry_id, state, filed_on."""

    def lines(self) -> list[str]:
        return [
            f"Objection {self['objection_id']} filed on {self['filed_on']}; entry {self['entry_id']} "
            f"({self['state']}) waits for the decision."
        ]


class ObjectionDecided(DictResult):
    """decide_objection: objection_id, entry_id, decision, state, listable_on."""

    def lines(self) -> list[str]:
        pending = self["state"] != "listed" and self["listable_on"]
        return [
            f"Objection {self['objection_id']} {self['decision']}; entry {self['entry_id']} is {self['state']}"
            + (f" (listed from {self['listable_on']} unless something else happens)" if pending else "")
            + "."
        ]


class RepairApplied(DictResult):
    """repair.apply: application_id, entry_id, status (pending or refused), decide_by, eligibility; a refused
    application also its message (the command's error) and no text."""

    @property
    def refused(self) -> bool:
        return self["status"] == "refused"

    def lines(self) -> list[str]:
        if self.refused:
            return []
        return [
            f"Repair application {self['application_id']} for entry {self['entry_id']} meets every condition; "
            f"decide it by {self['decide_by']} (supervise repair decide {self['application_id']} "
            f"--approve|--reject --reason ...)."
        ]


class RepairDecided(DictResult):
    """repair.decide: application_id, entry_id, decision, state, on."""

    def lines(self) -> list[str]:
        return [
            f"Repair application {self['application_id']} {self['decision']} on {self['on']}; "
            f"entry {self['entry_id']} is {self['state']}."
        ]


class TaskAcked(DictResult):
    """measures.ack: the task's view with late (acknowledged after its due date)."""

    def lines(self) -> list[str]:
        return [
            f"Task {self['task_id']} ({self['action']} {self['measure_id']}, {self['department']}) acknowledged on "
            f"{self['acked_on']} by {self['acked_by']}" + (" — after its due date" if self["late"] else "") + "."
        ]


class ProposalMade(DictResult):
    """approvals.propose: proposal_id, kind, kind_name, entry_id, target_id, decision, proposed_by, proposed_on."""

    def lines(self) -> list[str]:
        return [
            f"Proposal {self['proposal_id']} ({self['kind']}, entry {self['entry_id']}) recorded by "
            f"{self['proposed_by']} on {self['proposed_on']}; it takes effect once another user with the reviewer "
            f"role approves it: supervise approvals approve {self['proposal_id']} --as REVIEWER"
        ]


class Reviewed(DictResult):
    """approvals.approve / send_back: proposal_id, kind, status (approved | returned), signed or reason, result."""

    def lines(self) -> list[str]:
        if self["status"] == "returned":
            return [f"Proposal {self['proposal_id']} ({self['kind']}) returned: {self['reason']}"]
        s = self["signed"]
        how = " (one step, by an admin)" if s.get("single_step") else f"; proposed by {s['proposed_by']}"
        out = (
            []
            if s.get("single_step")
            else [f"Proposal {self['proposal_id']} ({self['kind']}) approved by {s['approved_by']}{how}."]
        )
        result: Any = self.get("result")
        return out + (result.lines() if hasattr(result, "lines") else [])


class ProposalList(DictResult):
    """approvals.listing: proposals (pending or returned)."""

    def lines(self) -> list[str]:
        rows = self["proposals"]
        out = [f"{len(rows)} proposals {self['status']}"]
        for p in rows:
            review = f"; returned by {p['reviewed_by']}: {p['review_reason']}" if p["status"] == "returned" else ""
            out.append(
                f"  {p['id']:>5} {p['kind']:<10} entry {p['entry_id']} {p['code']} {p['entity_name']}  "
                f"by {p['proposed_by']} on {p['proposed_on']}: {p['reason']}{review}"
            )
        return out
