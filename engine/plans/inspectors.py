"""The inspector pool (执法检查人员名录): parse and import inspectors into the register of inspectors."""

from __future__ import annotations

import pathlib
import re
from typing import Any

from engine import values
from engine.errors import CodeError
from engine.register import intake
from engine.register.codes import normalize_code
from engine.register.intake import ProgressFn
from engine.store import Store
from engine.store import plans as q

# -- inspectors import -----------------------------------------------------------------------------

INSPECTOR_ALIASES = {
    "id": "code",
    "inspector": "code",
    "inspector_code": "code",
    "inspector_id": "code",
    "编号": "code",
    "执法证号": "code",
    "执法人员编号": "code",
    "工号": "code",
    "人员编号": "code",
    "部门": "department",
    "所属部门": "department",
    "执法部门": "department",
    "单位": "department",
    "专业": "specialties",
    "专长": "specialties",
    "检查专长": "specialties",
    "specialty": "specialties",
    "业务专长": "specialties",
    "max": "max_checks",
    "maximum": "max_checks",
    "max_checks": "max_checks",
    "capacity": "max_checks",
    "最大检查数": "max_checks",
    "检查上限": "max_checks",
    "最多检查数": "max_checks",
    "回避": "conflicts",
    "回避对象": "conflicts",
    "利害关系": "conflicts",
    "conflict": "conflicts",
    "home_township": "home_region",
    "township": "home_region",
    "居住街道": "home_region",
    "所在街道": "home_region",
    "乡镇街道": "home_region",
    "街道": "home_region",
    "状态": "active",
    "在岗": "active",
    "enabled": "active",
}
LIST_SPLIT = re.compile(r"[;；、,，|\n]+")


def _aliased(data: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[aliases.get(key, key)] = value
    return out


def _split_list(value: Any) -> list[str]:
    if values.is_blank(value):
        return []
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value]
    else:
        parts = [p.strip() for p in LIST_SPLIT.split(str(value))]
    out: list[str] = []
    for p in parts:
        if p and p not in out:
            out.append(p)
    return out


def _digits(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(int(value))
    return str(value).strip()


NOT_A_NAME = re.compile(r"[()\[\]{}<>'\"`\\]")
PLACEHOLDERS = {"none", "null", "nan", "n/a", "na", "-", "--", "无", "空"}


def department_problem(text: str) -> str | None:
    """Why ``text`` is not a plain department name (printed on notices and the public plan), or None.

    A department is written as the public reads it, e.g. 晋江市市场监督管理局质量监管科: it has Chinese
    characters and no ASCII brackets, quotes or backslashes (which come from a program's output, such as a
    Python tuple printed into the cell: ``('晋江市', '泉', '泉州')市场监督管理局``). Full-width brackets, as in
    泉州市市场监督管理局（知识产权局）, are part of names and allowed."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    if text.strip().lower() in PLACEHOLDERS:
        return f"'{shown}' is a placeholder, not a department; give the department's name, e.g. 晋江市市场监督管理局质量监管科"
    bad = sorted(set(NOT_A_NAME.findall(text)))
    if bad:
        return (
            f"'{shown}' is not a plain department name: it contains {' '.join(bad)} (program output such as a "
            f"printed list or tuple?); give the name as written, e.g. 晋江市市场监督管理局质量监管科"
        )
    if any(ord(ch) < 32 for ch in text):
        return f"'{shown}' contains a control character (a tab or line break); give the name on one line"
    if not any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text):
        return (
            f"'{shown}' has no Chinese characters, so it is not a department name the public can read; give "
            f"the name as written, e.g. 晋江市市场监督管理局质量监管科"
        )
    return None


def parse_inspector(row: intake.Row) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one inspector row: code, name, department, region, specialties, max_checks, conflicts,
    home_region, active."""
    if "__error__" in row.data:
        return None, [("-", row.data["__error__"])]
    data = _aliased(row.data, INSPECTOR_ALIASES)
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    for name in ("code", "name", "department"):
        if values.is_blank(data.get(name)):
            errors.append((name, f"{name} is required"))
        else:
            out[name] = _digits(data[name]) if name == "code" else str(data[name]).strip()
    if len(out.get("code", "")) > 64:
        errors.append(("code", "the inspector code is longer than 64 characters"))
    if "department" in out:
        problem = department_problem(out["department"])
        if problem:
            errors.append(("department", problem))
    region = data.get("region")
    if values.is_blank(region):
        errors.append(
            (
                "region",
                "region is required (a 2-, 4- or 6-digit administrative division code, "
                "e.g. 3505 or 350500 for the whole city)",
            )
        )
    else:
        text = _digits(region)
        if not (text.isdigit() and len(text) in (2, 4, 6) and text[:2] != "00"):
            errors.append(
                (
                    "region",
                    f"'{text}' is not an administrative division code; use 2, 4 or 6 digits "
                    f"(35 province, 3505 or 350500 city, 350503 district)",
                )
            )
        else:
            out["region"] = text.ljust(6, "0")
    out["specialties"] = _split_list(data.get("specialties"))
    raw_max = data.get("max_checks")
    if values.is_blank(raw_max):
        errors.append(("max_checks", "max_checks is required (how many checks this inspector can take in a plan)"))
    else:
        try:
            number = values.parse_int(raw_max)
            if number < 0:
                raise ValueError(f"{number} is negative")
            out["max_checks"] = number
        except ValueError as exc:
            errors.append(("max_checks", f"{exc}; give a whole number of checks, 0 or more"))
    conflicts: list[str] = []
    for raw in _split_list(data.get("conflicts")):
        try:
            code = normalize_code(raw).value
        except CodeError as exc:
            errors.append(("conflicts", f"{exc}; list valid entity codes separated by ; or 、"))
            continue
        if code not in conflicts:
            conflicts.append(code)
    out["conflicts"] = sorted(conflicts)
    home = data.get("home_region")
    if values.is_blank(home):
        out["home_region"] = None
    else:
        text = _digits(home)
        if not (text.isdigit() and len(text) in (9, 12)):
            errors.append(
                (
                    "home_region",
                    f"'{text}' is not a street/township code; use the 9-digit township "
                    f"code (or the 12-digit village code)",
                )
            )
        else:
            out["home_region"] = text
    active = data.get("active")
    if values.is_blank(active):
        out["active"] = True
    else:
        try:
            out["active"] = values.parse_bool(active)
        except ValueError as exc:
            errors.append(("active", str(exc)))
    return (None, errors) if errors else (out, [])


def import_inspectors(
    store: Store,
    path: str | pathlib.Path,
    skip_invalid: bool = False,
    actor: str = "cli",
    progress: ProgressFn | None = None,
) -> intake.ImportReport:
    """Upsert inspectors (执法检查人员名录库) by code from CSV/XLSX/JSONL in one transaction."""
    return intake.run_import(
        store,
        path,
        parse_inspector,
        q.upsert_inspectors,
        action="import_inspectors",
        skip_invalid=skip_invalid,
        actor=actor,
        progress=progress,
    )
