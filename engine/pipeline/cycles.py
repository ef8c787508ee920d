"""Supervision cycles: evaluate the whole register with a pack, store decisions, compare, replay.

A cycle is one database transaction: decisions, outcomes, the cycle row and the list proposals become
visible together at commit, and a killed process leaves nothing behind. A second run of the same pack and
period is refused (PostgreSQL: an advisory lock fails fast; SQLite: the write lock serialises the runs and the
loser then finds the committed cycle) unless ``rerun``, which stores a new revision; both stay readable.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from engine import authorities
from engine.errors import CycleError, DatabaseLocked, UsageProblem
from engine.facts import Period, SourceCycle, decision_shift, decision_sources
from engine.model import PackVersion
from engine.pipeline import spark as spark_engine
from engine.pipeline.parallel import Sink, evaluate_batches
from engine.pipeline.results import CycleDiff, CycleList, CycleRun, CycleView, Replay
from engine.progress import announce
from engine.regions import region_label
from engine.store import Connection, Store, audit, lock_wait_seconds, now
from engine.store import cycles as q
from engine.store import entities as qe
from engine.values import in_china, parse_date
from lists.lifecycle import Proposer, expiries, record_kinds
from policies import get_pack
from policies.loader import version_from_body

BATCH = 20000  # entities per batch (one read, one insert)
PARALLEL_MIN = 100_000  # registers smaller than this are evaluated in this process


# Test hook: with SUPERVISE_TEST_PAUSE_AFTER_BATCH set, a cycle prints the line PAUSED_LINE (with its process id)
# on stderr once its first batch of decisions is stored (in the open transaction), and waits for a line on stdin
# (or its end), so that a test can kill it at a known point: the test reads the line, it does not poll.
PAUSE_AFTER_BATCH = "SUPERVISE_TEST_PAUSE_AFTER_BATCH"
PAUSED_LINE = "SUPERVISE_TEST_PAUSED"
HOLD_LOCK = "SUPERVISE_TEST_HOLD"  # test hook of _cycle_transaction


def _pause_for_test() -> None:
    print(f"{PAUSED_LINE} {os.getpid()}", file=sys.stderr, flush=True)
    sys.stdin.readline()


def period_end(period: str) -> dt.date:
    """End date of a period label: 2025, 2025-H1, 2025-Q3, 2025-06, or an ISO date."""
    p = period.strip().upper()
    if re.fullmatch(r"\d{4}", p):
        return dt.date(int(p), 12, 31)
    m = re.fullmatch(r"(\d{4})-H([12])", p)
    if m:
        return dt.date(int(m.group(1)), 6, 30) if m.group(2) == "1" else dt.date(int(m.group(1)), 12, 31)
    m = re.fullmatch(r"(\d{4})-Q([1-4])", p)
    if m:
        month = int(m.group(2)) * 3
        return dt.date(int(m.group(1)), month, calendar.monthrange(int(m.group(1)), month)[1])
    m = re.fullmatch(r"(\d{4})-(\d{2})", p)
    if m and 1 <= int(m.group(2)) <= 12:
        y, mo = int(m.group(1)), int(m.group(2))
        return dt.date(y, mo, calendar.monthrange(y, mo)[1])
    try:
        return parse_date(period)
    except ValueError:
        raise UsageProblem(
            f"--period '{period}' is not a period; use 2025, 2025-H1, 2025-Q3, 2025-06 or a date"
        ) from None


def period_label(period: str) -> str:
    """The label a cycle stores: as given, except that a date in another form an import accepts (2026/4/30,
    20260430, 2026年4月30日) becomes 2026-04-30, so one day is one period however it was typed."""
    text = period.strip()
    if re.fullmatch(r"\d{4}(-(H[12]|Q[1-4]|\d{2}))?", text, re.IGNORECASE):
        return text
    try:
        return parse_date(text).isoformat()
    except ValueError:
        return text


def _load_version(pack_ref: str, as_of: dt.date) -> PackVersion:
    pack = get_pack(pack_ref)
    return pack.version_at(as_of)


def resolve_sources(
    conn: Connection,
    version: PackVersion,
    as_of: dt.date,
    known_at: dt.datetime | None = None,
    entity_ids: list[int] | None = None,
) -> dict[str, SourceCycle | None]:
    """The stored cycle each ``decision`` fact of ``version`` reads at ``as_of`` (decision key -> SourceCycle).

    The cycle in force: of the referenced pack's committed cycles with an as-of date on or before ``as_of`` and
    started by the knowledge date ``known_at`` (None: what is known now), only the newest revision of each period;
    with ``period: period-N`` the one whose rated period is this evaluation's period shifted by N, else the
    latest. None stands for no such cycle where the fact says ``missing: none``; otherwise no cycle is a
    CycleError naming the pack, the date and the cycle to run: the engine never guesses a grade. The tiers are
    those of ``entity_ids`` when given (one evaluation); else none are read here: the source is ``ranged``, its
    tiers read batch by batch where each batch is evaluated."""
    out: dict[str, SourceCycle | None] = {}
    reading = Period.at(version.period, as_of)
    facts = version.source_facts()
    for key, source in decision_sources(version).items():
        shift = decision_shift(source)
        target = None if shift is None else reading.shifted(shift)
        pack_id = source["pack"]
        row = next(
            (
                r
                for r in q.committed_cycles(conn, pack_id, as_of, known_at)
                if target is None or _rated(r["period_kind"], r["as_of"]) == target
            ),
            None,
        )
        if row is None:
            if source.get("missing") == "none":
                out[key] = None
                continue
            names = "、".join(n for n, f in facts.items() if f.source and f.source.get("pack") == pack_id)
            which = (
                "no committed cycle"
                if target is None
                else f"no committed cycle rating period {Period(reading.kind, as_of, *target).label}"
            )
            known = f" as known at {known_at.isoformat(timespec='seconds')}" if known_at else ""
            run = (
                f"supervise cycle run --policy {pack_id} --period {Period(reading.kind, as_of, *target).label}"
                if target is not None
                else f"supervise cycle run --policy {pack_id} --period PERIOD"
            )
            raise CycleError(
                f"Policy {version.pack.id} reads the tier that policy {pack_id} decided (fact {names}), but {pack_id} "
                f"has {which} in force on {as_of.isoformat()}{known}; nothing was evaluated. Run a {pack_id} cycle "
                f"first ('{run} --as-of {as_of.isoformat()}' or an earlier as-of date), then evaluate again."
            )
        tiers: dict[int, str] = {}
        if entity_ids is not None:
            found = {e: q.tiers_of_entity(conn, row["id"], e) for e in entity_ids}
            tiers = {e: t for e, t in found.items() if t is not None}
        out[key] = SourceCycle(
            row["id"], pack_id, row["period"], row["revision"], row["as_of"], tiers, ranged=entity_ids is None
        )
    return out


def recorded_sources(conn: Connection, version: PackVersion, cycle: dict) -> dict[str, SourceCycle | None]:
    """The source cycles a stored cycle read (its summary's ``sources``; ranged: their tiers read batch by batch), for its replay: the same
    cycles, even when a newer revision of one has been stored since. A cycle stored before its pack read other
    cycles' decisions recorded none: they are found again as known when it started."""
    recorded = (cycle.get("summary") or {}).get("sources")
    if recorded is None:
        return resolve_sources(conn, version, cycle["as_of"], cycle["known_at"] or cycle["started_at"])
    out: dict[str, SourceCycle | None] = {}
    for key in decision_sources(version):
        item = recorded.get(key)
        if item is None:
            out[key] = None
            continue
        c = q.get_cycle(conn, int(item["cycle"]))
        out[key] = SourceCycle(c["id"], c["pack_id"], c["period"], c["revision"], c["as_of"], {}, ranged=True)
    return out


def _rated(kind: str, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The period a cycle of a pack version rating ``kind`` periods rated at ``as_of`` (engine.facts.Period)."""
    p = Period.at(kind, as_of)
    return p.start, p.end


def workers_for(store: Store, entities: int, sink_is_light: bool) -> int:
    """How many evaluation worker processes to use: ``SUPERVISE_WORKERS`` if set; otherwise none for a small
    register (starting one costs about a second) or an in-memory database (a worker could not see it), else one
    per core, at most two. A cycle too: the evaluation is about three quarters of its work and this process only
    stores, so two workers and the writer share two cores better than one worker that the writer waits for.
    ``sink_is_light`` (simulate, replay) is kept for the callers; it no longer changes the answer."""
    setting = os.environ.get("SUPERVISE_WORKERS")
    if setting is not None:
        try:
            return max(0, int(setting))
        except ValueError:
            raise UsageProblem(
                f"SUPERVISE_WORKERS must be a whole number of worker processes, not '{setting}'."
            ) from None
    if store.in_memory or entities < PARALLEL_MIN:
        return 0
    return min(2, os.cpu_count() or 1)


def batch_size() -> int:
    """Entities per batch: ``SUPERVISE_CYCLE_BATCH`` if set (fewer: less memory per batch, more statements),
    otherwise :data:`BATCH`."""
    setting = os.environ.get("SUPERVISE_CYCLE_BATCH")
    if setting is None:
        return BATCH
    try:
        size = int(setting)
    except ValueError:
        size = 0
    if size < 1:
        raise UsageProblem(
            f"SUPERVISE_CYCLE_BATCH must be a whole number of entities per batch (1 or more), not '{setting}'."
        )
    return size


def evaluate_register(
    conn: Connection,
    version: PackVersion,
    as_of: dt.date,
    sink: Sink,
    previous: int | None = None,
    known_at: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 0,
    url: str | None = None,
    decided: dict[str, SourceCycle | None] | None = None,
    spark: str | None = None,
    facts_json: bool = True,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Evaluate every entity of the register in batches; call ``sink(rows, new_outcomes)`` per batch, in entity
    order (rows as described in :mod:`engine.parallel`). ``workers`` > 0 evaluates in worker processes reading
    ``url`` while the sink runs here; ``spark`` (a Spark master: ``local[2]``, ``spark://host:7077``, ``yarn``)
    evaluates on Spark instead (engine.pipeline.spark), with the same sink calls. ``facts_json`` False: the rows
    carry None for the facts JSON (a sink that does not store them; local evaluation only); ``meanwhile`` is called
    once before the first batch, while the workers start (local evaluation only). ``previous`` is the id of the
    cycle whose tiers the pack's 'previous' facts read (None: no previous cycle). ``progress`` is told the
    register's size, then advanced per batch."""
    if progress is not None:
        announce(progress, qe.entity_count(conn))
    ranges = qe.batch_ranges(conn, batch_size())
    if spark:
        return spark_engine.evaluate_on_spark(
            conn,
            version,
            as_of,
            ranges,
            sink,
            master=spark,
            previous=previous,
            known_at=known_at,
            progress=progress,
            decided=decided,
        )
    return evaluate_batches(
        conn,
        version,
        as_of,
        ranges,
        sink,
        previous=previous,
        known_at=known_at,
        workers=workers,
        url=url,
        progress=progress,
        decided=decided,
        facts_json=facts_json,
        meanwhile=meanwhile,
    )


@contextlib.contextmanager
def _cycle_transaction(store: Store, pack_id: str, period: str) -> Iterator[Connection]:
    """The cycle's transaction. SQLite: its write lock is the run lock; a run that cannot get it within the lock
    wait (another run or an import is writing) stops with the same message as on PostgreSQL, storing nothing.

    Test hook: with ``SUPERVISE_TEST_HOLD`` set, the run takes the run lock, prints PAUSED_LINE on stderr once it
    holds the transaction and the lock, and waits for a line on stdin (so a test can start a second run while this
    one holds them, and let it go on by writing a line)."""
    try:
        with store.transaction() as conn:
            if os.environ.get(HOLD_LOCK):
                q.lock_pack_period(conn, pack_id, period)  # PostgreSQL: the run lock (taken again below, re-entrant)
                _pause_for_test()
            yield conn
    except DatabaseLocked as exc:
        raise CycleError(
            f"Another run of policy {pack_id} for period {period} is in progress (or another process "
            f"is writing to {store.display_url()}) and still holds the database after "
            f"{lock_wait_seconds():g} s; this run stopped and stored nothing. Wait for it to finish, "
            f"then use --rerun if you still need a new revision."
        ) from exc


def check_authorities(conn: Connection, version: PackVersion) -> None:
    """Every entity the pack evaluates must be in the region of one of its issuing authorities (when the pack
    names ``authorities``): otherwise a CycleError naming the entities and regions, before anything is stored."""
    pack = version.pack.meta
    if not pack.get("authorities"):
        return
    subjects = list(pack.get("subjects") or [])
    missing = [r for r in qe.regions_of(conn, subjects) if authorities.for_region(pack, r) is None]
    if not missing:
        return
    rows = qe.entities_in_regions(conn, missing, subjects)
    raise CycleError(authorities.uncovered_message(version.pack.id, version.pack.path, pack, rows))


def run_cycle(
    store: Store,
    pack_ref: str,
    period: str,
    as_of: dt.date | None = None,
    rerun: bool = False,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
    spark: str | None = None,
) -> dict[str, Any]:
    """Evaluate every entity and store the cycle; returns the summary. ``spark``: evaluate on Spark with that
    master (engine.pipeline.spark; the same decisions, written here in the same transaction).

    The as-of date is ``as_of`` if given; else, for a rerun, the as-of date of the revision it supersedes (a rerun
    redoes that cycle); else the end of the period. ``as_of_from`` in the summary says which."""
    t0 = time.perf_counter()
    period = period_label(period)
    pack_id = get_pack(pack_ref).id
    as_of_from = "option" if as_of else "period_end"
    if as_of is None and rerun:
        with store.read() as conn:
            before = q.current_cycle(conn, pack_id, period)
        if before:
            as_of, as_of_from = before["as_of"], f"revision {before['revision']}"
    as_of = as_of or period_end(period)
    version = _load_version(pack_ref, as_of)
    started = now()
    with _cycle_transaction(store, pack_id, period) as conn:
        q.lock_pack_period(conn, pack_id, period)
        existing = q.current_cycle(conn, pack_id, period)
        if existing and not rerun:
            raise CycleError(
                f"Cycle {existing['id']} already holds policy {pack_id} for period {period} "
                f"(revision {existing['revision']}, committed {existing['committed_at']:%Y-%m-%d %H:%M}). "
                f"A committed cycle is immutable; pass --rerun to store a new revision."
            )
        if existing and as_of_from.startswith("revision") and existing["as_of"] != as_of:
            raise CycleError(
                f"Cycle {existing['id']} (revision {existing['revision']}) of policy {pack_id} for period "
                f"{period} was stored while this run started; run again to rerun it."
            )
        check_authorities(conn, version)
        pv_id = q.ensure_policy_version(conn, version)
        prev = q.previous_cycle(conn, pack_id, as_of)
        previous = prev["id"] if prev else None  # its tiers are read batch by batch where each is evaluated
        # Decisions of other cycles this pack reads (a cycle of the tax pack for 银税互动): the ones committed by now.
        decided = resolve_sources(conn, version, as_of, started)
        cycle_id = q.create_cycle(
            conn,
            pack_id=pack_id,
            period=period,
            revision=(existing["revision"] + 1 if existing else 1),
            as_of=as_of,
            policy_version_id=pv_id,
            status="committed",
            supersedes_id=existing["id"] if existing else None,
            started_at=started,
            known_at=started,  # the knowledge date: the record versions recorded by the time the run started
            entity_count=0,
            actor=actor,
        )
        outcome_ids: dict[str, int] = {}
        proposing: dict[str, list[dict]] = {}  # vector key -> the list proposals its outcome makes
        proposer = Proposer(conn, cycle_id, as_of, actor)  # entries proposed batch by batch as decisions are stored
        spent: dict[str, float] = {"store": 0.0, "lists": 0.0}
        clock = time.perf_counter

        pause = os.environ.get(PAUSE_AFTER_BATCH)

        def sink(rows: list[tuple], new: dict[str, dict]) -> None:
            nonlocal pause
            t0 = clock()
            first = [(key, outcome) for key, outcome in new.items() if key not in outcome_ids]  # two workers may
            ids = q.insert_outcomes(conn, cycle_id, [(k, o["tier"], o) for k, o in first])  # both meet a vector first
            for (key, outcome), oid in zip(first, ids):
                outcome_ids[key] = oid
                items = [i for i in outcome.get("lists") or [] if i.get("action") == "propose"]
                if items:
                    proposing[key] = items
            ids = q.insert_decisions(conn, cycle_id, rows, outcome_ids)
            t1 = clock()
            proposer.add(  # the facts as their JSON text: the proposer decodes them only for a reason naming one
                [
                    {"decision_id": i, "entity_id": r[0], "facts": r[6], "items": proposing[r[1]]}
                    for i, r in zip(ids, rows)
                    if r[1] in proposing
                ]
            )
            spent["store"] += t1 - t0
            spent["lists"] += clock() - t1
            if pause:
                _pause_for_test()
                pause = None

        workers = 0 if spark else workers_for(store, qe.entity_count(conn), sink_is_light=False)
        stats = evaluate_register(
            conn,
            version,
            as_of,
            sink,
            previous,
            known_at=started,
            progress=progress,
            workers=workers,
            url=store.url,
            decided=decided,
            spark=spark,
            meanwhile=_before_first_batch,
        )
        if stats["entities"] == 0:
            raise CycleError(
                f"The register in {store.display_url()} has no entity that policy {pack_id} evaluates; "
                f"import entities first ('supervise import entities FILE')."
            )
        t1 = clock()
        lists = _list_summary(conn, proposer.finish(), pack_id, prev, as_of)
        spent["lists"] += clock() - t1
        timings = {k: v for k, v in stats["timings"].items() if k != "sink"}
        timings.update(spent)
        summary = _summary(conn, cycle_id, prev, version)
        summary.update(
            {
                "lists": lists,
                "distinct_vectors": stats["distinct_vectors"],
                "durable_evaluations": stats["durable_evaluations"],
                "workers": stats["workers"],
                "timings": {k: round(v, 3) for k, v in timings.items()},
            }
        )
        if spark:  # which engine evaluated (a local cycle's summary has no such key)
            summary["engine"] = {"name": "spark", "master": stats["master"], "partitions": stats["partitions"]}
        summary["as_of_from"] = as_of_from
        # The cycles its decision facts read, for the explanation, 'check' and replay (decision key -> cycle).
        summary["sources"] = {k: (c.describe() if c else None) for k, c in decided.items()}
        summary["wall_seconds"] = round(time.perf_counter() - t0, 3)  # stored: what 'cycle show' prints
        q.finish_cycle(conn, cycle_id, stats["entities"], summary)
        audit(
            conn,
            actor,
            "cycle_run",
            f"cycle:{cycle_id}",
            pack=pack_id,
            period=period,
            as_of=as_of.isoformat(),
            version=version.version,
            rerun=rerun,
        )
    summary["wall_seconds"] = round(time.perf_counter() - t0, 3)  # with the commit
    return CycleRun(
        cycle=cycle_id,
        pack=pack_id,
        version=version.version,
        period=period,
        as_of=as_of.isoformat(),
        revision=existing["revision"] + 1 if existing else 1,
        supersedes=existing["id"] if existing else None,
        entities=stats["entities"],
        **summary,
    )


def _before_first_batch() -> None:
    """What a cycle process can do while its workers start: read the record kinds the list proposals use (every
    pack file is parsed for them, once per process: about half a second) instead of at the first batch."""
    record_kinds()


def _list_summary(
    conn: Connection, result: dict[str, Any], pack_id: str, prev: dict | None, as_of: dt.date
) -> dict[str, Any]:
    """Counts per list only, to keep the cycle summary small at a million entities (the entries are in
    list_entries): proposed, listed at once, already on the list, expired since the previous cycle."""
    entry_list = {p["entry_id"]: p["list"] for p in result["proposed"]}
    return {
        "proposed": result["counts"],
        "listed_at_once": dict(Counter(entry_list[e] for e in result["listed"])),
        "already_listed": dict(Counter(s["list"] for s in result["skipped"] if s.get("why") == "already listed")),
        "expired_since_previous": expiries(conn, pack_id, prev["as_of"], as_of) if prev else None,
    }


def _summary(conn: Connection, cycle_id: int, prev: dict | None, version: PackVersion) -> dict[str, Any]:
    counts = q.tier_counts(conn, cycle_id)
    order = [t for t in version.tier_order if t in counts] + sorted(set(counts) - set(version.tier_order))
    workload = q.region_tier_workload(conn, cycle_id)
    per_tier: dict[str, dict] = {}
    for w in workload:
        row = per_tier.setdefault(w["tier"], {"entities": 0, "expected_inspections": 0.0, "forced": 0})
        row["entities"] += w["entities"]
        row["expected_inspections"] += w["expected_inspections"]
        row["forced"] += w["forced"]
    tiers = []
    for t in order:
        sup = version.supervision.get(t, {})
        row = per_tier.get(t, {"entities": 0, "expected_inspections": 0.0, "forced": 0})
        tiers.append(
            {
                "tier": t,
                "label": version.tier_labels.get(t, t),
                "entities": counts[t],
                "ratio": sup.get("ratio"),
                "per_year": sup.get("per_year"),
                "expected_inspections": math.ceil(round(row["expected_inspections"], 6)),
                "forced": row["forced"],
            }
        )
    changes = None
    if prev:
        trans = q.transitions(conn, prev["id"], cycle_id)
        rank = {t: i for i, t in enumerate(version.tier_order)}
        up = sum(n for (a, b), n in trans.items() if a in rank and b in rank and rank[b] < rank[a])
        down = sum(n for (a, b), n in trans.items() if a in rank and b in rank and rank[b] > rank[a])
        changes = {
            "previous_cycle": prev["id"],
            "tier_up": up,
            "tier_down": down,
            "unchanged": sum(n for (a, b), n in trans.items() if a == b),
            "transitions": [{"from": a, "to": b, "entities": n} for (a, b), n in sorted(trans.items())],
        }
    return {"tiers": tiers, "changes": changes, "expected_inspections": sum(t["expected_inspections"] for t in tiers)}


def list_cycles(store: Store) -> CycleList:
    with store.read() as conn:
        rows = q.list_cycles(conn)
    return CycleList(
        {
            "id": r["id"],
            "pack": r["pack_id"],
            "version": r["version"],
            "period": r["period"],
            "revision": r["revision"],
            "as_of": r["as_of"].isoformat(),
            "entities": r["entity_count"],
            "status": r["status"],
            "committed_at": r["committed_at"].isoformat() if r["committed_at"] else None,
        }
        for r in rows
    )


def show_cycle(store: Store, cycle_id: int) -> CycleView:
    with store.read() as conn:
        c = q.get_cycle(conn, cycle_id)
    summary = dict(c["summary"] or {})
    if summary.get("wall_seconds") is None and c["committed_at"] and c["started_at"]:
        # Cycles stored before the summary kept it: from start to commit as the cycle row recorded them.
        summary["wall_seconds"] = round((c["committed_at"] - c["started_at"]).total_seconds(), 3)
    c["summary"] = summary
    return CycleView(
        id=c["id"],
        pack=c["pack_id"],
        version=c["version"],
        content_hash=c["content_hash"],
        period=c["period"],
        revision=c["revision"],
        as_of=c["as_of"].isoformat(),
        status=c["status"],
        superseded_by=c["superseded_by"],
        supersedes=c["supersedes_id"],
        entities=c["entity_count"],
        started_at=c["started_at"].isoformat(),
        committed_at=c["committed_at"].isoformat(),
        summary=c["summary"],
        known_at=in_china(c["known_at"] or c["started_at"]).isoformat(timespec="seconds"),
    )


def diff_cycles(store: Store, a: int, b: int) -> CycleDiff:
    with store.read() as conn:
        ca, cb = q.get_cycle(conn, a), q.get_cycle(conn, b)
        trans = q.transitions(conn, a, b)
        wa = {(w["region"], w["tier"]): w for w in q.region_tier_workload(conn, a)}
        wb = {(w["region"], w["tier"]): w for w in q.region_tier_workload(conn, b)}
        ta, tb = q.tier_counts(conn, a), q.tier_counts(conn, b)
        la, lb = _list_counts(conn, a), _list_counts(conn, b)
    tiers = sorted(set(ta) | set(tb))
    workload = []
    for key in sorted(set(wa) | set(wb)):
        x = wa.get(key, {}).get("expected_inspections", 0.0)
        y = wb.get(key, {}).get("expected_inspections", 0.0)
        workload.append(
            {
                "region": key[0],
                "region_name": region_label(key[0]),
                "tier": key[1],
                "a": round(x, 2),
                "b": round(y, 2),
                "change": round(y - x, 2),
            }
        )
    return CycleDiff(
        a={"id": a, "pack": ca["pack_id"], "period": ca["period"], "version": ca["version"]},
        b={"id": b, "pack": cb["pack_id"], "period": cb["period"], "version": cb["version"]},
        tiers=[{"tier": t, "a": ta.get(t, 0), "b": tb.get(t, 0), "change": tb.get(t, 0) - ta.get(t, 0)} for t in tiers],
        transitions=[{"from": x, "to": y, "entities": n} for (x, y), n in sorted(trans.items())],
        lists=[
            {"list": name, "a": la.get(name, 0), "b": lb.get(name, 0), "change": lb.get(name, 0) - la.get(name, 0)}
            for name in sorted(set(la) | set(lb))
        ],
        workload=workload,
        expected_inspections={
            "a": round(sum(w["a"] for w in workload), 1),
            "b": round(sum(w["b"] for w in workload), 1),
        },
    )


def _list_counts(conn: Connection, cycle_id: int) -> dict[str, int]:
    counts: Counter = Counter()
    outcomes = q.outcomes_of(conn, cycle_id)
    for oid, n in q.outcome_counts(conn, cycle_id).items():
        for item in outcomes[oid]["result"].get("lists", []):
            counts[item["list"]] += n
    return dict(counts)


def replay_cycle(
    store: Store, cycle_id: int, progress: Callable[[int], None] | None = None, spark: str | None = None
) -> Replay:
    """Recompute a stored cycle from the pack version it stored and the records known when it ran (``spark``: on
    Spark with that master)."""
    with store.read() as conn:
        c = q.get_cycle(conn, cycle_id)
        version = version_from_body(c["pack_body"])
        if version.content_hash != c["content_hash"]:
            raise CycleError(
                f"Cycle {cycle_id}: the stored pack version no longer hashes to {c['content_hash'][:12]}; "
                f"the stored body was altered."
            )
        prev = q.previous_cycle(conn, c["pack_id"], c["as_of"], before=c["started_at"])
        previous = prev["id"] if prev else None
        decided = recorded_sources(conn, version, c)
        keys = {oid: o["key"] for oid, o in q.outcomes_of(conn, cycle_id).items()}
        stored = {
            entity_id: (tier, ratio, per_year, forced, keys[oid])
            for entity_id, (tier, ratio, per_year, forced, oid) in q.decided(conn, cycle_id).items()
        }
        differences: list[dict] = []
        seen = 0

        def sink(rows: list[tuple], new: dict[str, dict]) -> None:
            nonlocal seen
            for entity_id, key, tier, ratio, per_year, forced, _facts in rows:
                seen += 1
                got = (tier, ratio, per_year, forced, key)
                want = stored.pop(entity_id, None)
                if want != got and len(differences) < 100:
                    differences.append({"entity_id": entity_id, "stored": want, "replayed": got})

        workers = 0 if spark else workers_for(store, c["entity_count"], sink_is_light=True)
        evaluate_register(
            conn,
            version,
            c["as_of"],
            sink,
            previous,
            known_at=c["known_at"] or c["started_at"],
            workers=workers,
            url=store.url,
            progress=progress,
            decided=decided,
            spark=spark,
            facts_json=False,  # replay compares tier, ratio, per year, forced and outcome, not the facts
        )
    for entity_id, want in list(stored.items())[: 100 - len(differences)]:
        differences.append({"entity_id": entity_id, "stored": want, "replayed": None})
    return Replay(
        {
            "cycle": cycle_id,
            "pack": c["pack_id"],
            "version": c["version"],
            "as_of": c["as_of"].isoformat(),
            "entities": seen,
            "identical": not differences and not stored,
            "differences": differences,
        }
    )
