"""List entries (red, black, key-watch ...) as dated records with an append-only event history.

An entry links an entity to a list with its rule, legal basis, deciding authority, reason and the cycle decision
that proposed it. Its life is a sequence of events, each with a ``valid_from`` date (when it takes legal effect)
and a ``recorded_at`` time (when it was written)::

    proposed -> notified -> listed -> expired | repaired | revoked
    proposed -> listed                  (lists with objection_days 0: no pre-listing notice)
    proposed | notified -> revoked      (objection upheld, or basis overturned before listing)

Objections, repair applications and extensions are events that keep the state. Nothing is updated or deleted:
the state on a date is the state of the last event valid on or before that date, so "what was published on
date D" is a query, not a guess.

Automatic transitions (listing once the objection window has passed, expiry at the end of the maximum period)
are made by :func:`advance`; every manual action first catches its entry up to the action's date, so an action
never lands on a state the entry had already left in law.

The list rules (objection window, periods, measures, repair block) come from the pack version the entry was
proposed under, which the entry names (``data.policy_version_id``; stored versions are immutable and content-
hashed): an entry keeps the regime it was decided under, whatever later versions say (:func:`list_regime`).

A cycle's proposals are written in bulk (:class:`Proposer`, :class:`Batch`); their documents come from ``supervise
notices issue --cycle ID``, except the pre-listing notice, which states the objection deadline counted from its
service and is issued when it is served (:func:`serve`). Single actions (serve, objections, advance, revoke,
repair) issue theirs inline. Every deadline comes from :mod:`engine.deadlines`.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import hashlib
import json
import pathlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import authorities, deadlines
from engine.errors import EntityNotFound, ListError, UsageProblem, did_you_mean
from engine.evidence import cn_date, record_words
from engine.progress import announce, collector_paused
from engine.register.codes import fold
from engine.register.records import RecordKind
from engine.store import audit, chunked, now
from engine.store import cycles as cycles_q
from engine.store import entities as entities_q
from engine.store import lists as q
from engine.store import records as records_q
from engine.values import add_months, cite, fill, has_cjk, in_china
from lists import measures
from lists.results import (
    Advanced,
    EntityHistory,
    Extended,
    ListView,
    ObjectionDecided,
    ObjectionFiled,
    Proposed,
    Revoked,
    Served,
)
from notices import issue as notices_issue
from policies import record_kinds as _all_record_kinds

STATES = ("proposed", "notified", "listed", "expired", "repaired", "revoked")
PRE_LISTING = ("proposed", "notified")
OPEN = ("proposed", "notified", "listed")
TERMINAL = ("expired", "repaired", "revoked")

# event -> (states it may follow, state after it; None keeps the state). ``listed`` may follow ``proposed``
# only on lists without an objection window (checked in _append).
TRANSITIONS: dict[str, tuple[tuple[str | None, ...], str | None]] = {
    "proposed": ((None,), "proposed"),
    "notified": (("proposed",), "notified"),
    "objection_filed": (PRE_LISTING, None),
    "objection_rejected": (PRE_LISTING, None),
    "objection_upheld": (PRE_LISTING, "revoked"),
    "listed": (PRE_LISTING, "listed"),
    "extended": (("listed",), None),
    "repair_applied": (("listed",), None),
    "repair_refused": (("listed",), None),
    "repair_rejected": (("listed",), None),
    "repaired": (("listed",), "repaired"),
    "expired": (("listed",), "expired"),
    "revoked": (OPEN, "revoked"),
    "cured": (("listed",), "repaired"),  # the state behind the entry was cured (abnormal operation removed)
}
DEFAULT_RECORD_LOOKBACK_MONTHS = 36
STOP_PUBLICATION_WORKING_DAYS = 3  # Order 44 Art.19: publication stops within 3 working days of the annulment


@functools.cache
def record_kinds() -> dict[str, RecordKind]:
    """The record kinds (their ``ends``), read once per process."""
    return _all_record_kinds()


BASIS_RECORD_KINDS = ("penalty", "tax_violation")


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def jsonable(value: Any) -> Any:
    """Dates to ISO strings, recursively (for JSON columns and --json output)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def file_ref(path: str | pathlib.Path | dict[str, Any], what: str) -> dict[str, Any]:
    """Fingerprint a supporting file (evidence, commitment ...): path, size and SHA-256, never its content. An
    attachment uploaded in the console (lists/attachments.py) is already a reference: it is kept as it is."""
    if isinstance(path, dict):
        if not (path.get("attachment_id") and path.get("sha256") and path.get("name")):
            raise ListError(f"The {what} reference {path!r} names no stored attachment (attachment_id, sha256, name).")
        return {k: path[k] for k in ("name", "attachment_id", "size", "sha256", "media_type") if k in path}
    p = pathlib.Path(path)
    if not p.is_file():
        raise ListError(f"The {what} file {p} does not exist or is not a file; give the path of the document.")
    data = p.read_bytes()
    return {"name": p.name, "path": str(p.resolve()), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@dataclass
class Entry:
    """An entry with its events; every state question is answered from the events."""

    row: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    regime: dict[str, Any] | None = None  # list_def and measures of the list in the entry's pack version

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def list(self) -> str:
        return self.row["list"]

    @property
    def data(self) -> dict[str, Any]:
        return self.row.get("data") or {}

    @property
    def list_def(self) -> dict[str, Any]:
        """The list's rules as the entry's pack version defined them (entries written before the regime was
        kept by reference carry their own copy in ``data``)."""
        return self.data.get("list_def") or (self.regime or {}).get("list_def") or {}

    @property
    def measures(self) -> dict[str, dict[str, Any]]:
        """Measure id -> the measure (text, kind, department, services, basis as text) the list carries."""
        return self.data.get("measures") or (self.regime or {}).get("measures") or {}

    @property
    def title(self) -> str:
        return self.list_def.get("title") or self.list

    @property
    def label(self) -> str:
        return f"Entry {self.id} ({self.list}, {self.row.get('code', 'entity ' + str(self.row['entity_id']))})"

    @property
    def objection_days(self) -> int:
        return int(self.list_def.get("objection_days") or 0)

    @property
    def timing(self) -> dict[str, Any]:
        """What the deadlines of the entry's pack version are counted with (``deadlines`` rules and
        ``publication`` holidays), as a version-shaped mapping for :mod:`engine.deadlines`."""
        return (self.regime or {}).get("timing") or {}

    @property
    def last(self) -> dict[str, Any] | None:
        return self.events[-1] if self.events else None

    @property
    def state(self) -> str | None:
        return self.last["state"] if self.last else None

    @property
    def since(self) -> dt.date | None:
        """Date the current state began."""
        since, state = None, None
        for ev in self.events:
            if ev["state"] != state:
                since, state = ev["valid_from"], ev["state"]
        return since

    def event(self, name: str) -> dict[str, Any] | None:
        for ev in reversed(self.events):
            if ev["event"] == name:
                return ev
        return None

    def state_on(self, day: dt.date) -> str | None:
        state = None
        for ev in self.events:
            if ev["valid_from"] > day:
                break
            state = ev["state"]
        return state

    @property
    def listed_from(self) -> dt.date | None:
        ev = self.event("listed")
        return ev["valid_from"] if ev else None

    @property
    def served_on(self) -> dt.date | None:
        ev = self.event("notified")
        return ev["valid_from"] if ev else None

    @property
    def objection_deadline(self) -> dt.date | None:
        """Last day an objection may be filed, as fixed when the notice was served (stored with the
        ``notified`` event; computed by :func:`engine.deadlines.objection_end` for events stored without it)."""
        ev = self.event("notified")
        if ev is None:
            return None
        stored = _date((ev.get("data") or {}).get("objection_deadline"))
        return stored or deadlines.objection_end(self.timing, self.list_def, ev["valid_from"])

    def until_on(self, day: dt.date | None = None) -> dt.date | None:
        """End of the publication period (exclusive) as known on ``day`` (default: latest), None = no end."""
        until = None
        for ev in self.events:
            if day is not None and ev["valid_from"] > day:
                break
            if ev["event"] in ("listed", "extended"):
                until = _date((ev.get("data") or {}).get("until"))
        return until

    @property
    def pending_objections(self) -> builtins.list[int]:  # builtins: the class has a `list` property
        if self.state not in PRE_LISTING:
            return []
        filed: builtins.list[Any] = [  # the events' JSON data: objection_filed always names its objection
            (ev.get("data") or {}).get("objection_id") for ev in self.events if ev["event"] == "objection_filed"
        ]
        decided = {
            (ev.get("data") or {}).get("objection_id")
            for ev in self.events
            if ev["event"] in ("objection_rejected", "objection_upheld")
        }
        return [i for i in filed if i not in decided]

    @property
    def pending_application(self) -> int | None:
        if self.state != "listed":
            return None
        applied = [
            (ev.get("data") or {}).get("application_id") for ev in self.events if ev["event"] == "repair_applied"
        ]
        closed = {
            (ev.get("data") or {}).get("application_id")
            for ev in self.events
            if ev["event"] in ("repair_rejected", "repaired")
        }
        open_ = [i for i in applied if i not in closed]
        return open_[-1] if open_ else None

    def listable_on(self) -> dt.date | None:
        """The date the entry becomes listed if nothing else happens, or None (not yet known / not applicable)."""
        if self.state == "proposed" and self.objection_days == 0:
            assert self.last is not None  # a state is the last event's
            return self.last["valid_from"]
        if self.state != "notified" or self.pending_objections:
            return None
        assert self.objection_deadline is not None and self.last is not None  # a notified entry was served
        day = deadlines.listable_from(self.objection_deadline)
        rejected = self.event("objection_rejected")
        if rejected is not None:
            day = max(day, rejected["valid_from"])
        return max(day, self.last["valid_from"])

    def due(self, on: dt.date) -> tuple[str, dt.date, str] | None:
        """The automatic transition that is due on or before ``on``: (event, valid_from, reason)."""
        if self.state in PRE_LISTING:
            day = self.listable_on()
            if day is not None and day <= on:
                # In the words of the record the public and other systems read (the list feed shows them).
                if self.state == "proposed":
                    return "listed", day, f"{self.title}不设异议期，依程序列入"
                deadline = cn_date(self.objection_deadline)
                return "listed", day, f"异议期已于{deadline}届满，无未处理的异议，依程序列入{self.title}"
        elif self.state == "listed":
            until = self.until_on()
            if until is not None and until <= on:
                last = cn_date(until - dt.timedelta(days=1))  # until is exclusive: the last day published
                return "expired", until, f"公示期限已于{last}届满，移出{self.title}"
        return None

    def in_effect_on(self, day: dt.date) -> bool:
        """Listed on ``day`` and inside the publication period (valid_from <= day < until)."""
        if self.state_on(day) != "listed":
            return False
        until = self.until_on(day)
        return until is None or day < until

    def published_on(self, day: dt.date) -> bool:
        return bool(self.list_def.get("publish")) and self.in_effect_on(day)

    def summary(self, as_of: dt.date | None = None) -> dict[str, Any]:
        r = self.row
        return jsonable(
            {
                "id": self.id,
                "list": self.list,
                "list_title": self.title,
                "code": r.get("code"),
                "name": r.get("entity_name"),
                "state": self.state_on(as_of) if as_of else self.state,
                "since": self.since,
                "listed_from": self.listed_from,
                "until": self.until_on(as_of),
                "served_on": self.served_on,
                "objection_deadline": self.objection_deadline,
                "rule": r["rule_id"],
                "basis": r["basis"],
                "authority": r.get("authority"),
                "decision_no": r.get("decision_no"),
                "reason": r["reason"],
                "cycle_id": r.get("cycle_id"),
                "decision_id": r.get("decision_id"),
                "pack_id": r.get("pack_id"),
            }
        )


# -- loading and appending ----------------------------------------------------------------------------------


def list_regime(version: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The rules an entry on list ``name`` lives under in a pack version body: ``list_def`` and its ``measures``
    (basis resolved to text), plus ``missing`` measure ids the catalogue lacks; None if there is no such list.

    Entries keep the regime they were decided under by referring to their stored, immutable pack version
    (``data.policy_version_id``) instead of copying it: a copy was 3 KB of JSON per entry."""
    ldef = (version.get("lists") or {}).get(name)
    if ldef is None:
        return None
    catalogue = version.get("measures") or {}
    wanted = ldef.get("measures") or []
    chosen = {
        mid: {**catalogue[mid], "basis": basis_text(version, catalogue[mid].get("basis"))}
        for mid in wanted
        if mid in catalogue
    }
    chosen = jsonable(chosen)
    pub = version.get("publication") or {}
    timing = {
        "deadlines": version.get("deadlines") or {},
        "publication": {k: pub[k] for k in ("holidays", "working_weekends") if pub.get(k)},
    }
    return {
        "list_def": jsonable(ldef),
        "measures": chosen,
        "task_data": {mid: measures.task_data(name, m) for mid, m in chosen.items()},
        "missing": [mid for mid in wanted if mid not in catalogue],
        "timing": jsonable(timing),
    }


def load(conn, entry_ids: Iterable[int]) -> list[Entry]:
    ids = sorted(set(entry_ids))
    rows = q.get_entries(conn, ids)
    events = q.events_for(conn, ids)
    version_ids = {(r.get("data") or {}).get("policy_version_id") for r in rows.values()}
    bodies = q.pack_bodies(conn, {v for v in version_ids if v is not None})
    regimes: dict[tuple[int | None, str], dict[str, Any] | None] = {}
    out = []
    for i in ids:
        if i not in rows:
            continue
        row = rows[i]
        key = ((row.get("data") or {}).get("policy_version_id"), row["list"])
        if key not in regimes:
            body = bodies.get(key[0]) if key[0] is not None else None
            regimes[key] = list_regime(body.get("version") or {}, key[1]) if body else None
        out.append(Entry(row, events.get(i, []), regimes[key]))
    return out


def load_one(conn, entry_id: int, lock: bool = True) -> Entry:
    if lock:
        q.lock_entries(conn, [entry_id])
    found = load(conn, [entry_id])
    if not found:
        raise ListError(
            f"There is no list entry {entry_id}; find entry ids with 'supervise lists history CODE' "
            f"or 'supervise lists show LIST'."
        )
    return found[0]


class Batch:
    """Use this when many entries move at once: the event rows and measure tasks that :func:`_append` makes are
    kept here and written by :meth:`flush` in one multi-row insert each, instead of a statement per event.

    ``documents=True`` (serving, advancing): the notices the events call for are issued at :meth:`flush` as well,
    all of the batch's in one call (``notices.issue.issue_for_list_events``). ``documents=False`` (a cycle's
    proposals): none are issued; ``supervise notices issue --cycle ID`` issues them (pre-listing notices with
    repair instructions, 两书同达 on listing), and :func:`serve` a pre-listing notice still missing."""

    def __init__(self, documents: bool = True, sealer: notices_issue._Sealer | None = None) -> None:
        self.documents = documents
        self.sealer = sealer  # stores the notices (notices.issue.sealer): the caller drains it before committing
        self.events: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.notices: list[tuple[int, dict[str, Any]]] = []  # (entry id, event) whose notices are due
        self.entries: dict[int, Entry] = {}  # the entries of those events, as loaded (the notices read no more)
        # Measures applied to the chunk's entries: read ahead for the listed ones (:meth:`read_ahead`) and added
        # to as the batch applies more, so that a removal lifts exactly what was applied without a query per entry.
        self.applied: dict[int, set[str]] = {}
        self.read: set[int] = set()  # entries whose stored applied measures are in ``applied``

    def read_ahead(self, conn, entries: Sequence[Entry]) -> None:
        """Read the applied measures of the chunk's listed entries in one query (a removal lifts them)."""
        listed = [e.id for e in entries if e.state == "listed"]
        for entry_id, found in q.applied_measures(conn, listed).items():
            self.applied.setdefault(entry_id, set()).update(found)
        self.read.update(listed)

    def applied_to(self, conn, entry_id: int) -> set[str]:
        """The measures applied to an entry: stored (read ahead, else looked up now) and applied in this batch."""
        if entry_id not in self.read:
            stored = q.applied_measures(conn, [entry_id])[entry_id]
            self.applied.setdefault(entry_id, set()).update(stored)
            self.read.add(entry_id)
        return self.applied.get(entry_id, set())

    def add_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        self.tasks.extend(rows)
        for row in rows:
            if row["action"] == "apply":
                self.applied.setdefault(row["entry_id"], set()).add(row["measure_id"])

    def flush(self, conn) -> None:
        q.insert_events(conn, self.events)
        q.insert_tasks(conn, self.tasks)
        _issue_notices_many(conn, self.notices, self.sealer, self.entries)  # after the events are stored
        self.events, self.tasks, self.notices, self.entries = [], [], [], {}


def _event_row(
    entry: Entry, event: str, valid_from: dt.date, actor: str, reason: str | None, data: dict[str, Any] | None
) -> dict[str, Any]:
    """Check that ``event`` may follow the entry's history and build its row (not yet stored)."""
    allowed, to_state = TRANSITIONS[event]
    before = entry.state
    if before not in allowed:
        raise ListError(f"{entry.label} is {before}; '{event}' can only follow {' or '.join(str(s) for s in allowed)}.")
    if event == "listed" and before == "proposed" and entry.objection_days:
        raise ListError(
            f"{entry.label} is proposed and list {entry.list} has a {entry.objection_days}-day objection "
            f"window; serve the pre-listing notice first (supervise lists serve --entry {entry.id})."
        )
    if entry.last and valid_from < entry.last["valid_from"]:
        raise ListError(
            f"{entry.label}: its last event ({entry.last['event']}) takes effect on "
            f"{entry.last['valid_from']}, so '{event}' cannot take effect earlier ({valid_from}); "
            f"use a date on or after {entry.last['valid_from']}."
        )
    if event == "listed":  # the publication period is fixed when the entry is listed
        months = entry.list_def.get("max_months")
        data = {"until": add_months(valid_from, int(months)) if months else None, **(data or {})}
    return {
        "entry_id": entry.id,
        "seq": entry.last["seq"] + 1 if entry.last else 1,
        "event": event,
        "state": to_state or before,
        "valid_from": valid_from,
        "recorded_at": now(),
        "actor": actor,
        "reason": reason,
        "data": jsonable(data),
    }


def _append(
    conn,
    entry: Entry,
    event: str,
    valid_from: dt.date,
    actor: str,
    reason: str | None,
    data: dict[str, Any] | None = None,
    batch: Batch | None = None,
    sent_on: dt.date | None = None,
) -> dict[str, Any]:
    """Append one event after checking the transition, with the measure tasks and notices it calls for: into
    ``batch`` when given, else stored at once (a batch of its own). ``sent_on`` is the day the measure tasks are
    sent to the departments (the day of the action that records the event; default ``valid_from``): a listing
    recorded late still gives each department its full ``ack_days``."""
    own = batch is None
    batch = Batch() if batch is None else batch
    before = entry.state
    row = _event_row(entry, event, valid_from, actor, reason, data)
    batch.events.append(row)
    entry.events.append(row)
    listing = row["state"] == "listed" and before != "listed"
    removal = before == "listed" and row["state"] in TERMINAL
    if listing or removal:  # joint measures: applied on listing, lifted on removal
        day = max(valid_from, sent_on or valid_from)
        if listing:
            batch.add_tasks(measures.task_rows(conn, entry, "apply", day))
        else:
            batch.add_tasks(measures.task_rows(conn, entry, "lift", day, batch.applied_to(conn, entry.id)))
    # Documents: pre-listing notice (with repair instructions), 两书同达 on listing, removal decision.
    if listing or removal or event == "proposed":
        _issue_notices(entry, row, batch)
    if own:
        batch.flush(conn)
    return row


def _issue_notices(entry: Entry, event: dict[str, Any], batch: Batch) -> None:
    """Ask for the documents an event needs, issued when the batch is flushed (not at all for a batch without
    documents): the pack's list ``notices`` mapping decides (pre-listing notice with repair instructions, 两书同达
    on listing, removal decision on removal), each dated the event's valid_from. Issuing is idempotent (one notice
    per event and kind)."""
    if batch.documents:
        batch.notices.append((entry.id, event))
        batch.entries[entry.id] = entry


def _issue_notices_many(
    conn,
    events: Sequence[tuple[int, dict[str, Any]]],
    sealer: notices_issue._Sealer | None = None,
    entries: dict[int, Entry] | None = None,
) -> None:
    """The one place that calls the notices package for list events (``entries``: theirs, as loaded)."""
    if events:
        notices_issue.issue_for_list_events(
            conn,
            [(entry_id, event["seq"]) for entry_id, event in events],
            sealer=sealer,
            loaded={i: (e.row, e.events) for i, e in (entries or {}).items()},
            summaries=False,
        )


def catch_up(
    conn, entry: Entry, on: dt.date, actor: str = "system", batch: Batch | None = None
) -> list[dict[str, Any]]:
    """Make the automatic transitions due on or before ``on`` (listing, expiry); returns the new events."""
    made = []
    while (due := entry.due(on)) is not None:
        event, day, reason = due
        # A listing carries the two names of the decision whose notice was served (the 列入决定 shows them).
        served = entry.event("notified") if event == "listed" else None
        signed = ((served or {}).get("data") or {}).get("signed")
        data = {"signed": signed} if signed else None
        made.append(_append(conn, entry, event, day, actor, reason, data, batch=batch, sent_on=on))
    return made


def _signed(data: dict[str, Any] | None, signed: dict[str, Any] | None) -> dict[str, Any] | None:
    """Event data with the two names of a two-step decision (lists/approvals.py) under ``signed``: proposal id,
    proposed_by/on (初审), approved_by/on (审核), single_step for an admin's one-step decision."""
    if not signed:
        return data
    return {**(data or {}), "signed": signed}


def _require_state(entry: Entry, states: Sequence[str], action: str, fix: str = "") -> None:
    if entry.state not in states:
        raise ListError(
            f"{entry.label} is {entry.state} (since {entry.since}); {action} only while it is "
            f"{' or '.join(states)}.{(' ' + fix) if fix else ''}"
        )


# -- proposals from a committed cycle -----------------------------------------------------------------------


def basis_text(version: dict[str, Any], basis: Any) -> str:
    """A legal basis as text: plain text stays, ``{doc, article}`` becomes the document title and article."""
    if isinstance(basis, dict):
        doc = (version.get("basis") or {}).get(basis.get("doc")) or {}
        title = doc.get("title") or basis.get("doc")
        return cite(str(title), basis.get("article") or None) if title else ""  # as notices cite: 《名》（文号）第X条
    return str(basis or "")


def basis_spec(ldef: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The record kinds and field values of an entry's basis records: the list's ``basis_records: {kinds, where}``
    (e.g. the abnormal list: its abnormal-operation records), else penalties and tax violations."""
    spec = ldef.get("basis_records") or {}
    return tuple(spec.get("kinds") or BASIS_RECORD_KINDS), dict(spec.get("where") or {})


def _ended(kind: RecordKind | None, data: dict[str, Any], on: dt.date) -> tuple[str, dt.date] | None:
    """(meaning, date) of the first end-date field of the record reached by ``on`` (``ends`` of its kind)."""
    for fname, meaning in kind.ends if kind else ():
        day = _date(data.get(fname))
        if day is not None and day <= on:
            return meaning, day
    return None


def _basis_records(
    records: Sequence[dict[str, Any]], as_of: dt.date, item: dict[str, Any], ldef: dict[str, Any]
) -> list[dict]:
    """The records behind an entry, from the entity's records dated up to ``as_of``: the outcome's ``records``
    ids if it names them, else the records of the list's basis kinds (:func:`basis_spec`) in force on ``as_of``
    (no end date of their kind reached), penalties and tax violations only within the list's maximum period
    before ``as_of``."""
    if not records:  # most proposed entities have none of the basis kinds
        return []
    wanted = item.get("records")
    if wanted is not None:
        chosen = [r for r in records if r["id"] in set(wanted)]
    else:
        kinds_, where = basis_spec(ldef)
        known = record_kinds()
        since = add_months(as_of, -int(ldef.get("max_months") or DEFAULT_RECORD_LOOKBACK_MONTHS))
        chosen = [
            r
            for r in records
            if r["kind"] in kinds_
            and (r["kind"] not in BASIS_RECORD_KINDS or r["date"] > since)
            and all(
                (r["data"] or {}).get(f) == v or (isinstance(v, list) and (r["data"] or {}).get(f) in v)
                for f, v in where.items()
            )
            and _ended(known.get(r["kind"]), r["data"] or {}, as_of) is None
        ]
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "date": r["date"].isoformat(),
            "ref": (r["data"] or {}).get("decision_no")
            or (r["data"] or {}).get("ref")
            or (r["data"] or {}).get("code")
            or (r["data"] or {}).get("cause")
            or (r["data"] or {}).get("list"),
            "field": (r["data"] or {}).get("field"),
            "severity": (r["data"] or {}).get("severity"),
        }
        for r in chosen
    ]


ENTRY_CHUNK = 500  # entries loaded, locked and moved together by serve and advance
PROPOSAL_CHUNK = 5000  # decisions per round trip: entries, events and tasks of a chunk go in one insert each


def _entity_regions(conn, ids: set[int]) -> dict[int, dict[str, Any]]:
    """Entity id -> {code, region} (the region decides the issuing authority)."""
    return entities_q.codes_and_regions(conn, ids)


@dataclass
class _Course:
    """What proposing a new entry on a list made, as :func:`_append` and :func:`catch_up` made it for the first new
    entry of the list in a chunk of proposals: its event rows (the proposal first) and measure-task rows, whether it
    was listed at once, and its state and publication end afterwards.

    Every new entry of that list in the chunk goes the same way: an entry without events, proposed on the same
    as-of date by the same actor under the same regime (the list's rules in the cycle's pack version). The
    transitions that follow, their dates, reasons, ``until`` and tasks depend on those alone, not on the entry's
    row nor on the proposal event's reason and data (the rule and decision). So the other entries take copies of
    these rows with their own entry id, and their own reason and data on the proposal (:meth:`follow`):
    tests/lists/test_lists_lifecycle.py compares the rows stored so with those of proposing every entry through
    :func:`_append` and :func:`catch_up`, on SQLite and PostgreSQL."""

    events: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    listed: bool
    state: str
    until: dt.date | None

    def follow(self, batch: Batch, entry_id: int, reason: str, data: dict[str, Any]) -> None:
        """Add the rows of another new entry of the list to ``batch``: the same rows, its id, reason and data."""
        events = batch.events
        events.append({**self.events[0], "entry_id": entry_id, "reason": reason, "data": data})
        for i in range(1, len(self.events)):
            events.append({**self.events[i], "entry_id": entry_id})
        if self.tasks:
            batch.add_tasks([{**t, "entry_id": entry_id} for t in self.tasks])


class Proposer:
    """Use this to create the list entries a committed cycle proposes, in chunks as its decisions come: the cycle
    run feeds it each batch of decisions it stores (:meth:`add`), :func:`propose_from_cycle` feeds it the stored
    decisions; :meth:`finish` returns the summary.

    An entity that already has an open entry on the list is skipped as already listed; a decision proposed twice
    (running it again for the same cycle) proposes nothing the second time. Lists without an objection window are
    listed at once (their joint-measure tasks created). A chunk costs a few statements (a :class:`Batch`), not
    several per entry. The notices these events call for are issued by ``supervise notices issue --cycle ID``
    (or, for a pre-listing notice, by :func:`serve` at the latest)."""

    def __init__(
        self, conn, cycle_id: int, as_of: dt.date | None = None, actor: str = "system", chunk: int = PROPOSAL_CHUNK
    ):
        cycle = cycles_q.get_cycle(conn, cycle_id)  # an unknown id is CycleNotFound
        if cycle["status"] != "committed":
            raise ListError(
                f"Cycle {cycle_id} is {cycle['status']}; only a committed cycle can propose list "
                f"entries (use the cycle that superseded it)."
            )
        as_of = as_of or cycle["as_of"]
        if as_of < cycle["as_of"]:
            raise ListError(
                f"Proposals of cycle {cycle_id} cannot take effect on {as_of}, before the cycle's as-of "
                f"date {cycle['as_of']}; give --as-of {cycle['as_of']} or later."
            )
        body = cycle["pack_body"] or {}
        self.conn, self.cycle, self.as_of, self.actor, self.chunk = conn, cycle, as_of, actor, chunk
        self.pack, self.version = body.get("pack") or {}, body.get("version") or {}
        self.done = q.entries_of_cycle(conn, cycle_id)
        self.latest = q.pair_states(conn, cycle["pack_id"])
        self.summary: dict[str, Any] = {
            "cycle_id": cycle_id,
            "as_of": as_of.isoformat(),
            "proposed": [],
            "listed": [],
            "skipped": [],
        }
        self.per_list: dict[str, dict[str, Any]] = {}  # list name -> its regime and what its entries share
        self.bases: dict[str, str] = {}
        self.items: dict[int, tuple[Any, ...]] = {}  # id(item) -> (item, what its entries share): see _item
        self.authorities: dict[tuple[str, str | None], str] = {}  # (list, region) -> the deciding authority

    def _list(self, name: str, prop: dict, item: dict) -> dict[str, Any]:
        parts = self.per_list.get(name)
        if parts is not None:
            return parts
        cycle, lists_def = self.cycle, self.version.get("lists") or {}
        regime = list_regime(self.version, name)
        if regime is None:
            raise ListError(
                f"Cycle {cycle['id']} decision {prop['decision_id']} proposes list '{name}', which pack "
                f"{cycle['pack_id']} version {cycle['version']} does not define"
                f"{did_you_mean(str(name), lists_def)}; fix the rule '{item.get('rule')}' or add "
                f"the list under 'lists:'."
            )
        if regime["missing"]:
            mid = regime["missing"][0]
            raise ListError(
                f"List '{name}' of pack {cycle['pack_id']} version {cycle['version']} names "
                f"measure '{mid}', which is not in the pack's measures catalogue"
                f"{did_you_mean(mid, self.version.get('measures') or {})}; add it under 'measures:' "
                f"with its department."
            )
        ldef = lists_def[name]
        parts = self.per_list[name] = {"ldef": ldef, "regime": regime}
        return parts

    def _authority(self, name: str, ldef: dict[str, Any], entity: dict[str, Any]) -> str:
        """The deciding authority of the entity's region (``authorities`` in the pack; see engine.authorities),
        found once per list and region."""
        key = (name, entity.get("region"))
        known = self.authorities.get(key)
        if known is not None:
            return known
        found = authorities.for_region(self.pack, entity.get("region"), ldef)
        if found is None:
            raise ListError(
                f"Entity {entity.get('code')} is in region {entity.get('region') or '(none)'}, outside "
                f"every issuing authority of pack {self.cycle['pack_id']} "
                f"({authorities.covered(self.pack)}); add an authority for its region under "
                f"'authorities:' in the pack (list {name})."
            )
        self.authorities[key] = found["name"]
        return found["name"]

    def _basis(self, basis: Any) -> str:
        key = repr(basis)
        if key not in self.bases:
            self.bases[key] = basis_text(self.version, basis)
        return self.bases[key]

    def _item(self, item: dict[str, Any], name: str, ldef: dict[str, Any]) -> tuple[Any, ...]:
        """What every entry of a list proposal (an outcome's item, shared by the decisions of its vector) has
        alike: rule id, basis text, decision number, the proposal event's reason, the entry's reason as written
        (the item's, else the list's title) and whether it names a fact (then filled per entry, see
        :meth:`_reason`); kept with the item, so that its id stays the item's."""
        found = self.items.get(id(item))
        if found is None or found[0] is not item:
            text = str(item.get("reason") or ldef.get("title") or name)
            found = self.items[id(item)] = (
                item,
                str(item.get("rule") or ""),
                self._basis(item.get("basis") or ldef.get("basis")),
                item.get("decision_no"),
                f"proposed by cycle {self.cycle['id']}, rule {item.get('rule')}",
                text,
                "{" in text or "}" in text,
            )
        return found

    @staticmethod
    def _reason(text: str, names_fact: bool, facts: dict[str, Any] | str | bytes) -> str:
        """The entry's reason: ``text`` with the decision's facts filled in. ``facts`` may be their stored JSON
        text, decoded only when the text names a fact (one without braces is its own text, as
        :func:`engine.values.fill` would give it)."""
        if not names_fact:
            return text
        return fill(text, json.loads(facts) if isinstance(facts, (str, bytes)) else facts)

    def add(self, proposals: Iterable[dict[str, Any]]) -> None:
        """Propose the entries of decisions ``{decision_id, entity_id, facts, items}`` (items: the outcome's
        list proposals; facts: the decision's, or their stored JSON text)."""
        for chunk in chunked(proposals, self.chunk):
            self._chunk(chunk)

    def _chunk(self, chunk: list[dict[str, Any]]) -> None:
        conn, cycle, as_of, summary = self.conn, self.cycle, self.as_of, self.summary
        wanted = []  # (prop, item, name, parts, previous entry id)
        for prop in chunk:
            entity_id = prop["entity_id"]
            for item in prop["items"]:
                name = item.get("list")
                parts = self._list(name, prop, item)
                key = (entity_id, name)
                if key in self.done:
                    summary["skipped"].append(
                        {"entity_id": entity_id, "list": name, "why": "already proposed by this cycle"}
                    )
                    continue
                previous = self.latest.get(key)
                # Open, unless its publication period has ended by the as-of date (whether or not 'advance' has
                # recorded the expiry yet): then the entity is proposed again, as a relisting.
                if previous and previous[1] in OPEN and not (previous[2] is not None and previous[2] <= as_of):
                    summary["skipped"].append(
                        {
                            "entity_id": entity_id,
                            "list": name,
                            "why": "already listed",
                            "entry_id": previous[0],
                            "state": previous[1],
                        }
                    )
                    continue
                self.done.add(key)
                wanted.append((prop, item, name, parts, previous[0] if previous else None))
        if not wanted:
            return
        explicit = any(item.get("records") is not None for _, item, *_ in wanted)
        records = records_q.record_rows(
            conn,
            {p["entity_id"] for p, *_ in wanted},
            as_of,
            None if explicit else sorted({k for _, _, _, parts, _ in wanted for k in basis_spec(parts["ldef"])[0]}),
            known_at=cycle.get("known_at"),
        )
        regions = _entity_regions(conn, {p["entity_id"] for p, *_ in wanted})
        rows = []
        proposal_reasons = []
        for prop, item, name, parts, relisting_of in wanted:
            _, rule_id, basis, decision_no, proposal_reason, text, names_fact = self._item(item, name, parts["ldef"])
            proposal_reasons.append(proposal_reason)
            rows.append(
                {
                    "entity_id": prop["entity_id"],
                    "list": name,
                    "pack_id": cycle["pack_id"],
                    "rule_id": rule_id,
                    "basis": basis,
                    "authority": self._authority(name, parts["ldef"], regions.get(prop["entity_id"]) or {}),
                    "decision_no": decision_no,
                    "reason": self._reason(text, names_fact, prop["facts"]),
                    "cycle_id": cycle["id"],
                    "decision_id": prop["decision_id"],
                    "data": {
                        "policy_version_id": cycle["policy_version_id"],
                        "pack_version": cycle["version"],
                        "records": _basis_records(records.get(prop["entity_id"], ()), as_of, item, parts["ldef"]),
                        "relisting_of": relisting_of,
                    },
                }
            )
        batch = Batch(documents=False)
        courses: dict[str, _Course] = {}  # list name -> the course of its first entry in this chunk
        for entry_id, row, reason, (prop, _, name, parts, _) in zip(
            q.insert_entries(conn, rows), rows, proposal_reasons, wanted
        ):
            data = {"cycle_id": cycle["id"], "decision_id": prop["decision_id"]}
            course = courses.get(name)
            if course is None:
                course = courses[name] = self._first(
                    Entry({**row, "id": entry_id}, regime=parts["regime"]), reason, data, batch
                )
            else:
                course.follow(batch, entry_id, reason, data)
            summary["proposed"].append({"entry_id": entry_id, "entity_id": prop["entity_id"], "list": name})
            if course.listed:
                summary["listed"].append(entry_id)
            self.latest[(prop["entity_id"], name)] = (entry_id, course.state, course.until)
        batch.flush(conn)

    def _first(self, entry: Entry, reason: str, data: dict[str, Any], batch: Batch) -> _Course:
        """Propose ``entry`` (a new entry, no events yet) through :func:`_append` and :func:`catch_up` into
        ``batch``, and keep what that made as the course the chunk's other new entries of its list follow."""
        events, tasks = len(batch.events), len(batch.tasks)
        _append(self.conn, entry, "proposed", self.as_of, self.actor, reason, data, batch=batch)
        listed = bool(catch_up(self.conn, entry, self.as_of, batch=batch))
        assert entry.state is not None  # the entry has its events, the proposal first
        return _Course(batch.events[events:], batch.tasks[tasks:], listed, entry.state, entry.until_on())

    def finish(self) -> Proposed:
        """The summary (``proposed``, ``listed``, ``skipped``, ``counts`` per list), audited."""
        summary = self.summary
        counts: dict[str, int] = {}
        for p in summary["proposed"]:
            counts[p["list"]] = counts.get(p["list"], 0) + 1
        summary["counts"] = counts
        audit(
            self.conn,
            self.actor,
            "lists_propose",
            f"cycle:{self.cycle['id']}",
            proposed=len(summary["proposed"]),
            listed=len(summary["listed"]),
            skipped=len(summary["skipped"]),
        )
        return Proposed(summary)


def propose_from_cycle(conn, cycle_id: int, as_of: dt.date | None = None, actor: str = "system") -> dict[str, Any]:
    """Create a ``proposed`` entry for every list proposal of a committed cycle's stored decisions (call it inside
    the cycle's own transaction, or later); see :class:`Proposer`."""
    proposer = Proposer(conn, cycle_id, as_of, actor)
    proposer.add(q.list_proposals(conn, cycle_id))
    return proposer.finish()


def expiries(conn, pack_id: str, after: dt.date, until: dt.date) -> dict[str, int]:
    """Entries of a pack whose publication period ended in (``after``, ``until``], per list: the period as set on
    listing and by extensions, not ended earlier by repair or revocation (whether ``advance`` has recorded the
    expiry yet or not)."""
    counts: dict[str, int] = {}
    for name, end, early in q.publication_periods(conn, pack_id).values():
        if end is not None and after < end <= until and not (early and early < end):
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


# -- manual actions -----------------------------------------------------------------------------------------


def serve(
    conn,
    on: dt.date,
    actor: str,
    entry_id: int | None = None,
    cycle_id: int | None = None,
    progress: Callable[[int], None] | None = None,
    signed: dict[str, Any] | None = None,
) -> Served:
    """Record that the pre-listing notice was served (proposed -> notified). The objection window runs from the
    day after ``on`` (:func:`engine.deadlines.objection_end`, stored with the event); the pre-listing notice and
    its repair instructions (两书同达) are issued dated ``on``, stating that deadline."""
    if (entry_id is None) == (cycle_id is None):
        raise UsageProblem("Give exactly one of --entry ID or --cycle ID.")
    if entry_id is not None:
        load_one(conn, entry_id)  # an unknown id is an error naming it
        ids = [entry_id]
    else:
        assert cycle_id is not None  # exactly one of the two was given
        cycle = cycles_q.get_cycle(conn, cycle_id)  # an unknown id is CycleNotFound, named as everywhere
        ids = q.entry_ids(conn, cycle_id=cycle_id)
        if not ids and cycle["revision"] > 1:
            # A rerun keeps the entries an earlier revision proposed: name the revision that holds them.
            earlier = [
                i
                for i in q.earlier_revisions(conn, cycle["pack_id"], cycle["period"], cycle["revision"])
                if q.entry_ids(conn, cycle_id=i)
            ]
            if earlier:
                note = (
                    f"Cycle {cycle_id} (revision {cycle['revision']} of {cycle['pack_id']} {cycle['period']}) "
                    f"created no list entries: the entries it proposes were created by cycle "
                    f"{', '.join(map(str, earlier))}; serve them with 'supervise lists serve --cycle "
                    f"{earlier[0]}'."
                )
                return Served({"on": on.isoformat(), "served": [], "skipped": [], "note": note})
    served: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    announce(progress, len(ids))
    # Bulk work: the collector's full passes over the run's objects were a fifth of its time (README "Benchmarks")
    with collector_paused(), notices_issue.sealer(size=2 * len(ids)) as sealer:  # two notices an entry (两书同达)
        _serve(conn, ids, on, actor, entry_id, signed, sealer, served, skipped, progress)
        sealer.drain(conn)  # every notice stored before the caller commits
    return Served({"on": on.isoformat(), "served": served, "skipped": skipped})


def _serve(
    conn,
    ids: Sequence[int],
    on: dt.date,
    actor: str,
    entry_id: int | None,
    signed: dict[str, Any] | None,
    sealer: notices_issue._Sealer,
    served: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    progress: Callable[[int], None] | None,
) -> None:
    for i in range(0, len(ids), ENTRY_CHUNK):
        part = ids[i : i + ENTRY_CHUNK]
        q.lock_entries(conn, part)
        batch = Batch(sealer=sealer)  # the chunk's events, tasks and notices: a few statements, not several an entry
        entries = load(conn, part)
        batch.read_ahead(conn, entries)
        for entry in entries:
            catch_up(conn, entry, on, batch=batch)
            if entry.state != "proposed":
                if entry_id is not None:
                    _require_state(
                        entry,
                        ("proposed",),
                        "the pre-listing notice can be served",
                        f"It was served on {entry.served_on}." if entry.served_on else "",
                    )
                skipped.append({"entry_id": entry.id, "state": entry.state})
                continue
            deadline = deadlines.objection_end(entry.timing, entry.list_def, on)
            _append(
                conn,
                entry,
                "notified",
                on,
                actor,
                "pre-listing notice served",
                _signed({"served_on": on, "objection_deadline": deadline}, signed),
                batch=batch,
            )
            # The notice served is issued now, dated the service and stating this deadline (a no-op if it was).
            proposed = entry.event("proposed")
            assert proposed is not None  # the entry was in state proposed
            _issue_notices(entry, proposed, batch)
            served.append(
                {
                    "entry_id": entry.id,
                    "code": entry.row["code"],
                    "list": entry.list,
                    "objection_deadline": deadline.isoformat(),
                }
            )
        batch.flush(conn)
        if progress:
            progress(len(part))


def basis_ended(
    entry: Entry, current: dict[int, dict[str, Any]], as_of: dt.date
) -> tuple[str, dt.date, str, list[dict[str, Any]]] | None:
    """Whether the basis of an open entry has disappeared by ``as_of``, as the latest record versions say: every
    record behind it annulled (a penalty's ``annulled_on``, or the record annulled as entered in error) or its
    state ended (``removed_on``, ``ended_on``: the ``ends`` of its kind). Returns (event, day, reason, records) —
    ``revoked`` when a basis was annulled or the entry is not listed yet, ``cured`` when a listed entry's cause was
    cured — or None while any basis record stands (or the entry names none)."""
    basis = entry.data.get("records") or []
    if not basis:
        return None
    kinds, ended = record_kinds(), []
    for ref in basis:
        rec = current.get(ref["id"])
        if rec is None:
            return None
        if rec["status"] == records_q.VOID:
            day = min(as_of, in_china(rec["recorded_at"]).date())
            ended.append({"id": ref["id"], "kind": rec["kind"], "ref": ref.get("ref"), "how": "void", "on": day})
            continue
        gone = _ended(kinds.get(rec["kind"]), rec["data"] or {}, as_of)
        if gone is None:
            return None
        item = {"id": ref["id"], "kind": rec["kind"], "ref": ref.get("ref"), "how": gone[0], "on": gone[1]}
        if gone[0] in ("cured", "ended"):  # a state: name which one (its cause, the list) in the party's words
            item["text"] = record_words(kinds.get(rec["kind"]), rec["date"], rec["data"] or {})
        ended.append(item)
    assert entry.last is not None  # an open entry has its events
    day = max([e["on"] for e in ended] + [entry.last["valid_from"]])
    annulled = any(e["how"] in ("annulled", "void") for e in ended)
    # The reason is the party's: the removal decision quotes it after the notice's 你单位 / 你 (a reason that starts
    # with 被 is read with its subject there; the history shows it as it is).
    reason = "被列入该名单所依据的" + "；".join(_ended_phrase(kinds.get(e["kind"]), e) for e in ended)
    reason += "，列入依据已经消除"
    if annulled or entry.state != "listed":
        return "revoked", day, reason, ended
    return "cured", day, reason, ended


def _ended_phrase(kind: RecordKind | None, e: dict[str, Any]) -> str:
    title = kind.title if kind else e["kind"]
    ref = f"（{e['ref']}）" if e.get("ref") and has_cjk(str(e["ref"])) else ""
    on = f"{e['on'].year}年{e['on'].month}月{e['on'].day}日"
    return {
        "annulled": f"{title}决定{ref}已于{on}被依法撤销",
        "void": f"{title}信息{ref}经核实系错误录入，已于{on}予以更正",
        "cured": f"{title}记载的情形（{e['text']}）已于{on}消除" if e.get("text") else f"{title}记载的情形已于{on}消除",
        "ended": f"{title}{ref}记载的情形（{e['text']}）已于{on}届满或解除"
        if e.get("text")
        else f"{title}{ref}已于{on}届满或解除",
    }[e["how"]]


def _end_basis(conn, entries: list[Entry], as_of: dt.date, actor: str, batch: Batch, result: Advanced) -> None:
    """End the open entries of a chunk whose basis disappeared (:func:`basis_ended`): the event lifts the measures
    and issues the removal decision; its data names the records and the day publication must stop by."""
    ids = {ref["id"] for e in entries if e.state in OPEN for ref in e.data.get("records") or []}
    if not ids:
        return
    current = records_q.current_by_id(conn, ids)
    for entry in entries:
        if entry.state not in OPEN:
            continue
        found = basis_ended(entry, current, as_of)
        if found is None:
            continue
        event, day, reason, ended = found
        stop_by = deadlines.publication_deadline(entry.timing, as_of, STOP_PUBLICATION_WORKING_DAYS)
        data = {"basis_ended": ended, "stop_publication_by": stop_by}
        _append(conn, entry, event, day, actor, reason, data, batch=batch, sent_on=as_of)
        result.setdefault(event, []).append(entry.id)


def advance(conn, as_of: dt.date, actor: str = "system", progress: Callable[[int], None] | None = None) -> Advanced:
    """List entries whose objection window has passed with no objection pending, expire those past their
    maximum period, and end those whose basis disappeared by ``as_of`` in the latest record versions (a penalty
    annulled, an abnormal-operation entry removed: :func:`basis_ended`). Idempotent: a second run on the same date
    changes nothing."""
    result = Advanced(
        {"as_of": as_of.isoformat(), "listed": [], "expired": [], "revoked": [], "cured": [], "waiting": {}}
    )
    ids = q.entry_ids(conn, states=OPEN)
    announce(progress, len(ids))
    with collector_paused(), notices_issue.sealer(size=2 * len(ids)) as sealer:  # up to two notices an entry moved
        _advance(conn, ids, as_of, actor, sealer, result, progress)
        sealer.drain(conn)  # every notice stored before the caller commits
    return result


def _advance(
    conn,
    ids: Sequence[int],
    as_of: dt.date,
    actor: str,
    sealer: notices_issue._Sealer,
    result: Advanced,
    progress: Callable[[int], None] | None,
) -> None:
    for i in range(0, len(ids), ENTRY_CHUNK):
        part = ids[i : i + ENTRY_CHUNK]
        q.lock_entries(conn, part)
        batch = Batch(sealer=sealer)  # the chunk's listings and expiries: their events, tasks and notices together
        entries = load(conn, part)
        batch.read_ahead(conn, entries)
        _end_basis(conn, entries, as_of, actor, batch, result)
        for entry in entries:
            for ev in catch_up(conn, entry, as_of, actor, batch=batch):
                result[ev["event"]].append(entry.id)
            if entry.state in PRE_LISTING:
                why = (
                    "objection pending"
                    if entry.pending_objections
                    else "notice not served"
                    if entry.state == "proposed"
                    else "objection window running"
                )
                result["waiting"][why] = result["waiting"].get(why, 0) + 1
        batch.flush(conn)
        if progress:
            progress(len(part))


def revoke(
    conn, entry_id: int, reason: str, on: dt.date, actor: str, signed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """End an entry because its basis was overturned (e.g. the penalty was annulled)."""
    entry = load_one(conn, entry_id)
    catch_up(conn, entry, on)
    _require_state(entry, OPEN, "it can be revoked", "An entry that has ended needs no revocation.")
    was = entry.state
    _append(conn, entry, "revoked", on, actor, reason, _signed(None, signed))
    return Revoked({"entry_id": entry.id, "was": was, "state": entry.state, "on": on.isoformat()})


def extension_allowance(list_def: dict[str, Any]) -> int:
    """Months all extensions of one entry may add: ``extendable: N`` months, ``true`` = up to ``max_months``
    again, absent/false = none."""
    value = list_def.get("extendable")
    if value is True:
        return int(list_def.get("max_months") or 0)
    return int(value) if isinstance(value, int) and value > 0 else 0


def extend(conn, entry_id: int, months: int, reason: str, on: dt.date, actor: str) -> dict[str, Any]:
    """Extend the publication period where the list allows it (``extendable`` in the list definition)."""
    if months <= 0:
        raise UsageProblem(f"--months must be a positive number of months, not {months}.")
    entry = load_one(conn, entry_id)
    catch_up(conn, entry, on)
    _require_state(entry, ("listed",), "its publication period can be extended")
    allowed = extension_allowance(entry.list_def)
    used = sum(int((ev.get("data") or {}).get("months") or 0) for ev in entry.events if ev["event"] == "extended")
    if used + months > allowed:
        raise ListError(
            f"{entry.label}: list {entry.list} allows at most {allowed} months of extension "
            f"(extendable in pack {entry.row['pack_id']}), {used} already used; "
            f"give --months {allowed - used} or less."
            if allowed
            else f"{entry.label}: list {entry.list} does not allow extensions (extendable is not set in pack "
            f"{entry.row['pack_id']})."
        )
    until = entry.until_on()
    if until is None:
        raise ListError(f"{entry.label} has no maximum period on list {entry.list}; there is nothing to extend.")
    new_until = add_months(until, months)
    _append(conn, entry, "extended", on, actor, reason, {"months": months, "until": new_until, "previous_until": until})
    return Extended({"entry_id": entry.id, "until": new_until.isoformat(), "previous_until": until.isoformat()})


def file_objection(
    conn, entry_id: int, reason: str, evidence: Sequence[Any], on: dt.date, actor: str
) -> dict[str, Any]:
    """File an objection (异议); it suspends the entry until decided."""
    refs = [file_ref(p, "evidence") for p in evidence]
    entry = load_one(conn, entry_id)
    catch_up(conn, entry, on)
    _require_state(
        entry,
        PRE_LISTING,
        "an objection can be filed",
        "A published entry can be ended early through credit repair (supervise repair apply) or "
        "revoked by the deciding authority if its basis was overturned (supervise lists revoke).",
    )
    if entry.pending_objections:
        raise ListError(
            f"{entry.label} already has objection {entry.pending_objections[0]} pending; decide it first "
            f"(supervise objection decide {entry.pending_objections[0]} --uphold|--reject)."
        )
    if entry.state == "notified":
        assert entry.objection_deadline is not None  # a notified entry was served, with its deadline
        if on > entry.objection_deadline:
            raise ListError(
                f"{entry.label}: the objection window closed on {entry.objection_deadline}; "
                f"an objection filed on {on} is late."
            )
    objection_id = q.insert_objection(conn, entry.id, reason, refs, on, actor)
    _append(conn, entry, "objection_filed", on, actor, reason, {"objection_id": objection_id, "evidence": refs})
    return ObjectionFiled(
        {"objection_id": objection_id, "entry_id": entry.id, "state": entry.state, "filed_on": on.isoformat()}
    )


def decide_objection(
    conn, objection_id: int, uphold: bool, reason: str, on: dt.date, actor: str, signed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Uphold an objection (the entry is revoked) or reject it (the entry resumes: listed once the window and the
    decision have passed)."""
    objection = q.get_objection(conn, objection_id)
    if objection is None:
        raise ListError(f"There is no objection {objection_id}; see 'supervise lists history CODE' for the ids.")
    if objection["decision"]:
        raise ListError(
            f"Objection {objection_id} was already {objection['decision']} on {objection['decided_on']} "
            f"by {objection['decided_by']}; a decision is final here."
        )
    if on < objection["filed_on"]:
        raise ListError(
            f"Objection {objection_id} was filed on {objection['filed_on']}; it cannot be decided earlier ({on})."
        )
    entry = load_one(conn, objection["entry_id"])
    _require_state(entry, PRE_LISTING, f"objection {objection_id} can be decided")
    decision = "upheld" if uphold else "rejected"
    q.insert_objection_decision(conn, objection_id, decision, reason, on, actor)
    _append(conn, entry, f"objection_{decision}", on, actor, reason, _signed({"objection_id": objection_id}, signed))
    catch_up(conn, entry, on)
    return ObjectionDecided(
        {
            "objection_id": objection_id,
            "entry_id": entry.id,
            "decision": decision,
            "state": entry.state,
            "listable_on": _iso(entry.listable_on()),
        }
    )


# -- reading ------------------------------------------------------------------------------------------------


def known_lists(conn) -> dict[str, str]:
    """List name -> title, from stored entries and the newest version of every stored pack; the titles joined
    by 、 when several packs have a list of that name (tax-credit's and epidemic-conduct's ``black``)."""
    found: dict[str, list[str]] = {name: [] for name in q.list_names(conn)}
    for body in q.latest_pack_bodies(conn):
        for name, ldef in ((body.get("version") or {}).get("lists") or {}).items():
            title = (ldef or {}).get("title") or name
            if title not in found.setdefault(name, []):
                found[name].append(title)
    return {name: "、".join(titles) or name for name, titles in found.items()}


def show(conn, list_name: str, as_of: dt.date, state: str = "listed") -> ListView:
    """Entries of a list on a date. ``state='listed'`` shows those in effect (inside their publication period),
    ``'all'`` every entry that existed on the date, or one state by name."""
    # Several packs may name a list alike (black in tax-credit and market-credit-risk): PACK/LIST picks one.
    pack_id, _, name = list_name.rpartition("/")
    per_pack: dict[str, str] = {}  # pack id -> title of this list in that pack
    for body in q.latest_pack_bodies(conn):
        ldef = ((body.get("version") or {}).get("lists") or {}).get(name)
        if ldef is not None:
            per_pack[(body.get("pack") or {}).get("id", "")] = (ldef or {}).get("title") or name
    titles = known_lists(conn)
    if name not in titles or (pack_id and pack_id not in per_pack):
        known = sorted(titles) + sorted(
            f"{p}/{n}"
            for body in q.latest_pack_bodies(conn)
            for p in [(body.get("pack") or {}).get("id", "")]
            for n in ((body.get("version") or {}).get("lists") or {})
        )
        raise ListError(
            f"There is no list '{list_name}'{did_you_mean(list_name, known)}; known lists: "
            f"{', '.join(known) or 'none yet (load a policy pack and run a cycle)'}."
        )
    if state not in STATES and state != "all":
        raise UsageProblem(f"--state must be one of {', '.join(STATES)} or all, not '{state}'.")
    if state == "listed":
        entries = [
            e
            for e in load(conn, q.entry_ids(conn, list_name=name, ever="listed", ever_before=as_of))
            if e.in_effect_on(as_of)
        ]
    else:
        entries = [
            e
            for e in load(conn, q.entry_ids(conn, list_name=name))
            if e.state_on(as_of) is not None and (state == "all" or e.state_on(as_of) == state)
        ]
    if pack_id:
        entries = [e for e in entries if e.row.get("pack_id") == pack_id]
        title = per_pack.get(pack_id, titles[name])
    else:
        # The title of every pack whose entries are shown (or that defines the list), never another pack's alone.
        shown = sorted({e.row["pack_id"] for e in entries}) or sorted(per_pack)  # rows of list_entries: never None
        title = (
            "、".join(
                dict.fromkeys(
                    f"{per_pack.get(p, titles[name])}（{p}）" if len(per_pack) > 1 else per_pack.get(p, titles[name])
                    for p in shown
                )
            )
            or titles[name]
        )
    return ListView(
        list=list_name, title=title, as_of=as_of.isoformat(), state=state, entries=[e.summary(as_of) for e in entries]
    )


def history(conn, code: str) -> EntityHistory:
    """The whole story of every entry of an entity: events, objections, repair applications, measure tasks
    and notices."""
    entity = entities_q.get_entity(conn, fold(code))
    if entity is None:
        raise EntityNotFound(
            f"No entity with code {fold(code)} in the register; check the code or import it "
            f"with 'supervise import entities'."
        )
    ids = q.entry_ids(conn, entity_id=entity["id"])
    objections = q.objections_for(conn, ids)
    applications = q.applications_for(conn, ids)
    tasks = q.tasks(conn, entry_ids=ids)
    notices = q.notices_for(conn, ids)
    out = []
    for entry in load(conn, ids):
        item = entry.summary()
        item["events"] = [
            jsonable(
                {k: ev[k] for k in ("seq", "event", "state", "valid_from", "recorded_at", "actor", "reason", "data")}
            )
            for ev in entry.events
        ]
        item["objections"] = [jsonable(o) for o in objections if o["entry_id"] == entry.id]
        item["repair_applications"] = [jsonable(a) for a in applications if a["entry_id"] == entry.id]
        item["measure_tasks"] = [jsonable(t) for t in tasks if t["entry_id"] == entry.id]
        item["notices"] = [jsonable(n) for n in notices if n["entry_id"] == entry.id]
        out.append(item)
    return EntityHistory(code=entity["code"], name=entity["name"], entries=out)


def active_entries(conn, entity_id: int, as_of: dt.date) -> list[dict[str, Any]]:
    """Entries of an entity in effect on ``as_of`` with the measures they carry (for ``supervise check``):
    each measure has id, kind, text, basis, department and services (service item ids)."""
    return active_entries_of(conn, [entity_id], as_of).get(entity_id, [])


def active_entries_of(conn, entity_ids: Sequence[int], as_of: dt.date) -> dict[int, list[dict[str, Any]]]:
    """:func:`active_entries` of several entities at once (entity id -> its entries; one read for them all)."""
    ids = q.entry_ids(conn, entity_ids=list(entity_ids), ever="listed", ever_before=as_of)
    out: dict[int, list[dict[str, Any]]] = {}
    for entry in load(conn, ids):
        if entry.in_effect_on(as_of):
            item = entry.summary(as_of)
            item["kind"] = entry.list_def.get("kind")
            item["force_inspection"] = bool(entry.list_def.get("force_inspection"))
            item["measures"] = [{"id": mid, **m} for mid, m in entry.measures.items()]
            out.setdefault(entry.row["entity_id"], []).append(item)
    return out
