"""Plans in the store: draw a plan from a committed cycle, verify it by redrawing, read it back (plan show/list)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from engine import deadlines, values
from engine.authorities import for_region
from engine.errors import PlanError, UsageProblem
from engine.plans.algorithm import (
    ALGORITHM,
    DEFAULT_DEADLINE_WORKING_DAYS,
    MAX_LISTED_DIFFERENCES,
    OUTCOME_LABELS,
    Candidate,
    Check,
    Draw,
    DrawOptions,
    Inspector,
    InspectorShortage,
    Item,
    draw,
    inspectors_fingerprint,
    plan_fingerprint,
)
from engine.plans.views import PlanDetails, PlanDrawn, PlanList, PlanVerified
from engine.progress import collector_paused
from engine.store import Connection, Store, audit, now
from engine.store import plans as q
from engine.store.cycles import get_cycle

# -- pack settings ---------------------------------------------------------------------------------


def parse_items(raw: Any) -> tuple[Item, ...]:
    """Inspection items (随机抽查事项) from the pack version's ``inspection.items``: a mapping id -> {title,
    department?, specialty?, tiers?} or a list of such mappings with ``id``."""
    if not raw:
        return ()
    entries = raw.items() if isinstance(raw, dict) else ((e.get("id"), e) for e in raw)
    items = []
    for item_id, body in entries:
        body = body if isinstance(body, dict) else {"title": str(body)}
        tiers = body.get("tiers") or ()
        items.append(
            Item(
                str(item_id),
                str(body.get("title") or item_id),
                body.get("department") or None,
                body.get("specialty") or None,
                tuple(str(t) for t in tiers),
            )
        )
    return tuple(sorted(items, key=lambda it: it.id))


def _inspector_from(row: dict[str, Any]) -> Inspector:
    return Inspector(
        row["code"],
        row["name"],
        row["department"],
        row["region"],
        tuple(row.get("specialties") or ()),
        int(row["max_checks"]),
        tuple(row.get("conflicts") or ()),
        row.get("home_region"),
        row.get("id"),
    )


def _stored_id(i: Inspector) -> int:
    assert i.id is not None  # the inspectors of a draw are read from the store, so each has its row id
    return i.id


def _snapshot(i: Inspector) -> dict[str, Any]:
    return {
        "id": i.id,
        "code": i.code,
        "name": i.name,
        "department": i.department,
        "region": i.region,
        "specialties": list(i.specialties),
        "max_checks": i.max_checks,
        "conflicts": list(i.conflicts),
        "home_region": i.home_region,
    }


def _version(cycle: dict[str, Any]) -> dict[str, Any]:
    body = cycle.get("pack_body") or {}
    return body.get("version") or {}


def _require_cycle(conn: Connection, cycle_id: int) -> dict[str, Any]:
    """The cycle a plan is drawn on: its committed current revision (an unknown id is CycleNotFound)."""
    cycle = get_cycle(conn, cycle_id)
    if cycle.get("superseded_by") or cycle["status"] != "committed" or cycle.get("committed_at") is None:
        newer = cycle.get("superseded_by")
        instead = f"draw the plan on cycle {newer}, which replaced it" if newer else "run the cycle again"
        raise PlanError(
            f"Cycle {cycle_id} ({cycle['pack_id']} {cycle['period']}) is {cycle['status']}, not the "
            f"committed current revision; {instead}."
        )
    return cycle


def _require_plan(conn: Connection, plan_id: int, store: Store) -> dict[str, Any]:
    plan = q.get_plan(conn, plan_id)
    if plan is None:
        known = q.plan_ids(conn)
        hint = (
            f"known plans: {', '.join(map(str, known))}"
            if known
            else "no plan has been drawn yet; use 'supervise plan draw'"
        )
        raise PlanError(f"No plan {plan_id} in {store.display_url()}; {hint}.")
    return plan


def _load_candidates(conn: Connection, cycle_id: int) -> list[Candidate]:
    out: list[Candidate] = []
    make = Candidate._make
    for part in q.iter_candidates(conn, cycle_id):
        out.extend(make(row) for row in part)
    return out


def _exclusion_window(as_of: dt.date, months: int) -> tuple[dt.date, dt.date]:
    return values.add_months(as_of, -months), as_of


# -- draw, verify ----------------------------------------------------------------------------------


def draw_plan(
    store: Store,
    cycle_id: int,
    seed: str,
    per_check: int = 2,
    exclude_clean_months: int | None = None,
    recusal_same_township: bool | None = None,
    actor: str = "cli",
    timings: dict[str, float] | None = None,
    redraw: bool = False,
    reason: str | None = None,
) -> PlanDrawn:
    """Draw and store an inspection plan for a committed cycle (one transaction; nothing stored on failure).

    A period (pack and period, whatever the cycle revision) has one plan; another one needs ``redraw`` and a
    ``reason``, kept with the plan and in the audit log. Inspector capacity is per period: the checks already
    assigned to an inspector in the period's other plans count against their ``max_checks``."""
    if exclude_clean_months is not None and not 0 <= exclude_clean_months <= 240:
        raise UsageProblem(
            f"--exclude-clean-months is {exclude_clean_months}; give 0 (no exclusion) to 240 (the most a pack may set)."
        )
    reason = (reason or "").strip() or None
    if reason and not redraw:
        raise UsageProblem(
            "--reason is for a redraw; give --redraw --reason TEXT to draw another plan for a period that has one."
        )
    if redraw and not reason:
        raise UsageProblem("--redraw needs --reason TEXT: why the period gets another plan (kept in the audit log).")
    timings = timings if timings is not None else {}
    with collector_paused(), store.transaction() as conn:  # a million-candidate draw: millions of tuples
        t0 = time.perf_counter()
        q.lock_plans(conn)
        # The plan's created_at; exclusions only count records imported by then, so verify sees the same.
        stamp = now()
        cycle = _require_cycle(conn, cycle_id)
        earlier = q.period_plans(conn, cycle["pack_id"], cycle["period"])
        if earlier and not redraw:
            names = "; ".join(
                f"plan {p['id']} (cycle {p['cycle_id']}, seed '{p['seed']}', drawn "
                f"{_utc(p['created_at']):%Y-%m-%d %H:%M} UTC, {p['checks']} checks)"
                for p in earlier
            )
            raise PlanError(
                f"{cycle['pack_id']} period {cycle['period']} already has an inspection plan: {names}. "
                f"Use that plan ('supervise plan show {earlier[-1]['id']}'); to draw another one for the "
                f"period give --redraw --reason TEXT (the reason is kept in the audit log; the "
                f"inspectors' checks in every plan of the period count against their max_checks)."
            )
        if redraw and not earlier:
            raise UsageProblem(
                f"--redraw: {cycle['pack_id']} period {cycle['period']} has no plan yet, so there is "
                f"nothing to redraw; leave out --redraw and --reason."
            )
        used = q.inspector_loads(conn, [p["id"] for p in earlier])
        version = _version(cycle)
        inspection = version.get("inspection") or {}
        months = (
            exclude_clean_months
            if exclude_clean_months is not None
            else int(inspection.get("exclude_clean_within_months") or 0)
        )
        recusal = (
            recusal_same_township
            if recusal_same_township is not None
            else bool(inspection.get("recusal_same_township"))
        )
        items = parse_items(inspection.get("items"))
        candidates = _load_candidates(conn, cycle_id)
        if not candidates:
            raise PlanError(
                f"Cycle {cycle_id} has no decisions, so there is nothing to draw from; run the cycle "
                f"on a register with entities first."
            )
        t1 = time.perf_counter()
        excluded: set[str] = set()
        window = None
        if months:
            window = _exclusion_window(cycle["as_of"], months)
            excluded = q.clean_results(conn, *window, imported_until=stamp)
        t2 = time.perf_counter()
        directory = q.active_inspectors(conn)
        if not directory:
            raise PlanError(
                f"No active inspectors with capacity in {store.display_url()}; import the "
                f"执法检查人员名录库 with 'supervise import inspectors FILE' first."
            )
        # Capacity left in the period: max_checks less the checks of the period's earlier plans.
        totals = {r["id"]: int(r["max_checks"]) for r in directory}
        inspectors = [
            _inspector_from(r | {"max_checks": totals[r["id"]] - used.get(r["id"], 0)})
            for r in directory
            if totals[r["id"]] > used.get(r["id"], 0)
        ]
        if not inspectors:
            raise PlanError(
                f"Every active inspector has used their max_checks in {cycle['pack_id']} period "
                f"{cycle['period']} (plans {', '.join(str(p['id']) for p in earlier)}); import more "
                f"inspectors or raise their max_checks."
            )
        t3 = time.perf_counter()
        try:
            result = draw(
                candidates,
                inspectors,
                seed,
                per_check,
                DrawOptions(frozenset(excluded), recusal, items),
                timings=timings,
            )
        except InspectorShortage as exc:
            if earlier:
                spent = sum(used.values())
                exc.message = exc.args[0] + (
                    f"\nThe period's earlier plans ({', '.join(str(p['id']) for p in earlier)}) already use {spent} "
                    f"inspector slots of the same inspectors' max_checks."
                )
                exc.args = (exc.message,)
            raise
        t4 = time.perf_counter()
        by_code = {i.code: _stored_id(i) for i in inspectors}
        deadline = (version.get("publication") or {}).get("results_deadline_working_days")
        params = {
            "pack_id": cycle["pack_id"],
            "pack_version": cycle.get("version"),
            "policy_version_id": cycle["policy_version_id"],
            "period": cycle["period"],
            "as_of": cycle["as_of"].isoformat(),
            "exclude_clean_months": months,
            "exclude_window": [d.isoformat() for d in window] if window else None,
            "excluded": result.excluded,
            "recusal_same_township": recusal,
            "items": [it._asdict() | {"tiers": list(it.tiers)} for it in items],
            "strata": result.strata,
            "results_deadline_working_days": int(deadline or DEFAULT_DEADLINE_WORKING_DAYS),
            "inspectors": [
                _snapshot(i)
                | (
                    {"max_checks_period": totals[_stored_id(i)], "used_in_period": used[_stored_id(i)]}
                    if used.get(_stored_id(i))
                    else {}
                )
                for i in inspectors
            ],
        }
        if earlier:
            params["redraw"] = {"reason": reason, "earlier_plans": [p["id"] for p in earlier]}
        plan_row = {
            "cycle_id": cycle_id,
            "seed": result.seed,
            "algorithm": result.algorithm,
            "per_check": per_check,
            "params": params,
            "candidates_fingerprint": result.candidates_fingerprint,
            "inspectors_fingerprint": result.inspectors_fingerprint,
            "plan_fingerprint": result.plan_fingerprint,
            "actor": actor,
            "created_at": stamp,
        }
        shared: dict[tuple, dict] = {}  # identical item dicts shared, so the store serialises each once
        check_rows = [
            {
                "seq": c.seq,
                "entity_id": c.entity_id,
                "tier": c.tier,
                "rank_key": c.rank,
                "reason": c.reason,
                "items": _check_items(c, shared),
            }
            for c in result.checks
        ]
        assignments = [(c.seq, by_code[code], pos) for c in result.checks for pos, code in enumerate(c.inspectors, 1)]
        plan_id = q.insert_plan(conn, plan_row, check_rows, assignments)
        redrawn = {"redraw": True, "reason": reason, "earlier_plans": [p["id"] for p in earlier]} if earlier else {}
        audit(
            conn,
            actor,
            "plan_draw",
            f"plan:{plan_id}",
            cycle_id=cycle_id,
            seed=result.seed,
            checks=len(result.checks),
            plan_fingerprint=result.plan_fingerprint,
            **redrawn,
        )
        t5 = time.perf_counter()
    timings.update({"load": t1 - t0, "exclusions": t2 - t1, "inspectors": t3 - t2, "draw": t4 - t3, "save": t5 - t4})
    codes_used = {code for c in result.checks for code in c.inspectors}
    return PlanDrawn(
        {
            "plan_id": plan_id,
            "cycle_id": cycle_id,
            "seed": result.seed,
            "algorithm": result.algorithm,
            "per_check": per_check,
            "checks": len(result.checks),
            "inspectors_used": len(codes_used),
            "inspectors_in_pool": len(inspectors),
            "strata": result.strata,
            "excluded": len(result.excluded),
            "exclude_clean_months": months,
            "recusal_same_township": recusal,
            "candidates_fingerprint": result.candidates_fingerprint,
            "inspectors_fingerprint": result.inspectors_fingerprint,
            "plan_fingerprint": result.plan_fingerprint,
            "sampled": result_totals(result.strata)["sampled"],
            "forced": result_totals(result.strata)["forced"],
            "tiers": tier_summary(result.strata),
            "earlier_plans": [p["id"] for p in earlier],
            "reason": reason,
        }
    )


def _check_items(c: Check, shared: dict[tuple, dict] | None = None) -> dict[str, Any]:
    # plan_checks.items holds the check's item ids plus the entity's place and ratio as drawn, so that
    # verification does not depend on later edits of the register.
    key = (c.items, c.region, c.township, c.ratio)
    if shared is not None and key in shared:
        return shared[key]
    value = {"items": list(c.items), "region": c.region, "township": c.township, "ratio": c.ratio}
    if shared is not None:
        shared[key] = value
    return value


def _stored_checks(conn: Connection, plan: dict[str, Any], snapshot: dict[int, dict]) -> tuple[list[Check], list[str]]:
    problems: list[str] = []
    assignments = q.plan_assignments(conn, plan["id"])
    out = []
    for row in q.plan_checks(conn, plan["id"]):
        extra: dict[str, Any] = row["items"] if isinstance(row["items"], dict) else {"items": row["items"] or []}
        codes = []
        for inspector_id in assignments.get(row["id"], []):
            snap = snapshot.get(inspector_id)
            if snap is None:
                problems.append(
                    f"check {row['seq']}: inspector id {inspector_id} is not in the plan's inspector snapshot"
                )
                codes.append(f"#{inspector_id}")
            else:
                codes.append(snap["code"])
        out.append(
            Check(
                row["seq"],
                row["code"],
                row["entity_id"],
                row["tier"],
                float(extra.get("ratio", 0.0)),
                row["reason"],
                row["rank_key"],
                extra.get("region"),
                extra.get("township"),
                tuple(extra.get("items") or ()),
                tuple(codes),
            )
        )
    return out, problems


def _options_from(params: dict[str, Any]) -> DrawOptions:
    items = tuple(
        Item(d["id"], d["title"], d.get("department"), d.get("specialty"), tuple(d.get("tiers") or ()))
        for d in params.get("items") or []
    )
    return DrawOptions(frozenset(params.get("excluded") or ()), bool(params.get("recusal_same_township")), items)


def verify_plan(store: Store, plan_id: int) -> dict[str, Any]:
    """Redo a stored plan's draw from what was logged and compare it with what is stored."""
    differences: list[str] = []
    with collector_paused():
        return _verify(store, plan_id, differences)


def _verify(store: Store, plan_id: int, differences: list[str]) -> PlanVerified:
    with store.read() as conn:
        plan = _require_plan(conn, plan_id, store)
        cycle = get_cycle(conn, plan["cycle_id"])
        params = plan["params"] or {}
        snapshot_rows = params.get("inspectors") or []
        snapshot = {s["id"]: s for s in snapshot_rows}
        inspectors = [_inspector_from(s) for s in snapshot_rows]
        stored, problems = _stored_checks(conn, plan, snapshot)
        differences.extend(problems)
        candidates = _load_candidates(conn, plan["cycle_id"])
        # The drawn entities keep the place logged with the check (the register may have changed since).
        logged = {c.code: c for c in stored}
        candidates = [
            c._replace(region=logged[c.code].region, township=logged[c.code].township) if c.code in logged else c
            for c in candidates
        ]
        options = _options_from(params)
        months = int(params.get("exclude_clean_months") or 0)
        if months and cycle is not None:
            window = _exclusion_window(cycle["as_of"], months)
            known = q.clean_results(conn, *window, imported_until=plan["created_at"])
            forced = {c.code for c in candidates if c.forced}
            codes = {c.code for c in candidates}
            recomputed = (known & codes) - forced
            if recomputed != set(options.excluded):
                extra, missing = sorted(recomputed - options.excluded), sorted(options.excluded - recomputed)
                differences.append(
                    f"exclusions: the records known when the plan was drawn exclude "
                    f"{len(recomputed)} entities, the plan logged {len(options.excluded)} "
                    f"(not logged: {', '.join(extra[:5]) or '-'}; logged but not found: "
                    f"{', '.join(missing[:5]) or '-'})"
                )
    header = {
        "algorithm": plan["algorithm"],
        "seed": plan["seed"],
        "per_check": plan["per_check"],
        "candidates_fingerprint": plan["candidates_fingerprint"],
        "inspectors_fingerprint": plan["inspectors_fingerprint"],
        "options": {
            "recusal_same_township": options.recusal_same_township,
            "items": [list(it) for it in options.items],
        },
    }
    if plan_fingerprint(header, stored) != plan["plan_fingerprint"]:
        differences.append(
            "stored rows: the checks and assignments in the database do not match the plan "
            "fingerprint recorded when the plan was drawn (rows changed after the draw)"
        )
    ifp = inspectors_fingerprint(inspectors)
    if ifp != plan["inspectors_fingerprint"]:
        differences.append(
            f"inspectors: the logged inspector snapshot has fingerprint {ifp[:12]}…, the plan "
            f"recorded {plan['inspectors_fingerprint'][:12]}…"
        )
    redo: Draw | None = None
    if plan["algorithm"] != ALGORITHM:
        differences.append(f"algorithm: the plan used {plan['algorithm']}, this version implements {ALGORITHM}")
    else:
        try:
            redo = draw(candidates, inspectors, plan["seed"], plan["per_check"], options)
        except InspectorShortage as exc:
            differences.append(f"redraw: the logged inputs cannot be staffed any more: {exc.message.splitlines()[0]}")
    if redo is not None:
        if redo.candidates_fingerprint != plan["candidates_fingerprint"]:
            differences.append(
                f"candidates: the cycle's decisions now give fingerprint "
                f"{redo.candidates_fingerprint[:12]}…, the plan recorded "
                f"{plan['candidates_fingerprint'][:12]}…"
            )
        differences.extend(_compare_checks(stored, redo.checks))
        if redo.plan_fingerprint != plan["plan_fingerprint"] and not differences:
            differences.append("plan fingerprint: the redraw gives a different fingerprint")
    ok = not differences
    result = PlanVerified(
        {
            "plan_id": plan_id,
            "cycle_id": plan["cycle_id"],
            "verified": ok,
            "checks": len(stored),
            "seed": plan["seed"],
            "algorithm": plan["algorithm"],
            "plan_fingerprint": plan["plan_fingerprint"],
            "differences": differences,
        }
    )
    if ok:
        result["message"] = (
            f"Plan {plan_id} verified: redrawing cycle {plan['cycle_id']} with seed "
            f"'{plan['seed']}' ({plan['algorithm']}) from the logged candidates "
            f"({plan['candidates_fingerprint'][:12]}…) and inspector snapshot "
            f"({plan['inspectors_fingerprint'][:12]}…) gives the same {len(stored)} checks and "
            f"assignments (plan fingerprint {plan['plan_fingerprint'][:12]}…)."
        )
    else:
        shown = differences[:MAX_LISTED_DIFFERENCES]
        more = len(differences) - len(shown)
        result["message"] = (
            f"Plan {plan_id} does NOT verify: {len(differences)} difference"
            f"{'s' if len(differences) != 1 else ''} between the stored plan and a redraw from "
            f"the logged inputs:\n" + "\n".join(f"  {d}" for d in shown) + (f"\n  ... and {more} more" if more else "")
        )
    return result


def _compare_checks(stored: list[Check], redo: list[Check]) -> list[str]:
    out: list[str] = []
    a = {c.seq: c for c in stored}
    b = {c.seq: c for c in redo}
    for seq in sorted(set(a) | set(b)):
        x, y = a.get(seq), b.get(seq)
        if x is None:
            assert y is not None  # seq is a key of stored or of redo
            out.append(f"check {seq}: missing from the stored plan; the redraw has {y.code} ({y.reason})")
            continue
        if y is None:
            out.append(f"check {seq}: {x.code} is stored but the redraw has no check {seq}")
            continue
        for name in ("code", "tier", "reason", "rank", "items", "inspectors"):
            if getattr(x, name) != getattr(y, name):
                fx, fy = getattr(x, name), getattr(y, name)
                if isinstance(fx, tuple):
                    fx, fy = ",".join(fx) or "-", ",".join(fy) or "-"
                out.append(f"check {seq}: {name} stored {fx}, redraw {fy}")
    return out


# -- show, export, publish -------------------------------------------------------------------------


def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def tier_summary(strata: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per tier from the draw's strata (a tier has one stratum per ratio, e.g. D at 80 % and its
    listed entities at 100 %): population, excluded, the ratios, checks, forced (entities that must be
    inspected, whether or not the lottery also drew them) and sampled (the other checks, drawn by lot)."""
    rows: dict[str, dict[str, Any]] = {}
    for s in strata:
        row = rows.setdefault(
            s["tier"],
            {"tier": s["tier"], "population": 0, "excluded": 0, "ratios": [], "checks": 0, "forced": 0, "sampled": 0},
        )
        row["population"] += s["population"]
        row["excluded"] += s.get("excluded", 0)
        row["checks"] += s["checks"]
        row["forced"] += s.get("forced", s.get("forced_added", 0))
        row["ratios"].append({"ratio": s["ratio"], "population": s["population"]})
    for row in rows.values():
        row["sampled"] = row["checks"] - row["forced"]
        ratios = row["ratios"]
        row["ratio_text"] = (
            ratio_pct(ratios[0]["ratio"])
            if len(ratios) == 1
            else "、".join(f"{ratio_pct(r['ratio'])}（{r['population']}户）" for r in ratios)
        )
    return list(rows.values())


def result_totals(strata: Sequence[dict[str, Any]]) -> dict[str, int]:
    """checks, forced and sampled over every tier (see :func:`tier_summary`)."""
    tiers = tier_summary(strata)
    return {name: sum(t[name] for t in tiers) for name in ("checks", "forced", "sampled")}


def ratio_pct(ratio: float) -> str:
    return f"{float(ratio) * 100:g}%"


def plan_details(store: Store, plan_id: int, as_of: dt.date | None = None) -> PlanDetails:
    """Everything about a plan: strata, checks with inspectors, results, publications and deadline flags."""
    as_of = as_of or dt.date.today()
    with store.read() as conn:
        plan = _require_plan(conn, plan_id, store)
        cycle = get_cycle(conn, plan["cycle_id"])
        rows = q.plan_checks(conn, plan_id)
        assignments = q.plan_assignments(conn, plan_id)
        results = q.results_for_plan(conn, plan_id)
        pubs = q.publications(conn, plan_id)
    params = plan["params"] or {}
    snapshot = {s["id"]: s for s in params.get("inspectors") or []}
    items = {d["id"]: d for d in params.get("items") or []}
    version = _version(cycle) if cycle else {}
    wd = int(params.get("results_deadline_working_days") or DEFAULT_DEADLINE_WORKING_DAYS)
    result_pubs = [(p["published_on"], _utc(p["published_at"])) for p in pubs if p["kind"] == "results"]
    checks, flags = [], []
    for row in rows:
        extra: dict[str, Any] = row["items"] if isinstance(row["items"], dict) else {"items": row["items"] or []}
        inspectors = []
        for inspector_id in assignments.get(row["id"], []):
            snap = snapshot.get(inspector_id, {"code": f"#{inspector_id}", "name": "?", "department": "?"})
            inspectors.append({"code": snap["code"], "name": snap["name"], "department": snap["department"]})
        check = {
            "check_id": row["id"],
            "seq": row["seq"],
            "code": row["code"],
            "code_kind": row["code_kind"],
            "entity_type": row["entity_type"],
            "name": row["name"],
            "legal_rep": row.get("legal_rep"),
            "region": extra.get("region"),
            "tier": row["tier"],
            "reason": row["reason"],
            "rank_key": row["rank_key"],
            "items": [items.get(i, {"id": i, "title": i}) for i in extra.get("items") or []],
            "inspectors": inspectors,
            "result": None,
        }
        res = results.get(row["id"])
        if res is not None:
            deadline = deadlines.publication_deadline(version, res["inspected_on"], wd)
            recorded = _utc(res["recorded_at"])
            published_on = next(
                (on for on, at in result_pubs if at is not None and recorded is not None and at >= recorded), None
            )
            status = "published" if published_on else "unpublished"
            flag = None
            if published_on and published_on > deadline:
                flag = "published_late"
            elif not published_on and as_of > deadline:
                flag = "overdue"
            check["result"] = {
                "outcome": res["outcome"],
                "outcome_label": OUTCOME_LABELS.get(res["outcome"]),
                "penalty_ref": res["penalty_ref"],
                "inspected_on": res["inspected_on"],
                "note": res["note"],
                "deadline": deadline,
                "published_on": published_on,
                "status": status,
                "flag": flag,
            }
            if flag:
                flags.append(
                    {
                        "seq": row["seq"],
                        "code": row["code"],
                        "flag": flag,
                        "deadline": deadline,
                        "published_on": published_on,
                        "inspected_on": res["inspected_on"],
                    }
                )
        checks.append(check)
    used = {i["code"] for c in checks for i in c["inspectors"]}
    forced = result_totals(params.get("strata") or [])["forced"]
    labels = (((cycle.get("pack_body") or {}).get("version") or {}).get("tiers") or {}).get("labels") or {}
    return PlanDetails(
        {
            "plan_id": plan_id,
            "cycle_id": plan["cycle_id"],
            "pack_id": params.get("pack_id"),
            "pack_title": ((cycle.get("pack_body") or {}).get("pack") or {}).get("title") if cycle else None,
            "authority": ((cycle.get("pack_body") or {}).get("pack") or {}).get("authority") if cycle else None,
            "authorities": _plan_authorities(
                ((cycle.get("pack_body") or {}).get("pack") or {}) if cycle else {}, [c["region"] for c in checks]
            ),
            "period": params.get("period"),
            "as_of": params.get("as_of"),
            "seed": plan["seed"],
            "algorithm": plan["algorithm"],
            "per_check": plan["per_check"],
            "created_at": plan["created_at"],
            "candidates_fingerprint": plan["candidates_fingerprint"],
            "inspectors_fingerprint": plan["inspectors_fingerprint"],
            "plan_fingerprint": plan["plan_fingerprint"],
            "exclude_clean_months": params.get("exclude_clean_months"),
            "excluded": len(params.get("excluded") or []),
            "recusal_same_township": params.get("recusal_same_township"),
            "results_deadline_working_days": wd,
            "checked_on": as_of,
            "strata": params.get("strata") or [],
            "items": list(items.values()),
            "tiers": tier_summary(params.get("strata") or []),
            "tier_labels": labels,
            "redraw": params.get("redraw"),
            "totals": {
                "checks": len(checks),
                "sampled": len(checks) - forced,
                "forced": forced,
                "inspectors_used": len(used),
                "results": len(results),
                "published_late": sum(1 for f in flags if f["flag"] == "published_late"),
                "overdue": sum(1 for f in flags if f["flag"] == "overdue"),
            },
            "publications": [{"kind": p["kind"], "published_on": p["published_on"], "path": p["path"]} for p in pubs],
            "flags": flags,
            "checks": checks,
        }
    )


def list_plans(store: Store) -> PlanList:
    """Every stored plan: id, cycle (pack, period, as-of), seed, drawn_at (UTC), checks, status (``drawn``,
    ``published`` or ``results_published``, from the plan's publications), published_on, results_published_on
    and ``redraw`` ({reason, earlier_plans} for a plan drawn with --redraw, else None)."""
    with store.read() as conn:
        rows = q.plan_summaries(conn)
    out = []
    for r in rows:
        pubs = r["publications"]
        plan_on = next((on for kind, on in pubs if kind == "plan"), None)
        results_on = next((on for kind, on in reversed(pubs) if kind == "results"), None)
        status = "results_published" if results_on else "published" if plan_on else "drawn"
        out.append(
            {
                "id": r["id"],
                "cycle_id": r["cycle_id"],
                "pack_id": r["pack_id"],
                "period": r["period"],
                "as_of": r["as_of"],
                "seed": r["seed"],
                "algorithm": r["algorithm"],
                "per_check": r["per_check"],
                "drawn_at": _utc(r["created_at"]),
                "actor": r["actor"],
                "checks": r["checks"],
                "status": status,
                "published_on": plan_on,
                "results_published_on": results_on,
                "redraw": (r["params"] or {}).get("redraw"),
            }
        )
    return PlanList(out)


def _plan_authorities(pack: dict[str, Any], regions: Sequence[str | None]) -> list[str]:
    """The issuing authorities of a plan's checks (a pack with per-region ``authorities`` plans for each city
    through its own authority), the pack's authority first; the pack's authority alone without checks."""
    names = list(dict.fromkeys(a["name"] for a in (for_region(pack, r) for r in dict.fromkeys(regions)) if a))
    names.sort(key=lambda n: n != pack.get("authority"))
    return names or ([pack["authority"]] if pack.get("authority") else [])
