"""``supervise import crosswalk FILE``: former numbers and names, as the 换照 and change records give them.

Each row gives a USCC (``code``, 统一社会信用代码) and the 15-digit 注册号 it replaced (``reg_no``, 注册号), a
former name (``former_name``, 曾用名 / 原名称), or both, with the day of the change (``changed_on``, 变更日期 /
换照日期) when known. The import is the one import loop (:func:`engine.register.intake.run_import`): all or
nothing, every error named ``file:row:column: reason``.
"""

from __future__ import annotations

import pathlib
from typing import Any

from engine import values
from engine.errors import CodeError
from engine.register import intake
from engine.register.codes import validate_reg_no, validate_uscc
from engine.register.intake import ProgressFn, Row
from engine.store import Connection, Store
from engine.store import matching as mq


def parse_crosswalk(row: Row, source: str) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    data = row.data
    if "__error__" in data:
        return None, [("-", data["__error__"])]
    errors: list[tuple[str, str]] = []
    code = reg_no = former = changed = None
    if values.is_blank(data.get("code")):
        errors.append(("code", "code is required (the 统一社会信用代码 that replaced the 注册号)"))
    else:
        try:
            code = validate_uscc(intake._code_text(data["code"], "a 统一社会信用代码")).value
        except (CodeError, ValueError) as exc:
            errors.append(("code", str(exc)))
    if not values.is_blank(data.get("reg_no")):
        try:
            reg_no = validate_reg_no(intake._code_text(data["reg_no"], "a 15-digit 注册号"))
        except (CodeError, ValueError) as exc:
            errors.append(("reg_no", str(exc)))
    if not values.is_blank(data.get("former_name")):
        try:
            former = intake._text(data["former_name"])
        except ValueError as exc:
            errors.append(("former_name", str(exc)))
    if not values.is_blank(data.get("changed_on")):
        try:
            changed = values.parse_date(data["changed_on"])
        except ValueError as exc:
            errors.append(("changed_on", str(exc)))
    if not errors and reg_no is None and former is None:
        errors.append(("reg_no", "the row gives neither a 注册号 (reg_no) nor a former name (former_name); give one"))
    if errors:
        return None, errors
    return {"code": code, "reg_no": reg_no, "former_name": former, "changed_on": changed, "source": source}, []


def write_crosswalk(conn: Connection, rows: list[dict[str, Any]]) -> tuple[int, int]:
    numbers = [
        {"reg_no": r["reg_no"], "code": r["code"], "changed_on": r["changed_on"], "source": r["source"]}
        for r in rows
        if r["reg_no"]
    ]
    names = [
        {"code": r["code"], "name": r["former_name"], "used_until": r["changed_on"], "source": r["source"]}
        for r in rows
        if r["former_name"]
    ]
    new_numbers, changed_numbers = mq.upsert_crosswalk(conn, numbers)
    new_names, changed_names = mq.upsert_former_names(conn, names)
    inserted = updated = 0
    for r in rows:  # a row counts once: new when a part of it is new, else updated when a part changed
        name_key = (r["code"], r["former_name"])
        if r["reg_no"] in new_numbers or name_key in new_names:
            inserted += 1
        elif r["reg_no"] in changed_numbers or name_key in changed_names:
            updated += 1
    return inserted, updated


def import_crosswalk(
    store: Store,
    path: str | pathlib.Path,
    skip_invalid: bool = False,
    actor: str = "cli",
    progress: ProgressFn | None = None,
    encoding: str | None = None,
) -> intake.ImportReport:
    """Store 注册号 -> USCC rows and former names from a file in one transaction (module docstring)."""
    source = pathlib.Path(path).name
    return intake.run_import(
        store,
        path,
        lambda row: parse_crosswalk(row, source),
        write_crosswalk,
        action="import_crosswalk",
        skip_invalid=skip_invalid,
        actor=actor,
        progress=progress,
        encoding=encoding,
    )
