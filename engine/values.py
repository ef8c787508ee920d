"""Values: parsing cells (dates, numbers, booleans) from CSV, XLSX and JSON input; month arithmetic; filling
fact placeholders into reason texts."""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Any

TRUE = {"1", "true", "yes", "y", "t", "是", "有", "√", "守诺", "kept"}
FALSE = {"0", "false", "no", "n", "f", "否", "无", "×", "失诺", "broken"}


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


CHINA = dt.timezone(dt.timedelta(hours=8), "CST")  # China Standard Time: a moment given without a zone is read in it


def today() -> dt.date:
    """Today in China (where every decision is made and dated), whatever the server's own time zone: the bound
    of a decision's date and the default date of the CLI and the console."""
    return dt.datetime.now(CHINA).date()


def in_china(moment: dt.datetime) -> dt.datetime:
    """A stored timestamp in China Standard Time (SQLite hands timestamps back without their zone: they are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(CHINA)


def has_cjk(text: str) -> bool:
    """Whether the text holds Chinese characters (a reason written for a person, not a technical note)."""
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def parse_moment(value: Any) -> dt.datetime:
    """A moment (a knowledge date): ``2026-03-01T14:30``, ``2026-03-01 14:30:05+08:00``, ``2026-03-01T06:30Z`` or a
    date alone, which means the end of that day (everything recorded on it). Without a zone it is China Standard
    Time. Returned in UTC, as the store keeps its timestamps."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError
        except ValueError:
            day = parse_date(text)  # a date in any accepted form: the end of that day
            moment = dt.datetime.combine(day, dt.time(23, 59, 59, 999999))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return moment.astimezone(dt.UTC)


def parse_date(value: Any) -> dt.date:
    """Accept 2024-03-05, 2024/3/5, 20240305, 2024年3月5日, datetime/date objects."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    m = (
        re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?", text)
        or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
        or re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    )
    if not m:
        raise ValueError(f"'{text}' is not a date (use YYYY-MM-DD)")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"'{text}' is not a real date") from None


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"'{value}' is not a yes/no value (use true or false)")


def parse_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"'{value}' is not a number") from None


INT_MAX = 2**63 - 1  # the stores' BIGINT; a whole number beyond it cannot be stored or compared with a column


def parse_int(value: Any) -> int:
    """A whole number (digits, 1,000, 5.0, 1e3) within the stores' 64-bit range; NaN and infinity are refused."""
    text = str(value).strip().replace(",", "")
    if not isinstance(value, bool) and (isinstance(value, int) or re.fullmatch(r"[+-]?[0-9]+", text)):
        number = int(value) if isinstance(value, int) else int(text)  # exact: no detour through a float
    else:
        real = parse_number(value)
        if real != real or real in (float("inf"), float("-inf")):
            raise ValueError(f"'{value}' is not a finite number (NaN and infinity are refused)")
        if real != int(real):
            raise ValueError(f"'{value}' is not a whole number")
        number = int(real)
    if abs(number) > INT_MAX:
        raise ValueError(f"'{_short(text)}' is too large (at most {INT_MAX})")
    return number


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "..."


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic, clamping to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise ValueError(
            f"{day.isoformat()} {'+' if months >= 0 else '-'} {abs(months)} months is outside the "
            f"calendar (years {dt.MINYEAR} to {dt.MAXYEAR})"
        )
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def fill(text: str, facts: dict[str, Any]) -> str:
    """Fill ``{fact}`` placeholders with fact values; nothing else is interpreted (no attribute access)."""
    out = []
    for literal, name, _spec, _ in string.Formatter().parse(text):
        out.append(literal)
        if name is None:
            continue
        if name in facts:
            value = facts[name]
            if isinstance(value, float):  # 25.799999999999997 (a sum of scores) reads 25.8, 95.0 reads 95
                value = int(value) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
            out.append("无" if value is None else str(value))
        else:
            out.append("{" + name + "}")
    return "".join(out)


def period_cn(period: Any) -> str:
    """A cycle's period label as a person reads it: 2025 -> 2025年度, 2025-H1 -> 2025年上半年, 2025-Q3 ->
    2025年第三季度, 2025-06 -> 2025年6月, 2026-04-30 -> 2026年4月30日; anything else as it is."""
    p = str(period or "").strip().upper()
    if re.fullmatch(r"\d{4}", p):
        return f"{p}年度"
    if re.fullmatch(r"\d{4}-H[12]", p):
        return f"{p[:4]}年{'上' if p[6] == '1' else '下'}半年"
    if re.fullmatch(r"\d{4}-Q[1-4]", p):
        return f"{p[:4]}年第{'一二三四'[int(p[6]) - 1]}季度"
    if re.fullmatch(r"\d{4}-\d{2}", p) and 1 <= int(p[5:]) <= 12:
        return f"{p[:4]}年{int(p[5:])}月"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p):
        try:
            day = dt.date.fromisoformat(p)
        except ValueError:
            return str(period)
        return f"{day.year}年{day.month}月{day.day}日"
    return str(period)


def cite(title: str, article: str | None = None) -> str:
    """《name》（document number）article: a trailing （…号）/（…令…） stays outside the title marks."""
    name, number = title, ""
    if title.endswith("）") and "（" in title:
        head, tail = title.rsplit("（", 1)
        if any(mark in tail for mark in ("号", "令", "公告")):
            name, number = head, f"（{tail}"
    return f"《{name}》{number}{article or ''}"
