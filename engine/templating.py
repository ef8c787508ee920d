"""The one Jinja environment factory: every page and notice the product writes is rendered by an environment
made here, with the common filters registered once (:data:`FILTERS`).

``environment(package)`` loads ``<package>/<folder>`` (``templates`` unless told), optionally searching a user
directory first; it escapes ``*.html``, ``*.htm`` and ``*.xml`` (and strings), never ``*.txt`` or ``*.css``;
``StrictUndefined`` makes a missing field an error, never a blank. Callers with stricter needs (the notices: a
``finalize`` that refuses None, reprs and key names, their own undefined class and code generator) pass them in
and layer their own filters on the environment they get; they never register a common filter a second time.

The environment is cached: the same (package, folder, options) give the same environment, so templates are
compiled once per process.

Common filters: ``cn_date`` (2025-03-01 -> 2025年3月1日), ``cn_datetime``, ``cn_moment`` (a stored UTC timestamp in
China time), ``cn_number`` (15 -> 十五),
``period_cn`` (:func:`engine.values.period_cn`), ``num`` (1,234; None -> —), ``pct`` (0.125 -> 12.5%),
``signed`` (+3 / -2 / 0), ``mask_id`` and ``mask_name`` (:mod:`engine.register.codes`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import jinja2
import jinja2.compiler

from engine.register.codes import mask_name, mask_person_id
from engine.values import in_china, period_cn

NONE_TEXT = "—"  # what the number filters print for no value
ESCAPED = ("html", "htm", "xml")  # template name endings that are autoescaped; everything else is printed as is


# -- common filters -----------------------------------------------------------------------------


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def cn_date(value: Any) -> str:
    """2025-03-01 -> 2025年3月1日 (GB/T 9704: Arabic numerals, no leading zeros); a date, datetime or ISO text."""
    d = _as_date(value)
    return f"{d.year}年{d.month}月{d.day}日"


def cn_datetime(value: Any) -> str:
    """2025-03-10T14:30 -> 2025年3月10日（星期一）下午14时30分."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    half = "上午" if moment.hour < 12 else "下午"
    weekday = "一二三四五六日"[moment.weekday()]
    minutes = f"{moment.minute}分" if moment.minute else ""
    return f"{cn_date(moment)}（星期{weekday}）{half}{moment.hour}时{minutes}"


_CN_DIGITS = "零一二三四五六七八九"


def cn_number(value: int) -> str:
    """1 -> 一, 10 -> 十, 15 -> 十五, 23 -> 二十三 (for 0..99; larger numbers stay Arabic)."""
    n = int(value)
    if not 0 <= n < 100:
        return str(n)
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def percent(value: float) -> str:
    """0.125 -> 12.5% (one decimal)."""
    return f"{value * 100:.1f}%"


def num(value: Any, digits: int = 0) -> str:
    """1234.5 -> 1,235 (``digits`` decimals, thousands separated); None -> —."""
    return NONE_TEXT if value is None else f"{value:,.{digits}f}"


def pct(value: Any) -> str:
    """A share as a percentage (:func:`percent`); None -> —."""
    return NONE_TEXT if value is None else percent(value)


def signed(value: Any) -> str:
    """A change with its sign: +1,234, -5, 0; None -> —."""
    return NONE_TEXT if value is None else (f"{value:+,}" if value else "0")


def cn_moment(value: Any) -> str:
    """A stored timestamp (UTC; SQLite hands it back without its zone) as a person in China reads it:
    2026-06-14T02:30Z -> 2026年6月14日（星期日）上午10时30分."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return cn_datetime(in_china(moment))


FILTERS: dict[str, Callable[..., Any]] = {
    "cn_date": cn_date,
    "cn_datetime": cn_datetime,
    "cn_moment": cn_moment,
    "cn_number": cn_number,
    "period_cn": period_cn,
    "num": num,
    "pct": pct,
    "signed": signed,
    "mask_id": mask_person_id,
    "mask_name": mask_name,
}


# -- the factory --------------------------------------------------------------------------------


def environment(
    package: str,
    folder: str = "templates",
    *,
    search: str | os.PathLike | None = None,
    trim: bool = False,
    keep_trailing_newline: bool = True,
    undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
    finalize: Callable[..., Any] | None = None,
    code_generator: type[jinja2.compiler.CodeGenerator] | None = None,
) -> jinja2.Environment:
    """The cached environment for the templates of ``package``/``folder``.

    ``search``: a directory searched before the package's templates (a file there replaces a shipped one of the
    same name). ``trim``: ``trim_blocks`` and ``lstrip_blocks`` (a block tag's line leaves no blank line).
    ``keep_trailing_newline``: a template's last newline is printed. ``undefined``, ``finalize`` and
    ``code_generator`` are for stricter renderers (a subclass of StrictUndefined, a check of every printed value,
    a code generator that passes the expression to it). The same arguments give the same environment.
    """
    where = None if search is None else os.fspath(search)
    key = (package, folder, where, bool(trim), bool(keep_trailing_newline), undefined, finalize, code_generator)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        built = _build(
            package, folder, where, bool(trim), bool(keep_trailing_newline), undefined, finalize, code_generator
        )
        env = _ENVIRONMENTS.setdefault(key, built)
    return env


_ENVIRONMENTS: dict[tuple[Any, ...], jinja2.Environment] = {}  # one environment per (package, folder, options)


def _build(
    package: str,
    folder: str,
    search: str | None,
    trim: bool,
    keep_trailing_newline: bool,
    undefined: type[jinja2.Undefined],
    finalize: Callable[..., Any] | None,
    code_generator: type[jinja2.compiler.CodeGenerator] | None,
) -> jinja2.Environment:
    loader: jinja2.BaseLoader = jinja2.PackageLoader(package, folder)
    if search is not None:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(search), loader])
    env = jinja2.Environment(
        loader=loader,
        # *.html (and .htm/.xml) are escaped, *.txt and *.css are not; name HTML templates *.html, never
        # *.html.j2, which select_autoescape does not match.
        autoescape=jinja2.select_autoescape(ESCAPED, default_for_string=True, default=False),
        undefined=undefined,
        finalize=finalize,
        trim_blocks=trim,
        lstrip_blocks=trim,
        keep_trailing_newline=keep_trailing_newline,
        auto_reload=False,  # templates do not change during a run; skips a stat() per render
    )
    if code_generator is not None:
        env.code_generator_class = code_generator  # templates are compiled on first use, after this
    env.filters.update(FILTERS)
    return env
