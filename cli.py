"""supervise: command-line interface. Thin: parse options, call one library function, print.

Library errors (engine.errors.SupervisionError) become click.ClickException; bad option combinations
become click.UsageError.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from engine import plans, values
from engine.access import matching as access_matching
from engine.access import offices as access_offices
from engine.access import users
from engine.errors import SupervisionError, UsageProblem
from engine.evaluate import explain_text
from engine.model import NOTICE_KINDS
from engine.outpaths import output_dir, output_file, write_atomically
from engine.pipeline import jobs
from engine.pipeline.check import check as check_codes
from engine.pipeline.cycles import diff_cycles, list_cycles, replay_cycle, run_cycle, show_cycle
from engine.pipeline.demo import run_demo
from engine.pipeline.evaluate import evaluate_entity
from engine.pipeline.report import write_report
from engine.pipeline.simulate import simulate
from engine.register import crosswalk, matching
from engine.register import entities as register
from engine.register.history import annul_record, correct_record, import_corrections, record_history
from engine.service import apps as service_apps
from engine.service import bank as service_bank
from engine.service import keys as service_keys
from engine.service import log as service_log
from engine.store import Store
from engine.values import parse_date as parse_value_date
from lists import acts, lifecycle
from lists import measures as list_measures
from notices import issue, render
from notices.results import NoticeShown, PreviewWritten
from policies import base_limits, base_record_kinds, record_kinds
from policies.describe import diff_versions, pack_summaries, show_version, validate_files
from policies.loader import base_matching

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
# Stored ids and counts are 64-bit integers in both databases; a larger number is refused as an option value.
ID_MAX = 2**63 - 1
ID = click.IntRange(max=ID_MAX)
COUNT = click.IntRange(0, ID_MAX)
# Dates an option may name: the register's earliest (records.Limits.earliest_date) to the end of the century.
EARLIEST_DATE, LATEST_DATE = dt.date(1949, 1, 1), dt.date(2100, 12, 31)


@dataclass
class Settings:
    db: str | None
    json: bool
    quiet: bool
    _store: Any = None

    @property
    def store(self):
        if self._store is None:
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

    return click.option(
        "--json", "json_", is_flag=True, expose_value=False, callback=callback, help="Print the result as JSON."
    )(func)


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """Turn library errors into click errors with their sentence (as JSON on stderr with --json, see JsonErrors).

    The itemised lines of an import or pack error (``errors``/``problems``) go along as ``details``."""
    try:
        yield
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from exc
    except SupervisionError as exc:
        error = click.ClickException(str(exc))
        details = getattr(exc, "errors", None) or getattr(exc, "problems", None)
        if details:
            error.details = list(details)  # type: ignore[attr-defined]
        raise error from exc


def _wants_json(args: list[str]) -> bool:
    """--json anywhere before a '--' (the root option or a command's)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _command_path(group: click.Group, args: list[str]) -> str:
    """'supervise cycle run' from the command line (root options and their values skipped)."""
    path, command, skip = ["supervise"], group, False
    for token in args:
        if skip:
            skip = False
        elif token == "--db":
            skip = True
        elif token.startswith("-"):
            continue
        elif isinstance(command, click.Group) and token in command.commands:
            command = command.commands[token]
            path.append(token)
        else:
            break
    return " ".join(path)


def error_json(exc: click.ClickException, where: str = "supervise") -> dict[str, Any]:
    """{"error": sentence, "where": command [+ option], "exit_code": n[, "details": [...]]} of a click error."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:  # the program is 'supervise' however it was started (python -m cli, a test runner)
        where = " ".join(["supervise", *ctx.command_path.split(" ")[1:]])
    if isinstance(exc, click.BadParameter):
        hint = (
            exc.param_hint
            if exc.param_hint is not None
            else (exc.param.get_error_hint(ctx) if exc.param is not None and ctx is not None else None)
        )
        if hint:
            where += " " + (" / ".join(hint) if isinstance(hint, (list, tuple)) else str(hint)).replace("'", "")
    out: dict[str, Any] = {"error": exc.format_message(), "where": where, "exit_code": exc.exit_code}
    if getattr(exc, "details", None):
        out["details"] = exc.details  # type: ignore[attr-defined]
    return out


class JsonErrors(click.Group):
    """The root group: with --json, every error (library, usage, bad option) is printed as one JSON object on
    stderr, with the same non-zero exit code as the text form."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or not _wants_json(argv):
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            click.echo(dumps(error_json(exc, _command_path(self, argv))), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(dumps({"error": "Aborted.", "where": _command_path(self, argv), "exit_code": 1}), err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def settings() -> Settings:
    return click.get_current_context().find_object(Settings)


def emit(result: Any, text: Callable[[Any], str] | str | None = None) -> None:
    """Print JSON when --json, else the text form (unless --quiet). A typed result (engine.results.Result)
    brings both: ``to_json()`` and ``lines()``."""
    s = settings()
    if s.json:
        click.echo(dumps(result.to_json() if hasattr(result, "to_json") else result))
    elif not s.quiet:
        if hasattr(result, "lines") and text is None:
            text = "\n".join(result.lines())
        out = text(result) if callable(text) else (text if text is not None else dumps(result))
        if out:
            click.echo(out)


class _Bar:
    """The callback a library function advances (``bar(n)``; ``set_total`` via engine.progress.announce)."""

    def __init__(self, bar: Any = None, task: Any = None):
        self.bar, self.task = bar, task

    def __call__(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def set_total(self, total: int | None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, total=total)


def _bar_wanted() -> bool:
    s = settings()
    quiet = s.quiet if s is not None else False
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr while the block runs, advanced by the callback it yields (pass it to the
    library as ``progress=``); the library may announce the total. Nothing is printed with --quiet or when
    stderr is not a terminal (a pipe, a file, a test runner)."""
    if not _bar_wanted():
        yield _Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        bar.refresh()  # shown at once, not at the first automatic refresh
        yield _Bar(bar, task)


def parse_moment(value: str | None, option: str) -> dt.datetime | None:
    """A moment option (a knowledge date), see :func:`engine.values.parse_moment`."""
    if value is None:
        return None
    try:
        moment = values.parse_moment(value)
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a date and time; use 2026-03-01T14:30 (China Standard Time), "
            f"2026-03-01T06:30Z, or a date alone for the end of that day",
            param_hint=option,
        ) from None
    if moment.date() < EARLIEST_DATE:
        raise click.BadParameter(f"'{value}' is before {EARLIEST_DATE}", param_hint=option)
    return moment


def parse_date(value: str | None, option: str) -> dt.date | None:
    """A date option, in any form an import accepts: 2026-04-30, 2026/4/30, 20260430, 2026年4月30日."""
    if value is None:
        return None
    try:
        day = parse_value_date(value)
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a date; use YYYY-MM-DD (or 2026/4/30, 20260430, 2026年4月30日)", param_hint=option
        ) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise click.BadParameter(
            f"'{value}' is outside the dates supervise works with ({EARLIEST_DATE} to "
            f"{LATEST_DATE}); give the real date",
            param_hint=option,
        )
    return day


@click.group(cls=JsonErrors, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="supervise")
@click.option(
    "--db",
    envvar="SUPERVISE_DB",
    metavar="URL",
    help="Database URL (env SUPERVISE_DB; default sqlite:///supervise.db). "
    "PostgreSQL: postgresql://user@host:5432/dbname.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON (errors too: a JSON object on stderr).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors (no progress bar either).")
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
    emit(result)


def engine_options(func: Callable) -> Callable:
    """--engine local|spark and --master: where the register is evaluated (engine.pipeline.spark); the command
    receives ``spark``, the Spark master or None."""

    def callback(ctx: click.Context, _param, value: str | None):
        engine = ctx.params.pop("engine", "local")
        if engine == "local" and value is not None:
            raise click.UsageError("--master needs --engine spark.")
        return (value or "local[2]") if engine == "spark" else None

    func = click.option(
        "--master",
        "spark",
        metavar="URL",
        callback=callback,
        help="Spark master with --engine spark: local[2] (default), spark://host:7077, yarn.",
    )(func)
    return click.option(
        "--engine",
        type=click.Choice(["local", "spark"]),
        default="local",
        show_default=True,
        is_eager=True,
        help="Evaluate in this process (local) or on Apache Spark (needs supervise[spark] and Java 17).",
    )(func)


def by_option(func: Callable) -> Callable:
    """--as USER: the user who acts (default $SUPERVISE_USER, else admin, the administrator `supervise init`
    creates). --by is its older name."""
    return click.option(
        "--as",
        "--by",
        "by",
        metavar="USER",
        help="The user who acts: must exist (supervise users list) and hold the role the command needs "
        "(default: $SUPERVISE_USER, else admin).",
    )(func)


def _actor(by: str | None, roles: tuple[str, ...] = users.ROLES) -> str:
    """The acting user's name, checked: it must exist, be enabled and hold one of ``roles``."""
    with errors():
        return users.acting_name(settings().store, by, roles)


def _as(by: str | None) -> str:
    """The acting user's name for a library function that checks it itself (lists.acts)."""
    return by or os.environ.get("SUPERVISE_USER") or users.ADMIN


# == import ==


@cli.group(name="import", context_settings=CONTEXT_SETTINGS)
def import_() -> None:
    """Import entities, credit records and inspectors from CSV, XLSX or JSON Lines."""


_ENCODING_HELP = (
    "The file's text encoding (e.g. big5, gb18030, utf-16); without it a CSV is read as UTF-8 or "
    "GB18030 and a JSON Lines file as UTF-8."
)


_STRICT_ORG_HELP = (
    "Refuse a USCC whose 组织机构代码 (positions 9-17) fails the GB 11714 check (default: a warning, counted; "
    "matching.strict_org_code in policies/record_kinds.yaml sets it too)."
)


@import_.command("entities")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@click.option("--strict-org-code", is_flag=True, help=_STRICT_ORG_HELP)
@click.option("--encoding", help=_ENCODING_HELP)
@json_option
def import_entities(file: str, skip_invalid: bool, strict_org_code: bool, encoding: str | None) -> None:
    """Import or update entities (统一社会信用代码 or identity number, name, region, 注册号, ...).

    Example: supervise import entities register.csv
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Importing entities") as tick:
            report = register.import_entities(
                settings().store,
                file,
                base_limits(),
                skip_invalid=skip_invalid,
                progress=tick,
                encoding=encoding,
                strict_org_code=strict_org_code or base_matching().strict_org_code,
            )
    emit(report)


@import_.command("crosswalk")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@click.option("--encoding", help=_ENCODING_HELP)
@by_option
@json_option
def import_crosswalk(file: str, skip_invalid: bool, encoding: str | None, by: str | None) -> None:
    """Import former numbers and names: 注册号 -> 统一社会信用代码 as the 换照 records give them, and 曾用名.

    Columns: code (统一社会信用代码), reg_no (注册号) and/or former_name (曾用名), changed_on (变更日期).

    Example: supervise import crosswalk huanzhao.csv
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Importing the crosswalk") as tick:
            report = crosswalk.import_crosswalk(
                settings().store, file, skip_invalid=skip_invalid, actor=_actor(by), progress=tick, encoding=encoding
            )
    emit(report)


@import_.command("records")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--kind", help="Record kind for every row without its own 'kind' (a row whose kind differs is an error).")
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@click.option(
    "--dry-run", is_flag=True, help="Store nothing; report what would be new and each correction field by field."
)
@click.option("--strict-org-code", is_flag=True, help=_STRICT_ORG_HELP)
@click.option(
    "--match",
    "match_rows",
    is_flag=True,
    help="Rows may name the entity by 组织机构代码 (org_code), 注册号 (reg_no) or name (+ region): each is "
    "linked, held for a person (supervise match review) or rejected. With --dry-run: FILE.review.csv.",
)
@click.option("--encoding", help=_ENCODING_HELP)
@by_option
@json_option
def import_records(
    file: str,
    kind: str | None,
    skip_invalid: bool,
    dry_run: bool,
    strict_org_code: bool,
    match_rows: bool,
    encoding: str | None,
    by: str | None,
) -> None:
    """Import credit records (tax_evaluation, penalty, commitment, ...).

    A row for a record already stored (same entity, kind and key) with other fields is a correction: it is
    stored as the record's next version and the version before it is kept (supervise records history). A column
    the file does not have keeps the stored value; an empty cell clears it.

    With --match, the columns code (any kind of code), org_code, reg_no, name, region, legal_rep and industry
    name the entity; how each row was linked is stored with its record (docs/matching.md).

    Examples: supervise import records penalties.xlsx --kind penalty
              supervise import records court.csv --kind external_list --match --dry-run
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Importing records") as tick:
            report = register.import_records(
                settings().store,
                file,
                record_kinds(),
                skip_invalid=skip_invalid,
                default_kind=kind,
                actor=_actor(by),
                progress=tick,
                encoding=encoding,
                dry_run=dry_run,
                strict_org_code=strict_org_code or base_matching().strict_org_code,
                match=base_matching() if match_rows else None,
            )
    emit(report)


# == match ==


class _MatchGroup(click.Group):
    """``supervise match CODE-OR-NAME`` looks a row up; ``supervise match review|judge`` work the queue."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["find", *args]
        return super().resolve_command(ctx, args)


@cli.group("match", cls=_MatchGroup, context_settings=CONTEXT_SETTINGS)
def match_() -> None:
    """Match records without a USCC: look up a code or name, and the match review queue.

    \b
    supervise match CODE-OR-NAME [--region R]   the candidates, scores and reasons
    supervise match review                      the rows held for a person, side by side
    supervise match judge ID same CODE          the row is that entity: its held records are stored
    supervise match judge ID not-same [CODE]    never link it to CODE (or to any candidate shown)
    """


@match_.command("find", context_settings=CONTEXT_SETTINGS)
@click.argument("code_or_name", metavar="CODE-OR-NAME")
@click.option("--region", help="The row's region (GB/T 2260 code, e.g. 350503): candidates of its city only.")
@json_option
def match_find(code_or_name: str, region: str | None) -> None:
    """The register's candidates for a 统一社会信用代码, 组织机构代码, 注册号 or a name, with scores and reasons.

    The outcome is what an import would do with a row giving it: linked, review (a person decides) or rejected
    (thresholds: matching in policies/record_kinds.yaml; docs/matching.md).

    Example: supervise match 泉州祥誠物流有限公司 --region 350503
    """
    with errors():
        settings().store.require_schema()
        result = matching.match(settings().store, code_or_name, region, base_matching())
    emit(result)


@match_.command("review", context_settings=CONTEXT_SETTINGS)
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True, help="Questions shown.")
@by_option
@json_option
def match_review(limit: int, by: str | None) -> None:
    """The rows an import with --match held for a person: each question once (rows of one name and region wait
    together), the source row beside its candidates. Only those of the acting user's region.

    Example: supervise match review --as 王经办
    """
    with errors():
        settings().store.require_schema()
        result = access_matching.queue(settings().store, _as(by), limit)
    emit(result)


@match_.command("judge", context_settings=CONTEXT_SETTINGS)
@click.argument("review_id", type=ID, metavar="ID")
@click.argument("verdict", type=click.Choice(["same", "not-same"]))
@click.argument("code", required=False)
@click.option("--note", help="Why (kept with the judgement).")
@by_option
@json_option
def match_judge(review_id: int, verdict: str, code: str | None, note: str | None, by: str | None) -> None:
    """Judge a held row: ``same CODE`` stores its records (and every row held with the same name and region) for
    that entity; ``not-same [CODE]`` never links it to CODE, or to every candidate shown when no CODE is given.

    A judgement is kept and reused: a later import links rows with that name and region to the entity judged the
    same without asking, and never links them to one judged not the same.

    Example: supervise match judge 12 same 91350503MA2XYZ0123 --as 王经办
    """
    if verdict == "same" and not code:
        raise click.UsageError("'same' names the entity: supervise match judge ID same CODE")
    with errors():
        settings().store.require_schema()
        result = access_matching.judge(settings().store, _as(by), review_id, verdict.replace("-", "_"), code, note)
    emit(result)


# == records ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def records() -> None:
    """Versions of credit records: history, a clerk's correction, an annulment of a record entered in error."""


@records.command("history")
@click.argument("code")
@click.option("--kind", help="Only records of this kind (penalty, abnormal_operation, ...).")
@json_option
def records_history(code: str, kind: str | None) -> None:
    """Every version of an entity's records: what changed, who recorded it, when, from which import.

    Example: supervise records history 91350100M000100Y43 --kind penalty
    """
    with errors():
        result = record_history(settings().store, code, kind, record_kinds())
    emit(result)


_KEY_HELP = (
    "The record's key: field=value for each key field (penalty: decision_no=...), or the value of a one-field key."
)


@records.command("correct")
@click.argument("code", required=False)
@click.option("--kind", help="Record kind (penalty, abnormal_operation, ...).")
@click.option("--key", "key", multiple=True, help=_KEY_HELP)
@click.option(
    "--set", "sets", multiple=True, metavar="FIELD=VALUE", help="A corrected field (FIELD= clears it); repeat."
)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="A correction file instead: code, kind, key fields and the fields to correct per row.",
)
@click.option("--reason", required=True, help="Why (kept with the new version).")
@click.option("--dry-run", is_flag=True, help="With --file: store nothing, report each correction field by field.")
@click.option("--encoding", help=_ENCODING_HELP)
@by_option
@json_option
def records_correct(
    code: str | None,
    kind: str | None,
    key: tuple[str, ...],
    sets: tuple[str, ...],
    file: str | None,
    reason: str,
    dry_run: bool,
    encoding: str | None,
    by: str | None,
) -> None:
    """Correct a record: its next version, recorded now with the reason; the version before it is kept.

    \b
    Examples:
      supervise records correct 91350100M000100Y43 --kind penalty --key decision_no=泉市监罚〔2025〕12号
        --set annulled_on=2026-03-02 --reason "行政复议决定撤销"
      supervise records correct --file corrections.csv --reason "税务局2026年3月更正"
    """
    with errors():
        settings().store.require_schema()
        if file:
            if code or key or sets:
                raise UsageProblem("Give either --file or CODE with --kind, --key and --set, not both.")
            result = import_corrections(
                settings().store, file, record_kinds(), reason, _actor(by), kind, dry_run=dry_run, encoding=encoding
            )
        else:
            if not code or not kind or not key:
                raise UsageProblem("Give CODE, --kind and --key (or --file FILE).")
            if dry_run:
                raise UsageProblem("--dry-run goes with --file; a single correction prints what it changed.")
            result = correct_record(settings().store, code, kind, key, sets, reason, _actor(by), record_kinds())
    emit(result)


@records.command("annul")
@click.argument("code")
@click.option("--kind", required=True, help="Record kind (penalty, abnormal_operation, ...).")
@click.option("--key", "key", multiple=True, required=True, help=_KEY_HELP)
@click.option("--reason", required=True, help="Why the record was entered in error (kept with it).")
@by_option
@json_option
def records_annul(code: str, kind: str, key: tuple[str, ...], reason: str, by: str | None) -> None:
    """Annul a record entered in error: kept in the history, out of every later evaluation.

    (A penalty annulled by a reconsideration or a court is a correction: --set annulled_on=DATE.)

    Example: supervise records annul 91350100M000100Y43 --kind penalty --key decision_no=X --reason "重复录入"
    """
    with errors():
        settings().store.require_schema()
        result = annul_record(settings().store, code, kind, key, reason, _actor(by), record_kinds())
    emit(result)


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
    with errors():
        result = register.show_entity(settings().store, code)
    emit(result)


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
    with errors():
        result = validate_files(files)
    emit(result)


@policy.command("list")
@json_option
def policy_list() -> None:
    """List the policy packs (shipped, and in SUPERVISE_POLICIES directories); an invalid pack is listed as
    INVALID with its first problem (file:line), the others as usual.

    Example: supervise policy list
    """
    with errors():
        result = pack_summaries()
    emit(result)


@policy.command("show")
@click.argument("ref", metavar="ID[@VERSION]")
@json_option
def policy_show(ref: str) -> None:
    """Show a pack version: facts, tiers, rules with their conditions and basis, lists and measures.

    Example: supervise policy show tax-credit@2025
    """
    with errors():
        result = show_version(ref)
    emit(result)


@policy.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@json_option
def policy_diff(a: str, b: str) -> None:
    """What changed between two pack versions (ID@VERSION or FILE@VERSION), rule by rule.

    Example: supervise policy diff tax-credit@2014 tax-credit@2025
    """
    with errors():
        result = diff_versions(a, b)
    emit(result)


# == evaluate ==


@cli.command()
@click.argument("code")
@click.option("--policy", "policy_ref", required=True, help="Pack id or YAML file.")
@click.option("--as-of", help="Evaluation date (YYYY-MM-DD); default today.")
@click.option(
    "--known-at",
    metavar="DATETIME",
    help="Knowledge date: use only the record versions recorded by then (2026-03-01T14:30, China Standard Time "
    "unless a zone is given; a date alone is the end of that day). Default: everything known now.",
)
@click.option("--explain", is_flag=True, help="Print a plain-language account a regulator can read to the entity.")
@json_option
def evaluate(code: str, policy_ref: str, as_of: str | None, known_at: str | None, explain: bool) -> None:
    """Evaluate one entity against a policy pack (nothing is stored).

    --as-of is the date the facts are taken as of (a penalty counts until its annulment, an abnormal-operation
    entry until its removal); --known-at answers "what would we have decided with what we knew then".

    Example: supervise evaluate 91350100M000100Y43 --policy tax-credit --as-of 2026-04-30 --explain
    """
    with errors():
        result, version = evaluate_entity(
            settings().store, code, policy_ref, parse_date(as_of, "--as-of"), parse_moment(known_at, "--known-at")
        )
    emit(result, (lambda r: explain_text(r, version)) if explain else None)  # --explain: the regulator's account


@cli.command()
@click.argument("code")
@click.option(
    "--service",
    required=True,
    help="Government service item, by id or Chinese name: government_procurement or 政府采购, bidding, ...",
)
@click.option("--as-of", help="Date (YYYY-MM-DD, 2026/4/30, 2026年4月30日); default today.")
@json_option
def check(code: str, service: str, as_of: str | None) -> None:
    """Measures that apply when this entity applies for a government service item (from stored decisions).

    The verdict is restricted, needs_review (not in the register, or a pack that governs the item has not
    decided it yet: the reasons say which), incentive or no_measure. Only the latest revision of a cycle counts.

    Example: supervise check 91350100M000100Y43 --service government_procurement
    """
    with errors():
        result = check_codes(settings().store, [code], service, parse_date(as_of, "--as-of"))[0]
    emit(result)


# == cycle ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def cycle() -> None:
    """Run, list, show, compare and replay supervision cycles."""


@cycle.command("run")
@click.option("--policy", "policy_ref", required=True, help="Pack id or YAML file.")
@click.option("--period", required=True, help="Period label: 2025, 2025-H1, 2025-Q3, 2025-06 or a date.")
@click.option(
    "--as-of",
    help="As-of date (default: end of the period; with --rerun, the as-of date of the revision it supersedes).",
)
@click.option("--rerun", is_flag=True, help="Store a new revision when the pack and period already have a cycle.")
@engine_options
@by_option
@json_option
def cycle_run(policy_ref: str, period: str, as_of: str | None, rerun: bool, spark: str | None, by: str | None) -> None:
    """Evaluate every entity in the register and store the cycle (all or nothing).

    From 100,000 entities a worker process evaluates while this one writes; SUPERVISE_WORKERS=N sets the number
    (0: one process). --engine spark evaluates on Spark (docs/scale.md); the decisions are the same and are
    written here. Issue the cycle's notices afterwards with 'supervise notices issue --cycle ID'.

    Example: supervise cycle run --policy tax-credit --period 2025 --as-of 2026-04-30
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Evaluating register") as tick:
            result = run_cycle(
                settings().store,
                policy_ref,
                period,
                parse_date(as_of, "--as-of"),
                rerun,
                actor=_actor(by, ("admin",)),
                progress=tick,
                spark=spark,
            )
    emit(result)


@cycle.command("list")
@json_option
def cycle_list() -> None:
    """List cycles (superseded revisions included).

    Example: supervise cycle list
    """
    with errors():
        rows = list_cycles(settings().store)
    emit(rows)


@cycle.command("show")
@click.argument("cycle_id", type=ID)
@json_option
def cycle_show(cycle_id: int) -> None:
    """Show a cycle's summary.

    Example: supervise cycle show 1
    """
    with errors():
        r = show_cycle(settings().store, cycle_id)
    emit(r)


@cycle.command("diff")
@click.argument("a", type=ID)
@click.argument("b", type=ID)
@json_option
def cycle_diff(a: int, b: int) -> None:
    """Compare two cycles: tier transition matrix, list changes, workload change.

    Example: supervise cycle diff 1 2
    """
    with errors():
        r = diff_cycles(settings().store, a, b)
    emit(r)


@cycle.command("replay")
@click.argument("cycle_id", type=ID)
@engine_options
@json_option
def cycle_replay(cycle_id: int, spark: str | None) -> None:
    """Recompute a cycle from its stored pack version and the records known when it ran; compare.

    From 100,000 entities two worker processes evaluate (SUPERVISE_WORKERS=N sets the number).

    Example: supervise cycle replay 1
    """
    with errors():
        with progress(None, f"Replaying cycle {cycle_id}") as tick:
            r = replay_cycle(settings().store, cycle_id, progress=tick, spark=spark)
    emit(r)
    if not r["identical"]:
        raise SystemExit(1)


@cycle.command("report")
@click.argument("cycle_id", type=ID)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for index.html, report.json and regions.csv (created if missing, in an existing folder).",
)
@json_option
def cycle_report(cycle_id: int, out_dir: str) -> None:
    """Write an HTML report of a stored cycle (charts, figures, Chinese summary), report.json and regions.csv.

    Regions are named (GB/T 2260); the notices table counts, per kind, what the cycle's decisions and list
    entries call for and what is already issued.

    Example: supervise cycle report 1 --out reports/cycle-1
    """
    with errors():
        output_dir(out_dir)
        r = write_report(settings().store, cycle_id, out_dir)
    emit(r)


@cli.command("simulate")
@click.option(
    "--policy", "policy_ref", required=True, metavar="FILE", help="Draft pack file (YAML) to try; a pack id also works."
)
@click.option("--against", type=ID, help="Cycle to compare with (default: the latest cycle of the same pack id).")
@click.option("--as-of", help="Evaluation date (default: the --against cycle's as-of date, else today).")
@engine_options
@json_option
def simulate_cmd(policy_ref: str, against: int | None, as_of: str | None, spark: str | None) -> None:
    """Impact of a draft pack on the whole register, compared with a stored cycle; nothing is written.

    From 100,000 entities two worker processes evaluate (SUPERVISE_WORKERS=N sets the number).

    Example: supervise simulate --policy drafts/tax-credit-2026.yaml --against 1
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Simulating") as tick:
            r = simulate(
                settings().store, policy_ref, against, parse_date(as_of, "--as-of"), progress=tick, spark=spark
            )
    emit(r)


# == plan ==

# -- inspectors (a command of the `import` group, kept with the plan commands that use it) --


@import_.command("inspectors")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@json_option
def import_inspectors(file: str, skip_invalid: bool) -> None:
    """Import or update inspectors (执法检查人员名录库) by code: name, department, region, specialties,
    max_checks (checks the inspector can take in a period, over all its plans), conflicts, home_region.

    The department is printed on notices and the public plan as written (e.g. 晋江市市场监督管理局质量监管科):
    a cell with ASCII brackets or quotes, without Chinese characters or a placeholder (None, nan) is refused
    with file:row:column.

    Specialties and conflicts (entity codes the inspector must not inspect) are lists; in CSV separate them
    with ; or 、. Region 3505 (or 350500) covers the whole city, 350503 one district.

    Example: supervise import inspectors inspectors.csv
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Importing inspectors") as tick:
            report = plans.import_inspectors(settings().store, file, skip_invalid=skip_invalid, progress=tick)
    emit(report, "\n".join(report.lines("inspectors", warnings=False)))


@cli.group(context_settings=CONTEXT_SETTINGS)
def plan() -> None:
    """双随机、一公开: draw, verify, show, export and publish inspection plans; record and publish results."""


@plan.command("announce")
@click.option("--cycle", "cycle_id", type=ID, required=True, help="Committed cycle the plan will be drawn from.")
@click.option("--seed", required=True, help="The seed, made public before the draw.")
@click.option("--source", required=True, help="Where the public reads the seed (e.g. a lottery draw and its date).")
@by_option
@json_option
def plan_announce(cycle_id: int, seed: str, source: str, by: str | None) -> None:
    """Record a plan's seed as announced in advance (双随机: the public can check the plan was not fitted to it);
    the console draws plans only from announced seeds.

    Example: supervise plan announce --cycle 3 --seed 2026150-385 --source "福彩3D第2026150期开奖号码" --as 李审核
    """
    emit(_list_write(jobs.announce_seed, _as(by), cycle_id, seed, source))


@plan.command("draw")
@click.option("--cycle", "cycle_id", type=ID, required=True, help="Committed cycle whose decisions to draw from.")
@click.option("--seed", required=True, help="Public seed (announce it before the draw, e.g. 2025-07-01-4711).")
@click.option("--per-check", type=int, default=2, show_default=True, help="Inspectors per check (at least).")
@click.option(
    "--exclude-clean-months",
    type=int,
    help="Leave out entities inspected clean within N months before the cycle's as-of date "
    "(default: the pack's inspection.exclude_clean_within_months, else 0).",
)
@click.option(
    "--recusal-same-township/--no-recusal-same-township",
    default=None,
    help="An inspector never inspects an entity registered in their own street/township "
    "(default: the pack's inspection.recusal_same_township).",
)
@click.option(
    "--redraw",
    is_flag=True,
    help="Draw another plan for a period (pack and period) that already has one; needs --reason.",
)
@click.option(
    "--reason", help="Why the period gets another plan (with --redraw; kept with the plan and in the audit log)."
)
@by_option
@json_option
def plan_draw(
    cycle_id: int,
    seed: str,
    per_check: int,
    exclude_clean_months: int | None,
    recusal_same_township: bool | None,
    redraw: bool,
    reason: str | None,
    by: str | None,
) -> None:
    """Draw a random inspection plan from a cycle's decisions and store it (all or nothing).

    Entities are ranked per tier by SHA-256(seed|algorithm|code) and the first ceil(ratio x tier size) are
    drawn; forced entities are always in. Inspectors are ranked per check by SHA-256(seed|algorithm|entity
    code|inspector code) and assigned least-loaded first, never with a conflict or over max_checks.

    A period has one plan: drawing again needs --redraw --reason TEXT, and the checks an inspector has in
    the period's other plans count against their max_checks.

    Example: supervise plan draw --cycle 3 --seed 2025-07-01-4711 --per-check 2
    """
    with errors():
        settings().store.require_schema()
        r = plans.draw_plan(
            settings().store,
            cycle_id,
            seed,
            per_check,
            exclude_clean_months,
            recusal_same_township,
            actor=_actor(by, ("admin",)),
            redraw=redraw,
            reason=reason,
        )
    emit(r)


@plan.command("list")
@json_option
def plan_list() -> None:
    """List the stored plans: id, cycle (pack and period), seed, when drawn, checks and status (drawn,
    published, results published; a redraw names the plans it follows and its reason).

    Example: supervise plan list --json
    """
    with errors():
        settings().store.require_schema()
        rows = plans.list_plans(settings().store)
    emit(rows)


@plan.command("verify")
@click.argument("plan_id", type=ID)
@json_option
def plan_verify(plan_id: int) -> None:
    """Redo a plan's draw from what was logged (decisions, seed, inspector snapshot) and compare; exit 1 on
    any difference.

    Example: supervise plan verify 5
    """
    with errors():
        settings().store.require_schema()
        r = plans.verify_plan(settings().store, plan_id)
    emit(r)
    if not r["verified"]:
        raise SystemExit(1)


@plan.command("show")
@click.argument("plan_id", type=ID)
@click.option("--as-of", help="Date for the overdue check of unpublished results (YYYY-MM-DD); default today.")
@click.option("--limit", type=COUNT, default=20, show_default=True, help="Checks to list in the text output (0 = all).")
@json_option
def plan_show(plan_id: int, as_of: str | None, limit: int) -> None:
    """Show a plan: counts per tier, checks with inspectors, results, publications and late results.

    Example: supervise plan show 5 --as-of 2025-09-30
    """
    with errors():
        settings().store.require_schema()
        r = plans.plan_details(settings().store, plan_id, parse_date(as_of, "--as-of"))
    emit(r, "\n".join(r.lines(limit)))


@plan.command("export")
@click.argument("plan_id", type=ID)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default="csv",
    show_default=True,
    help="File format of the working list.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@json_option
def plan_export(plan_id: int, fmt: str, out: str) -> None:
    """Export the internal working list of a plan (not masked; for the inspection teams) with Chinese column
    headers; text cells that start like a formula are written as text.

    Example: supervise plan export 5 --format xlsx --out plan-5.xlsx
    """
    with errors():
        settings().store.require_schema()
        r = plans.export_plan(settings().store, plan_id, fmt, out)
    emit(r)


@plan.command("publish")
@click.argument("plan_id", type=ID)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the HTML, CSV and JSON.")
@click.option("--on", "on", help="Publication date (YYYY-MM-DD); default today.")
@json_option
def plan_publish(plan_id: int, out: str, on: str | None) -> None:
    """一公开: write the public plan (checks, items, inspectors' names and departments; natural persons masked)
    and record the publication.

    Example: supervise plan publish 5 --out public/
    """
    with errors():
        output_dir(out)  # before any work: a wrong --out is named first
        settings().store.require_schema()
        r = plans.publish_plan(settings().store, plan_id, out, parse_date(on, "--on"))
    emit(r)


@plan.group("results", context_settings=CONTEXT_SETTINGS)
def plan_results() -> None:
    """Record inspection results and publish them (within 20 working days)."""


@plan_results.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Store the valid rows; write the rest to FILE.rejects.csv.")
@json_option
def plan_results_import(file: str, skip_invalid: bool) -> None:
    """Record results: plan, check (number in the plan) or entity code, outcome (clean | problems | not_found
    | refused, or 未发现问题/发现问题/查无下落/拒绝检查), penalty_ref (required for problems), inspected_on.

    Each result becomes an inspection_result record for the next cycle; not_found also an abnormal_operation
    record (unreachable_address).

    Example: supervise plan results import results.csv
    """
    with errors():
        settings().store.require_schema()
        with progress(None, "Importing results") as tick:
            report = plans.import_results(
                settings().store, file, base_record_kinds(), skip_invalid=skip_invalid, progress=tick
            )
    emit(report, "\n".join(report.lines("results", warnings=False)))


@plan_results.command("publish")
@click.argument("plan_id", type=ID)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the HTML, CSV and JSON.")
@click.option("--on", "on", help="Publication date (YYYY-MM-DD); default today.")
@json_option
def plan_results_publish(plan_id: int, out: str, on: str | None) -> None:
    """Publish the plan's results recorded so far and record the date (late ones are named).

    Example: supervise plan results publish 5 --out public/
    """
    with errors():
        output_dir(out)  # before any work: a wrong --out is named first
        settings().store.require_schema()
        r = plans.publish_results(settings().store, plan_id, out, parse_date(on, "--on"))
    emit(r)


# == lists ==


def _day(value: str | None, option: str) -> dt.date:
    return parse_date(value, option) or values.today()


def _list_write(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run a lists library function in one transaction (errors become click errors)."""
    with errors():
        store = settings().store
        store.require_schema()
        with store.transaction() as conn:
            return func(conn, *args, **kwargs)


def _list_read(func: Callable, *args: Any, **kwargs: Any) -> Any:
    with errors():
        store = settings().store
        store.require_schema()
        with store.read() as conn:
            return func(conn, *args, **kwargs)


@cli.group(name="lists", context_settings=CONTEXT_SETTINGS)
def lists_() -> None:
    """Red, black and key-watch list entries: propose, serve notice, list, expire, revoke, publish."""


@lists_.command("propose")
@click.option("--cycle", "cycle_id", type=ID, required=True, help="Committed cycle whose list proposals to record.")
@click.option("--as-of", help="Date the proposals take effect (default: the cycle's as-of date).")
@by_option
@json_option
def lists_propose(cycle_id: int, as_of: str | None, by: str | None) -> None:
    """Create proposed entries from a committed cycle's decisions (cycle run does this itself; idempotent).

    Example: supervise lists propose --cycle 3
    """
    r = _list_write(acts.propose_from_cycle, _as(by), cycle_id, parse_date(as_of, "--as-of"))
    emit(r)


@lists_.command("serve")
@click.option("--entry", "entry_id", type=ID, help="Entry whose pre-listing notice was served.")
@click.option("--cycle", "cycle_id", type=ID, help="Every proposed entry of this cycle.")
@click.option(
    "--on",
    help="Service date (default today): the objection window runs from the day after it, counted "
    "as the pack's deadlines.objection says; the pre-listing notice is issued dated it.",
)
@by_option
@json_option
def lists_serve(entry_id: int | None, cycle_id: int | None, on: str | None, by: str | None) -> None:
    """Record that the pre-listing notice (列入名单告知书) was served: proposed -> notified. The notice (with its
    repair instructions) is issued now, dated the service and stating the objection deadline.

    Example: supervise lists serve --cycle 3 --on 2026-05-06
    """
    with progress(None, "Serving pre-listing notices") as tick:
        r = _list_write(acts.serve, _as(by), _day(on, "--on"), entry_id=entry_id, cycle_id=cycle_id, progress=tick)
    emit(r)


@lists_.command("advance")
@click.option("--as-of", help="Date to advance to (default today).")
@by_option
@json_option
def lists_advance(as_of: str | None, by: str | None) -> None:
    """List entries whose objection window has passed, expire those past their maximum period (idempotent).

    Example: supervise lists advance --as-of 2026-06-01
    """
    with progress(None, "Advancing list entries") as tick:
        r = _list_write(acts.advance, by, _day(as_of, "--as-of"), progress=tick)
    emit(r)


@lists_.command("revoke")
@click.option("--entry", "entry_id", type=ID, required=True, help="Entry to revoke.")
@click.option("--reason", required=True, help="Why the basis no longer holds (e.g. the penalty was annulled).")
@click.option("--on", help="Date the revocation takes effect (default today).")
@by_option
@json_option
def lists_revoke(entry_id: int, reason: str, on: str | None, by: str | None) -> None:
    """Revoke an entry whose basis was overturned; measures are lifted and publication stops.

    Example: supervise lists revoke --entry 12 --reason "处罚决定已被行政复议撤销"
    """
    r = _list_write(acts.revoke, _as(by), entry_id, reason, _day(on, "--on"))
    emit(r)


@lists_.command("extend")
@click.option("--entry", "entry_id", type=ID, required=True, help="Listed entry to extend.")
@click.option("--months", type=int, required=True, help="Months to add to the publication period.")
@click.option("--reason", required=True, help="Why the period is extended.")
@click.option("--on", help="Date of the extension decision (default today).")
@by_option
@json_option
def lists_extend(entry_id: int, months: int, reason: str, on: str | None, by: str | None) -> None:
    """Extend a listed entry's publication period where the list is extendable.

    Example: supervise lists extend --entry 12 --months 6 --reason "整改期间再次违法"
    """
    r = _list_write(acts.extend, _as(by), entry_id, months, reason, _day(on, "--on"))
    emit(r)


@lists_.command("show")
@click.argument("list_name", metavar="LIST")
@click.option("--as-of", help="Date (default today).")
@click.option(
    "--state",
    default="listed",
    show_default=True,
    help="listed (in effect on the date), all, or one of proposed, notified, expired, repaired, revoked.",
)
@json_option
def lists_show(list_name: str, as_of: str | None, state: str) -> None:
    """Entries of a list (red, black, watch, ...) on a date; PACK/LIST (tax-credit/black) when several packs
    have a list of that name.

    Example: supervise lists show tax-credit/black --as-of 2026-06-01
    """
    emit(_list_read(lifecycle.show, list_name, _day(as_of, "--as-of"), state))


@lists_.command("history")
@click.argument("code")
@json_option
def lists_history(code: str) -> None:
    """The whole story of every list entry of an entity: every event, objection, repair, measure task, notice.

    Example: supervise lists history 91350100M000100Y43
    """
    emit(_list_read(lifecycle.history, code))


@lists_.command("publish")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the site (created if missing, in an existing folder).",
)
@click.option("--as-of", help="Publication date (default today).")
@by_option
@json_option
def lists_publish(out_dir: str, as_of: str | None, by: str | None) -> None:
    """Write the public list site for a date: a page per list of each pack (PACK/LIST/index.html, page-2.html ...,
    50 rows a page, titled with the list's name and listing authority), an index linking them with counts, a
    search box on every page (name, code, decision number; works from file://), and entries.csv / entries.json
    downloads. Natural persons and 个体工商户 operators are masked in every file.

    Example: supervise lists publish --out site/ --as-of 2026-06-01
    """
    with errors():
        output_dir(out_dir)
    with progress(None, "Writing the public lists"):
        r = _list_write(acts.publish, _as(by), out_dir, _day(as_of, "--as-of"))
    emit(r)


# == objection ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def objection() -> None:
    """Objections (异议) to proposed list entries."""


@objection.command("file")
@click.option("--entry", "entry_id", type=ID, required=True, help="Proposed or notified entry.")
@click.option("--reason", required=True, help="The party's statement.")
@click.option("--evidence", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Evidence file (repeat).")
@click.option("--on", help="Filing date (default today).")
@by_option
@json_option
def objection_file(entry_id: int, reason: str, evidence: tuple[str, ...], on: str | None, by: str | None) -> None:
    """File an objection; the entry is not listed until it is decided.

    Example: supervise objection file --entry 12 --reason "罚款已于处罚前缴清" --evidence receipt.pdf
    """
    r = _list_write(acts.file_objection, _as(by), entry_id, reason, list(evidence), _day(on, "--on"))
    emit(r)


@objection.command("decide")
@click.argument("objection_id", type=ID)
@click.option("--uphold", "decision", flag_value="uphold", help="The objection is right: revoke the entry.")
@click.option("--reject", "decision", flag_value="reject", help="The objection fails: the entry resumes.")
@click.option("--reason", required=True, help="Reasons for the decision.")
@click.option("--on", help="Decision date (default today).")
@by_option
@json_option
def objection_decide(objection_id: int, decision: str | None, reason: str, on: str | None, by: str | None) -> None:
    """Decide an objection: --uphold revokes the entry, --reject resumes it.

    Example: supervise objection decide 4 --reject --reason "异议理由不成立"
    """
    if decision is None:
        raise click.UsageError("Give --uphold or --reject.")
    r = _list_write(acts.decide_objection, _as(by), objection_id, decision == "uphold", reason, _day(on, "--on"))
    emit(r)


# == repair ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def repair() -> None:
    """Credit repair (信用修复): applications checked against the pack, and decisions."""


@repair.command("apply")
@click.option("--entry", "entry_id", type=ID, required=True, help="Listed entry to repair.")
@click.option("--commitment", required=True, type=click.Path(exists=True, dir_okay=False), help="信用承诺书 file.")
@click.option(
    "--evidence",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Proof of fulfilment or rectification (repeat).",
)
@click.option("--training", type=click.Path(exists=True, dir_okay=False), help="Training certificate file.")
@click.option("--credit-report", type=click.Path(exists=True, dir_okay=False), help="Credit report file.")
@click.option("--on", help="Application date (default today).")
@by_option
@json_option
def repair_apply(
    entry_id: int,
    commitment: str,
    evidence: tuple[str, ...],
    training: str | None,
    credit_report: str | None,
    on: str | None,
    by: str | None,
) -> None:
    """Apply for credit repair; an ineligible application is refused with every unmet condition and the
    earliest date it could succeed (and kept in the history).

    Example: supervise repair apply --entry 12 --commitment 承诺书.pdf --evidence 缴款凭证.pdf --on 2027-06-01
    """
    r = _list_write(
        acts.apply_repair, _as(by), entry_id, _day(on, "--on"), commitment, list(evidence), training, credit_report
    )
    emit(r)
    if r.refused:
        raise click.ClickException(r["message"])


@repair.command("decide")
@click.argument("application_id", type=ID)
@click.option("--approve", "decision", flag_value="approve", help="Repair: the entry ends, measures are lifted.")
@click.option("--reject", "decision", flag_value="reject", help="Refuse the application; the entry stays listed.")
@click.option("--reason", required=True, help="Reasons for the decision.")
@click.option("--on", help="Decision date (default today).")
@by_option
@json_option
def repair_decide(application_id: int, decision: str | None, reason: str, on: str | None, by: str | None) -> None:
    """Decide a repair application: --approve ends the entry early (repaired), --reject keeps it listed.

    Example: supervise repair decide 5 --approve --reason "材料齐全，符合修复条件"
    """
    if decision is None:
        raise click.UsageError("Give --approve or --reject.")
    r = _list_write(acts.decide_repair, _as(by), application_id, decision == "approve", reason, _day(on, "--on"))
    emit(r)


# == approvals (初审 / 审核) ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def approvals() -> None:
    """Two-step decisions: a clerk's proposal (初审) approved or returned by a reviewer (审核).

    A decision command (lists serve --entry, lists revoke, objection decide, repair decide) run by a clerk or
    reviewer records a proposal; another user with the reviewer role approves it here, and only then is it
    carried out, signed by both. An admin's decision commands decide in one step, as before.
    """


@approvals.command("list")
@click.option("--returned", is_flag=True, help="Proposals a reviewer returned (not yet proposed again).")
@by_option
@json_option
def approvals_list(returned: bool, by: str | None) -> None:
    """Proposals awaiting review (or returned), within the acting user's authority.

    Example: supervise approvals list --as 李审核
    """
    emit(_list_read(acts.proposals, _as(by), "returned" if returned else "pending"))


@approvals.command("approve")
@click.argument("proposal_ids", nargs=-1, required=True, type=ID, metavar="ID...")
@click.option("--on", help="Date of the approval, today or earlier (default today); the decision takes effect then.")
@by_option
@json_option
def approvals_approve(proposal_ids: tuple[int, ...], on: str | None, by: str | None) -> None:
    """Approve proposals (审核通过): each decision is carried out now, signed by the proposer and the reviewer.

    Example: supervise approvals approve 7 8 --as 李审核
    """
    done = _list_write(acts.approve, _as(by), list(proposal_ids), _day(on, "--on"))
    emit(
        {"approved": [r.to_json() for r in done]},
        lambda _: "\n".join(line for r in done for line in r.lines()),
    )


@approvals.command("return")
@click.argument("proposal_id", type=ID)
@click.option("--reason", required=True, help="Why the proposal goes back to its clerk.")
@click.option("--on", help="Date (default today).")
@by_option
@json_option
def approvals_return(proposal_id: int, reason: str, on: str | None, by: str | None) -> None:
    """Return a proposal (退回) with the reason; the clerk proposes again.

    Example: supervise approvals return 7 --reason "证据不足，请补充处罚决定书" --as 李审核
    """
    emit(_list_write(acts.send_back, _as(by), proposal_id, reason, _day(on, "--on")))


# == users and authorities ==


def _password_from_stdin() -> str:
    """A password typed twice at a terminal, or the first line of standard input (never an argument)."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    if not line.strip():
        raise click.UsageError(
            "Give the password on standard input, e.g. printf '%s\\n' \"$PW\" | supervise users add ..."
        )
    return line.rstrip("\r\n")


@cli.group(name="users", context_settings=CONTEXT_SETTINGS)
def users_() -> None:
    """People who use the console and the CLI: one authority and one role each (clerk, reviewer, admin)."""


@users_.command("add")
@click.argument("name")
@click.option(
    "--authority", help="The authority the user acts for: its short or full name (supervise authorities list)."
)
@click.option("--role", type=click.Choice(users.ROLES), required=True, help="clerk (初审), reviewer (审核) or admin.")
@by_option
@json_option
def users_add(name: str, authority: str | None, role: str, by: str | None) -> None:
    """Create a user; the password is read from standard input (typed twice at a terminal), never from the
    command line, and stored only as an argon2 hash.

    Example: printf '%s\\n' "$PW" | supervise users add 张经办 --authority 泉市监 --role clerk
    """
    password = _password_from_stdin()
    emit(_list_write(users.add_as, _as(by), name, authority, role, password))


@users_.command("password")
@click.argument("name")
@by_option
@json_option
def users_password(name: str, by: str | None) -> None:
    """Set a user's password (from standard input), e.g. the admin's before it logs in to the console.

    Example: printf '%s\\n' "$PW" | supervise users password admin
    """
    password = _password_from_stdin()
    emit(_list_write(users.set_password_as, _as(by), name, password))


@users_.command("list")
@json_option
def users_list() -> None:
    """Every user with authority, role, whether it has a password, and when it was disabled."""
    emit(_list_read(users.listing))


@users_.command("disable")
@click.argument("name")
@by_option
@json_option
def users_disable(name: str, by: str | None) -> None:
    """Disable a user (its login sessions end; its name stays in the history it signed).

    Example: supervise users disable 张经办
    """
    emit(_list_write(users.disable_as, _as(by), name))


@users_.command("audit")
@click.option("--user", "user", metavar="NAME", help="Only this user's writes.")
@click.option("--since", help="Only writes at or after this date (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True, help="At most this many.")
@json_option
def users_audit(user: str | None, since: str | None, limit: int) -> None:
    """The audit log, newest first: every write with the user who made it.

    Example: supervise users audit --user 张经办 --since 2026-06-01
    """
    day = parse_date(since, "--since")
    moment = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) if day else None
    emit(_list_read(users.audit_log, user, moment, limit))


@cli.group(context_settings=CONTEXT_SETTINGS)
def authorities() -> None:
    """The authorities users act for: department, region prefix and the packs it runs (the packs' data)."""


@authorities.command("list")
@json_option
def authorities_list() -> None:
    """Every authority the packs name, with its region and packs.

    Example: supervise authorities list
    """
    with errors():
        emit(access_offices.listing())


# == measures ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def measures() -> None:
    """Joint measures routing (联合奖惩): tasks for the departments that apply or lift a measure."""


@measures.command("pending")
@click.option(
    "--department",
    help="Only this department's tasks (exactly as the pack's measures name it; an unknown "
    "name is an error listing the departments).",
)
@click.option("--as-of", help="Date (default today).")
@json_option
def measures_pending(department: str | None, as_of: str | None) -> None:
    """Measure tasks not yet acknowledged; overdue ones are marked and counted per department. A task is due
    ack_days (working or calendar days, as the pack's deadlines.ack says) after it was sent.

    Example: supervise measures pending --department 财政部门
    """
    emit(_list_read(list_measures.pending, _day(as_of, "--as-of"), department))


@measures.command("ack")
@click.argument("task_id", type=ID)
@click.option("--by", "by", required=True, metavar="NAME", help="Who in the department applied or lifted it.")
@click.option("--on", help="Date (default today).")
@click.option("--note", help="Optional note (e.g. the department's reference).")
@json_option
def measures_ack(task_id: int, by: str, on: str | None, note: str | None) -> None:
    """Record that the department applied (or lifted) the measure (抄告反馈).

    Example: supervise measures ack 17 --by "财政局 王五"
    """
    r = _list_write(list_measures.ack, task_id, by, _day(on, "--on"), note)
    emit(r)


# == notices ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def notices() -> None:
    """Issue, list and show notices (提示函, 约谈通知书, 告知书, 检查通知书, 决定书) as text, HTML or PDF."""


_NOTICE_KINDS = NOTICE_KINDS  # the policy model's notice kinds, one list for packs and commands


def _pdf_engine_option(f):
    return click.option(
        "--pdf-engine",
        type=click.Choice(render.PDF_ENGINES),
        default=None,
        help=f"What typesets the PDF (default {render.PDF_ENGINE}; weasyprint renders the HTML form).",
    )(f)


@notices.command("issue")
@click.option(
    "--cycle", "cycle_id", type=ID, help="Committed cycle: every notice its decisions and list entries call for."
)
@click.option("--plan", "plan_id", type=ID, help="Inspection plan: one 检查通知书 per check, naming the inspectors.")
@click.option("--entry", "entry_id", type=ID, help="List entry: the notices of one of its events (see --event).")
@click.option("--event", help="With --entry: proposed, listed, repaired, expired, revoked (default: its latest event).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(_NOTICE_KINDS), help="Only these kinds (repeatable).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the files (created if missing, in an existing folder).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["html", "txt", "pdf"]),
    help="File format(s), repeatable (default html).",
)
@click.option("--as-of", "as_of", metavar="DATE", help="Issue date printed on new notices (default today).")
@click.option(
    "--templates", type=click.Path(file_okay=False), help="Directory of templates that replace shipped ones by name."
)
@click.option(
    "--set",
    "set_",
    multiple=True,
    metavar="KEY=VALUE",
    help="Notice setting, e.g. interview.place=本局三楼会议室, contact.phone=0595-12345678 (repeatable).",
)
@_pdf_engine_option
@json_option
def notices_issue(
    cycle_id: int | None,
    plan_id: int | None,
    entry_id: int | None,
    event: str | None,
    kinds: tuple[str, ...],
    out: str,
    formats: tuple[str, ...],
    as_of: str | None,
    templates: str | None,
    set_: tuple[str, ...],
    pdf_engine: str | None,
) -> None:
    """Number, store and write the notices a cycle, plan or list event calls for.

    Each notice gets a gap-free document number from the pack's pattern and is stored with its full render
    context; issuing the same cause again re-writes the identical files and issues nothing new.
    If writing the files fails part-way (disk full), the notices already stored keep their numbers: run the same
    command again to write the missing files.

    Example: supervise notices issue --cycle 3 --out notices/ --format html --format pdf
    """
    if sum(x is not None for x in (cycle_id, plan_id, entry_id)) != 1:
        raise click.UsageError("Give exactly one of --cycle ID, --plan ID or --entry ID.")
    if event and entry_id is None:
        raise click.UsageError("--event goes with --entry ID.")
    if plan_id is not None and kinds and set(kinds) != {"inspection"}:
        raise click.UsageError("--plan issues only inspection notices; drop --kind or use --kind inspection.")
    day = parse_date(as_of, "--as-of")

    with errors():
        output_dir(out)
        store = settings().store
        store.require_schema()
        options = dict(
            out=out,
            formats=formats or ("html",),
            as_of=day,
            templates=templates,
            settings=issue.parse_settings(set_),
            actor=_actor(None),
            pdf_engine=pdf_engine,
        )
        if cycle_id is not None:
            with progress(None, "Issuing notices") as tick:
                report = issue.issue_for_cycle(store, cycle_id, kinds=kinds, progress=tick, **options)
        elif plan_id is not None:
            with progress(None, "Issuing inspection notices") as tick:
                report = issue.issue_for_plan(store, plan_id, progress=tick, **options)
        else:
            report = issue.issue_list_event(store, entry_id, event, kinds=kinds, **options)
    emit(report.as_dict())


@notices.command("show")
@click.argument("number")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["txt", "html", "pdf"]),
    default="txt",
    show_default=True,
    help="Output format (pdf needs the Noto CJK fonts and --out).",
)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write to this file instead of printing.")
@click.option("--templates", type=click.Path(file_okay=False), help="Directory of templates that replace shipped ones.")
@_pdf_engine_option
@json_option
def notices_show(number: str, fmt: str, out: str | None, templates: str | None, pdf_engine: str | None) -> None:
    """Print a stored notice, re-rendered from its stored context (identical to what was issued).

    Example: supervise notices show "泉市监信告知〔2025〕1号" --format pdf --out notice.pdf
    """
    if fmt == "pdf" and not out:
        raise click.UsageError("A PDF is binary: add --out FILE.")
    with errors():
        if out is not None:
            output_file(out)
        row = issue.get_notice(settings().store, number)
        content = issue.render_notice(row, fmt, templates, pdf_engine)
    shown = NoticeShown.of(row, out, content)
    if out:
        try:
            write_atomically(output_file(out), content if isinstance(content, bytes) else content.encode("utf-8"))
        except OSError as exc:
            raise click.ClickException(
                f"Could not write {out}: {exc.strerror or exc}; nothing was written "
                f"(free disk space or choose another --out)."
            ) from exc
        emit(shown)
    elif settings().json:
        emit(shown)
    else:
        click.echo(content, nl=False)


@notices.command("list")
@click.option("--cycle", "cycle_id", type=ID, help="Only notices of this cycle.")
@click.option("--plan", "plan_id", type=ID, help="Only inspection notices of this plan.")
@click.option("--kind", type=click.Choice(_NOTICE_KINDS), help="Only this kind.")
@click.option("--entity", "entity_code", metavar="CODE", help="Only notices to this entity.")
@click.option("--limit", type=COUNT, help="At most this many (oldest first).")
@json_option
def notices_list(
    cycle_id: int | None, plan_id: int | None, kind: str | None, entity_code: str | None, limit: int | None
) -> None:
    """List issued notices: number, kind, recipient, cause.

    Example: supervise notices list --cycle 3 --kind pre_listing
    """
    with errors():
        rows = issue.list_notices(
            settings().store, cycle_id=cycle_id, kind=kind, entity_code=entity_code, plan_id=plan_id, limit=limit
        )
    emit(rows)


@notices.command("preview")
@click.argument("kind", type=click.Choice(_NOTICE_KINDS))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["txt", "html", "pdf"]),
    default="txt",
    show_default=True,
    help="Output format (pdf needs the Noto CJK fonts and --out).",
)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write to this file instead of printing.")
@click.option("--templates", type=click.Path(file_okay=False), help="Directory of templates to try out.")
@_pdf_engine_option
def notices_preview(kind: str, fmt: str, out: str | None, templates: str | None, pdf_engine: str | None) -> None:
    """Render a kind with built-in sample data (to check a template of your own before issuing with it).

    Example: supervise notices preview pre_listing --templates my_templates/ --format html --out preview.html
    """
    if fmt == "pdf" and not out:
        raise click.UsageError("A PDF is binary: add --out FILE.")
    with errors():
        target = output_file(out) if out is not None else None
        content = render.render(kind, issue.sample_context(kind), fmt, templates, pdf_engine)
        if target is not None:
            write_atomically(target, content if isinstance(content, bytes) else content.encode("utf-8"))
    if out:
        emit(PreviewWritten(kind=kind, file=out))
    else:
        click.echo(content, nl=False)


# == demo ==


@cli.command()
@click.option(
    "--entities", "-n", type=click.IntRange(1), default=20000, show_default=True, help="How many entities to generate."
)
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed (same seed, same register).")
@click.option("--out", type=click.Path(file_okay=False), help="Also write entities.csv and records.csv here.")
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    default="2026-04-30",
    show_default=True,
    help="Reference date: every record is dated on or before it.",
)
@json_option
def demo(entities: int, seed: int, out: str | None, as_of: str) -> None:
    """Build a deterministic demo register (泉州/福州/厦门) and run the supervision stages on it.

    Example: supervise --db sqlite:///out/demo.db demo --entities 2000 --out out
    """
    day = parse_date(as_of, "--as-of")
    with errors():
        result = run_demo(settings().store, entities=entities, seed=seed, out=out, as_of=day)
    emit(result)


# == the check service ==


@cli.group(context_settings=CONTEXT_SETTINGS)
def apps() -> None:
    """Apps that may call the check service (supervise serve): add, list, revoke."""


@apps.command("add")
@click.argument("name")
@click.option("--scopes", required=True, help="Comma-separated scopes: check, feedback, lists, bank.")
@click.option("--department", help="The department the calling system belongs to.")
@json_option
def apps_add(name: str, scopes: str, department: str | None) -> None:
    """Add an app and print its app_key and secret (the secret only this once).

    The first app creates the server key file (SUPERVISE_SERVICE_KEY, else beside the SQLite file).

    Example: supervise apps add 政务服务平台 --scopes check,feedback --department 市行政审批局
    """
    with errors():
        result = service_apps.add_app(settings().store, name, scopes, department)
    if settings().json:
        click.echo(dumps({"app_key": result["app_key"], "secret": result["secret"]}))
    else:
        emit(result)


@apps.command("list")
@json_option
def apps_list() -> None:
    """List the apps (keys, scopes, department, revoked or not; never a secret)."""
    with errors():
        emit(service_apps.list_apps(settings().store))


@apps.command("revoke")
@click.argument("app_key")
@json_option
def apps_revoke(app_key: str) -> None:
    """Revoke an app: its signed requests are refused (HTTP 403) from now on.

    Example: supervise apps revoke app_0123456789abcdef01234567
    """
    with errors():
        emit(service_apps.revoke_app(settings().store, app_key))


@cli.group(context_settings=CONTEXT_SETTINGS)
def checks() -> None:
    """The decision log of the check service: every answered check (append-only, personal data masked)."""


@checks.command("log")
@click.option("--since", help="Only checks requested at or after this moment (2026-12-01T08:00, or a date).")
@click.option("--app", "app_key", metavar="APP_KEY", help="Only the checks of this app.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSON lines file to write.")
@json_option
def checks_log(since: str | None, app_key: str | None, out: str) -> None:
    """Export the decision log as JSON lines (one check a line, oldest first).

    Example: supervise checks log --since 2026-12-01 --out checks.jsonl
    """
    moment = parse_moment(since, "--since")
    if since is not None and ":" not in since:  # a date alone: from the start of that day (China Standard Time)
        day = parse_date(since, "--since")
        moment = dt.datetime.combine(day, dt.time(0), tzinfo=values.CHINA) if day else moment
    with errors():
        emit(service_log.export_log(settings().store, out, moment, app_key))


@checks.command("show")
@click.argument("check_id", type=ID)
@json_option
def checks_show(check_id: int) -> None:
    """Show one logged check: app, requester, request and answer as stored."""
    with errors():
        emit(service_log.show_check(settings().store, check_id))


@cli.group(context_settings=CONTEXT_SETTINGS)
def report() -> None:
    """Reports over what the service recorded (银税互动 loans)."""


@report.command("bank-tax")
@click.option("--period", required=True, help="2025, 2025-H1, 2025-Q3, 2025-06, or a span such as 2025-Q1..2025-Q3.")
@json_option
def report_bank_tax(period: str) -> None:
    """The loans partner banks reported (银税互动): count and amount by tax grade on the loan date and by month.

    Example: supervise report bank-tax --period 2026-Q1..2026-Q3
    """
    with errors():
        emit(service_bank.loan_report(settings().store, period))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the check service (HTTP, /api/v1) on the database of --db with uvicorn.

    Example: supervise --db sqlite:///out/demo.db serve --port 8080
    """
    import uvicorn

    with errors():
        store = settings().store
        store.require_schema()
        service_keys.load_key(store.url)
        if store.dialect == "sqlite" and workers > 1:
            raise click.UsageError("SQLite serves with one worker (--workers 1); use PostgreSQL for more.")
    os.environ["SUPERVISE_DB"] = store.url
    uvicorn.run("engine.service.api:app_from_env", factory=True, host=host, port=port, workers=workers)


if __name__ == "__main__":  # pragma: no cover
    cli()
