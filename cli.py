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

# == evaluate ==

# == cycle ==

# == plan ==

# == lists ==

# == objection ==

# == repair ==

# == measures ==

# == notices ==

# == demo ==


if __name__ == "__main__":  # pragma: no cover
    cli()
