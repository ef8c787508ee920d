"""supervise: command-line interface. Thin: parse options, call one library function, print.

Library errors (engine.errors.SupervisionError) become click.ClickException; bad option combinations
become click.UsageError.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import click

from engine.errors import SupervisionError, UsageProblem

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@dataclass
class Settings:
    db: str | None
    json: bool
    quiet: bool
    _store: Any = None

    @property
    def store(self):
        if self._store is None:
            from engine.store import Store

            self._store = Store(self.db)
        return self._store


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=_json_default)


def json_option(func: Callable) -> Callable:
    """--json on a command (same as the global --json)."""

    def callback(ctx: click.Context, _param, value: bool):
        if value:
            ctx.find_object(Settings).json = True
        return value

    return click.option("--json", "json_", is_flag=True, expose_value=False, callback=callback,
                        help="Print the result as JSON.")(func)


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """Turn library errors into click errors with their sentence."""
    try:
        yield
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from exc
    except SupervisionError as exc:
        raise click.ClickException(str(exc)) from exc


def settings() -> Settings:
    return click.get_current_context().find_object(Settings)


def emit(result: Any, text: Callable[[Any], str] | str | None = None) -> None:
    """Print JSON when --json, else the text form (unless --quiet)."""
    s = settings()
    if s.json:
        click.echo(dumps(result))
    elif not s.quiet:
        out = text(result) if callable(text) else (text if text is not None else dumps(result))
        if out:
            click.echo(out)


@contextlib.contextmanager
def progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr for long work; silent with --quiet/--json or when not a terminal."""
    s = settings()
    if s.quiet or s.json or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.console import Console

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; use YYYY-MM-DD", param_hint=option) from None


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="supervise")
@click.option("--db", envvar="SUPERVISE_DB", metavar="URL",
              help="Database URL (env SUPERVISE_DB; default sqlite:///supervise.db). "
                   "PostgreSQL: postgresql://user@host:5432/dbname.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_json: bool, quiet: bool) -> None:
    """Tiered credit supervision, random inspections, lists and joint measures.

    Example: supervise init && supervise demo --entities 2000
    """
    ctx.obj = Settings(db=db, json=as_json, quiet=quiet)


# == store ==

@cli.command()
def init() -> None:
    """Create or upgrade the database schema (idempotent).

    Example: supervise --db postgresql://postgres@127.0.0.1/test init
    """
    with errors():
        result = settings().store.init()
    emit(result, lambda r: (f"Schema of {r['database']} upgraded from {r['from'] or 'empty'} to {r['to']}."
                            if r["changed"] else f"Schema of {r['database']} is up to date ({r['to']})."))


# == import ==

@cli.group(name="import", context_settings=CONTEXT_SETTINGS)
def import_() -> None:
    """Import entities, credit records and inspectors from CSV, XLSX or JSON Lines."""


def _import_text(kind: str) -> Callable[[dict], str]:
    def text(r: dict) -> str:
        line = (f"{r['file']}: {r['rows']} rows, {r['inserted']} new, {r.get('updated', 0)} updated, "
                f"{r['unchanged']} unchanged, {r['rejected']} rejected {kind}.")
        if r.get("rejects_file"):
            line += f" Rejected rows with reasons: {r['rejects_file']}"
        return line
    return text


@import_.command("entities")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@json_option
def import_entities(file: str, skip_invalid: bool) -> None:
    """Import or update entities (统一社会信用代码 or identity number, name, region, ...).

    Example: supervise import entities register.csv
    """
    from engine import register

    with errors():
        settings().store.require_schema()
        with progress(None, "Importing entities") as tick:
            report = register.import_entities(settings().store, file, skip_invalid=skip_invalid, progress=tick)
    result = report.as_dict()
    result["unchanged"] = report.valid - report.inserted - report.updated
    emit(result, _import_text("rows"))


@import_.command("records")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--kind", help="Record kind for every row (when the file has no 'kind' column).")
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@json_option
def import_records(file: str, kind: str | None, skip_invalid: bool) -> None:
    """Import credit records (tax_evaluation, penalty, commitment, ...).

    Example: supervise import records penalties.xlsx --kind penalty
    """
    from engine import register
    from policies import record_kinds

    with errors():
        settings().store.require_schema()
        with progress(None, "Importing records") as tick:
            report = register.import_records(settings().store, file, record_kinds(), skip_invalid=skip_invalid,
                                             default_kind=kind, progress=tick)
    emit(report.as_dict(), _import_text("rows"))


# == entities ==

@cli.group(context_settings=CONTEXT_SETTINGS)
def entities() -> None:
    """Look at the entity register."""


@entities.command("show")
@click.argument("code")
@json_option
def entities_show(code: str) -> None:
    """Show an entity and its credit records.

    Example: supervise entities show 91350100M000100Y43
    """
    from engine import register

    with errors():
        result = register.show_entity(settings().store, code)

    def text(r: dict) -> str:
        lines = [f"{r['name']}  {r['code']}  ({r['entity_type']}, region {r['region']}, industry {r['industry'] or '-'},"
                 f" established {r['established_on'] or '-'})",
                 f"legal representative: {r['legal_rep'] or '-'}", f"{len(r['records'])} records:"]
        for rec in r["records"]:
            data = ", ".join(f"{k}={v}" for k, v in rec["data"].items())
            lines.append(f"  {rec['date']}  {rec['kind']:<20} {data}")
        return "\n".join(lines)

    emit(result, text)


# == policy ==

@cli.group(context_settings=CONTEXT_SETTINGS)
def policy() -> None:
    """Validate, list, show and compare policy packs."""


@policy.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
def policy_validate(files: tuple[str, ...]) -> None:
    """Check policy pack files: structure, references, types, complete and unique tier tables, dead rules.

    Example: supervise policy validate my-pack.yaml
    """
    from policies.describe import validate_files

    with errors():
        result = validate_files(files)
    emit(result, lambda r: "\n".join(f"{p['file']}: valid ({', '.join(p['versions'])})" for p in r))


@policy.command("list")
@json_option
def policy_list() -> None:
    """List the policy packs (shipped, and in SUPERVISE_POLICIES directories).

    Example: supervise policy list
    """
    from policies.describe import pack_summaries

    with errors():
        result = pack_summaries()

    def text(rows):
        lines = []
        for p in rows:
            lines.append(f"{p['id']:<22} {p['title']}  ({p['authority']}, {p['jurisdiction']})")
            for v in p["versions"]:
                lines.append(f"    {v['version']:<8} {v['effective_from']} .. {v['effective_to'] or 'open':<10} "
                             f"{v['rules']} rules  {v['content_hash'][:12]}  {v['title']}")
        return "\n".join(lines)

    emit(result, text)


@policy.command("show")
@click.argument("ref", metavar="ID[@VERSION]")
@json_option
def policy_show(ref: str) -> None:
    """Show a pack version: facts, tiers, rules with their conditions and basis, lists and measures.

    Example: supervise policy show tax-credit@2025
    """
    from policies.describe import show_version

    with errors():
        result = show_version(ref)
    emit(result, lambda r: r["text"])


@policy.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@json_option
def policy_diff(a: str, b: str) -> None:
    """What changed between two pack versions (ID@VERSION or FILE@VERSION), rule by rule.

    Example: supervise policy diff tax-credit@2014 tax-credit@2025
    """
    from policies.describe import diff_versions

    with errors():
        result = diff_versions(a, b)
    emit(result, lambda r: r["text"])


# == evaluate ==

@cli.command()
@click.argument("code")
@click.option("--policy", "policy_ref", required=True, help="Pack id or YAML file.")
@click.option("--as-of", help="Evaluation date (YYYY-MM-DD); default today.")
@click.option("--explain", is_flag=True, help="Print a plain-language account a regulator can read to the entity.")
@json_option
def evaluate(code: str, policy_ref: str, as_of: str | None, explain: bool) -> None:
    """Evaluate one entity against a policy pack (nothing is stored).

    Example: supervise evaluate 91350100M000100Y43 --policy tax-credit --as-of 2026-04-30 --explain
    """
    from engine.evaluate import evaluate_entity, explain_text

    with errors():
        result, version = evaluate_entity(settings().store, code, policy_ref, parse_date(as_of, "--as-of"))
    result = {k: v for k, v in result.items() if k != "facts"} | {"facts": result["facts"]}

    def text(r: dict) -> str:
        if explain:
            return explain_text(r, version)
        lines = [f"{r['name']} {r['uscc']}: {r['tier_label']} ({r['policy']['id']}@{r['policy']['version']}, "
                 f"period {r['period']}, as of {r['as_of']})",
                 f"inspection: ratio {r['inspection']['ratio']:.0%}, {r['inspection']['per_year']:g} per year"
                 + (" (forced)" if r["inspection"]["forced"] else "")]
        for item in r["lists"]:
            lines.append(f"list: propose {item['list']} ({item['rule']}; {item['basis']})")
        for m in r["measures"]:
            lines.append(f"measure: {m['id']} [{m['kind']}] {m['basis']}")
        for reason in r["reasons"]:
            extra = f" — ignored: {reason['ignored_because']}" if reason.get("ignored_because") else ""
            lines.append(f"{reason['outcome']:>8}: {reason['rule']}: {reason['why']}{extra}")
        return "\n".join(lines)

    emit(result, text)


@cli.command()
@click.argument("code")
@click.option("--service", required=True, help="Government service item, e.g. government_procurement, bidding.")
@click.option("--as-of", help="Date (YYYY-MM-DD); default today.")
@json_option
def check(code: str, service: str, as_of: str | None) -> None:
    """Measures that apply when this entity applies for a government service item (from stored decisions).

    Example: supervise check 91350100M000100Y43 --service government_procurement
    """
    from engine.evaluate import check_service

    with errors():
        result = check_service(settings().store, code, service, parse_date(as_of, "--as-of"))

    def text(r: dict) -> str:
        lines = [f"{r['name']} {r['uscc']} applying for {r['service']}: {r['verdict']}"]
        for m in r["measures"]:
            cause = m["cause"]
            why = (f"tier {cause['tier']} in cycle {cause['cycle']}" if cause["type"] == "tier"
                   else f"{cause['list']} list entry {cause['entry']}")
            ignored = f" (not applied: {m['ignored_because']})" if m.get("ignored_because") else ""
            lines.append(f"  [{m['kind']}] {m['text']} — {m['department']}; basis {m['basis']}; because {why}{ignored}")
        if not r["measures"]:
            lines.append("  no joint measure applies")
        return "\n".join(lines)

    emit(result, text)


# == cycle ==

@cli.group(context_settings=CONTEXT_SETTINGS)
def cycle() -> None:
    """Run, list, show, compare and replay supervision cycles."""


@cycle.command("run")
@click.option("--policy", "policy_ref", required=True, help="Pack id or YAML file.")
@click.option("--period", required=True, help="Period label: 2025, 2025-H1, 2025-Q3, 2025-06 or a date.")
@click.option("--as-of", help="As-of date (default: end of the period).")
@click.option("--rerun", is_flag=True, help="Store a new revision when the pack and period already have a cycle.")
@json_option
def cycle_run(policy_ref: str, period: str, as_of: str | None, rerun: bool) -> None:
    """Evaluate every entity in the register and store the cycle (all or nothing).

    Example: supervise cycle run --policy tax-credit --period 2025 --as-of 2026-04-30
    """
    from engine.cycles import run_cycle

    with errors():
        settings().store.require_schema()
        with progress(None, "Evaluating register") as tick:
            result = run_cycle(settings().store, policy_ref, period, parse_date(as_of, "--as-of"), rerun,
                               progress=tick)
    emit(result, _cycle_summary_text)


def _cycle_summary_text(r: dict) -> str:
    lines = [f"Cycle {r['cycle']}: {r['pack']}@{r['version']} period {r['period']} as of {r['as_of']}, "
             f"revision {r['revision']}, {r['entities']} entities ({r['distinct_vectors']} distinct evaluations) "
             f"in {r.get('wall_seconds', 0):.1f}s."]
    lines.append(f"{'tier':<6}{'entities':>10}{'ratio':>8}{'per year':>10}{'expected checks':>17}")
    for t in r["tiers"]:
        ratio = f"{t['ratio']:.0%}" if t["ratio"] is not None else "-"
        lines.append(f"{t['tier']:<6}{t['entities']:>10}{ratio:>8}{(t['per_year'] or 0):>10g}{t['expected_inspections']:>17}")
    ch = r.get("changes")
    if ch:
        lines.append(f"Against cycle {ch['previous_cycle']}: {ch['tier_up']} up, {ch['tier_down']} down, "
                     f"{ch['unchanged']} unchanged.")
    if r.get("lists"):
        lines.append("Lists: " + ", ".join(f"{k}: {v}" for k, v in r["lists"].items() if not isinstance(v, (dict, list))))
    return "\n".join(lines)


@cycle.command("list")
@json_option
def cycle_list() -> None:
    """List cycles (superseded revisions included).

    Example: supervise cycle list
    """
    from engine.cycles import list_cycles

    with errors():
        rows = list_cycles(settings().store)
    emit(rows, lambda rs: "\n".join(f"{r['id']:>4} {r['pack']}@{r['version']} {r['period']} r{r['revision']} "
                                    f"as of {r['as_of']} {r['entities']} entities {r['status']}" for r in rs)
         or "No cycles yet.")


@cycle.command("show")
@click.argument("cycle_id", type=int)
@json_option
def cycle_show(cycle_id: int) -> None:
    """Show a cycle's summary.

    Example: supervise cycle show 1
    """
    from engine.cycles import show_cycle

    with errors():
        r = show_cycle(settings().store, cycle_id)
    emit(r, lambda r: f"{r['status']} (revision {r['revision']}, pack hash {r['content_hash'][:12]})\n"
                      + _cycle_summary_text({**r["summary"], "cycle": r["id"], "pack": r["pack"], "version": r["version"],
                                             "period": r["period"], "as_of": r["as_of"], "revision": r["revision"],
                                             "entities": r["entities"]}))


@cycle.command("diff")
@click.argument("a", type=int)
@click.argument("b", type=int)
@json_option
def cycle_diff(a: int, b: int) -> None:
    """Compare two cycles: tier transition matrix, list changes, workload change.

    Example: supervise cycle diff 1 2
    """
    from engine.cycles import diff_cycles

    with errors():
        r = diff_cycles(settings().store, a, b)

    def text(r: dict) -> str:
        tiers = [t["tier"] for t in r["tiers"]]
        matrix = {(t["from"], t["to"]): t["entities"] for t in r["transitions"]}
        lines = [f"Cycle {a} -> {b}: rows = tier in {a}, columns = tier in {b}",
                 "      " + "".join(f"{t:>8}" for t in tiers)]
        for x in tiers:
            lines.append(f"{x:<6}" + "".join(f"{matrix.get((x, y), 0):>8}" for y in tiers))
        for lst in r["lists"]:
            lines.append(f"list {lst['list']}: {lst['a']} -> {lst['b']} ({lst['change']:+d})")
        e = r["expected_inspections"]
        lines.append(f"expected inspections: {e['a']:g} -> {e['b']:g}")
        return "\n".join(lines)

    emit(r, text)


@cycle.command("replay")
@click.argument("cycle_id", type=int)
@json_option
def cycle_replay(cycle_id: int) -> None:
    """Recompute a cycle from its stored pack version and the records known when it ran; compare.

    Example: supervise cycle replay 1
    """
    from engine.cycles import replay_cycle

    with errors():
        r = replay_cycle(settings().store, cycle_id)
    emit(r, lambda r: (f"Cycle {cycle_id} replayed: {r['entities']} decisions identical." if r["identical"] else
                       f"Cycle {cycle_id} replay differs for {len(r['differences'])} entities: {r['differences'][:5]}"))
    if not r["identical"]:
        raise SystemExit(1)


# == plan ==

# == lists ==

# == objection ==

# == repair ==

# == measures ==

# == notices ==

# == demo ==


if __name__ == "__main__":  # pragma: no cover
    cli()
