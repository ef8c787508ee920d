"""Render notices from a stored context: the Jinja environment, filters, text/HTML/PDF output.

The environment comes from :func:`engine.templating.environment` (the common filters such as ``cn_date``); this
module layers on the notice filters (:data:`FILTERS`), the globals, the strict ``finalize`` and undefined class.

Templates live in ``notices/templates`` as ``<kind>.txt`` (plain text, never escaped) and ``<kind>.html``
(autoescaped). Partials start with ``_``. A user directory given with ``--templates DIR`` is searched first, so a
file there with a shipped template's name replaces it. Every field a template uses must be in the context:
``StrictUndefined`` turns a missing field into a :class:`NoticeError` naming the template and the field, because a
blank in a legal notice is worse than no notice. Rendering is strict about what a field prints, too (see
:func:`check_output`): every ``{{ ... }}`` whose value is ``None``, a bool, a mapping, list or other container, a
Python repr (``('a', 'b')``, ``{...}``, ``[...]``, ``<object ...>``), a bare key name (``items``, ``check_items``) or
nothing at all (an empty string or list) is a :class:`NoticeError` naming the template, its line and the expression.
Mappings in the context cannot be iterated (``{% for x in mapping %}`` would print its keys): iterate
``mapping.items()`` or a list. The filters ``enum_cn`` and ``join_cn`` refuse mappings and check every item.

``fill(text, facts)`` fills ``{fact}`` placeholders in stored reasons; it is safe on untrusted pack text.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import pathlib
import re
import string
import subprocess
import tempfile
import traceback
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import jinja2
import jinja2.compiler
import jinja2.nodes
from jinja2 import Environment, StrictUndefined

from engine import templating
from engine.errors import NoticeError, did_you_mean
from engine.templating import cn_date as cn_date  # the common filters, importable from here as before
from engine.templating import cn_datetime as cn_datetime
from engine.templating import cn_number

TEMPLATES_DIR = pathlib.Path(__file__).resolve().parent / "templates"
FORMATS = ("txt", "html", "pdf")
TEXT_WIDTH = 72  # display columns of the text form (a CJK character takes two)


@dataclass(frozen=True)
class Kind:
    """A notice kind: its document title and the abbreviation used in its document number."""

    name: str
    title: str
    abbr: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("warning", "失信提示函", "提示"),
        Kind("interview", "警示约谈通知书", "约谈"),
        Kind("pre_listing", "列入名单告知书", "告知"),
        Kind("repair_instructions", "信用修复告知书", "修复"),
        Kind("inspection", "检查通知书", "检查"),
        Kind("commendation", "守信激励告知书", "激励"),
        Kind("removal_decision", "移出名单决定书", "移出"),
    )
}


def require_kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise NoticeError(
            f"Unknown notice kind '{kind}'{did_you_mean(kind, KINDS)}; the kinds are {', '.join(KINDS)}."
        ) from None


# -- fill ---------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _fact_text(value: Any, spec: str) -> str:
    if spec:
        return format(value, spec)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return "、".join(_fact_text(v, "") for v in value)
    return str(value)


def fill(text: str | None, facts: Mapping[str, Any] | None) -> str:
    """Replace ``{name}`` / ``{name:spec}`` in ``text`` with ``facts[name]``.

    Only plain names that are keys of ``facts`` are replaced; anything else (unknown names, ``{a.b}``,
    ``{a[0]}``, conversions, nested specs) stays in the text exactly as written, so pack text can never reach
    attributes or items of Python objects. Unbalanced braces leave the text unchanged.
    """
    if not text:
        return text or ""
    if "{" not in text and "}" not in text:
        return text
    facts = facts or {}
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError:
        return text
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        original = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if conversion or not _IDENT.match(field) or field not in facts or "{" in (spec or ""):
            out.append(original)
            continue
        try:
            out.append(_fact_text(facts[field], spec or ""))
        except (ValueError, TypeError):
            out.append(original)
    return "".join(out)


# -- notice filters (FILTERS, layered on the common ones of engine.templating) ------------------


@functools.lru_cache(maxsize=4096)
def display_width(text: str) -> int:
    """Columns a string takes in a terminal or text editor (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def center(text: Any, width: int = TEXT_WIDTH) -> str:
    """Centre text in ``width`` display columns (CJK characters count two); no trailing spaces."""
    text = str(text)
    pad = max(0, (width - display_width(text)) // 2)
    return " " * pad + text


def right(text: Any, width: int = TEXT_WIDTH) -> str:
    """Right-align text in ``width`` display columns."""
    text = str(text)
    return " " * max(0, width - display_width(text)) + text


def rule_line(width: int = TEXT_WIDTH, char: str = "━") -> str:
    """A full-width rule; box-drawing characters are 'ambiguous' width, drawn two columns wide by CJK fonts."""
    return char * (width // 2)


def _items(values: Any, name: str) -> list[str]:
    """The items of a list a filter joins, each checked like a printed field (never a mapping's keys)."""
    if type(values) is not list and (isinstance(values, (Mapping, str)) or not isinstance(values, Iterable)):
        raise RenderProblem(
            f"'{name}' joins the items of a list, and was given {_what(values)}; give it a list "
            f"of texts (a mapping's keys are field names, not text for the party)"
        )
    out = []
    for i, item in enumerate(values):
        problem = _text_problem(item) if type(item) is str else _problem(item)
        if problem:
            raise RenderProblem(f"'{name}' item {i + 1} is {problem}")
        out.append(item if type(item) is str else str(item))
    return out


def join_cn(values: Any, sep: str = "、") -> str:
    return sep.join(_items(values, "join_cn"))


def enum_cn(items: Any, sep: str = "；", end: str = "。") -> str:
    """["甲", "乙"] -> "（一）甲；（二）乙。" (items' own trailing punctuation is dropped)."""
    parts = [f"（{cn_number(i)}）{sentence(item, '')}" for i, item in enumerate(_items(items, "enum_cn"), 1)]
    return sep.join(parts) + end if parts else ""


def ident(value: Any) -> str:
    """A key name printed on purpose (an HTML class such as ``notice-{{ kind|ident }}``), never text for the party."""
    return _Ident(str(value))


def sentence(text: Any, end: str = "。") -> str:
    """Trim trailing punctuation and end with ``end`` (stored reasons come with or without a full stop)."""
    body = str(text or "").rstrip().rstrip("。．.;；,，、:：")
    return body + end if body else ""


ISSUER_WIDTH_PT = 430.0  # the 156 mm text block (442 pt) less a margin
ISSUER_MAX_PT, ISSUER_MIN_PT, ISSUER_SPACING_EM = 26.0, 18.0, 0.06


def issuer_layout(name: Any) -> dict[str, Any]:
    """The issuing body's name as lines that never wrap (each ``white-space: nowrap``) and one font size: 26 pt
    when it fits one line, smaller down to 18 pt, then split into balanced lines, so no line is left with one
    lone character."""
    text = str(name or "")
    per_line = lambda size: max(1, int(ISSUER_WIDTH_PT // (size * (1 + ISSUER_SPACING_EM))))  # noqa: E731
    n = max(1, len(text))
    lines = -(-n // per_line(ISSUER_MIN_PT))
    per = -(-n // lines)
    size = min(ISSUER_MAX_PT, ISSUER_WIDTH_PT / (per * (1 + ISSUER_SPACING_EM)))
    size = max(ISSUER_MIN_PT, int(size * 2) / 2)
    return {"size": f"{size:g}", "lines": [text[i : i + per] for i in range(0, len(text), per)] or [text]}


def typst_text(value: Any) -> str:
    """A value as Typst markup that prints it literally: every ASCII character other than a letter, a digit or a
    space is preceded by a backslash (Typst's escape for any character), so ``#read(...)``, ``*bold*``, ``$x$``,
    ``<label>``, ``@ref``, ``[...]``, ``//`` and backslashes print as written and never run; a line break becomes a
    space (a blank line would end the paragraph)."""
    return _typst_text(str(value))


_TYPST_ESCAPES = {c: "\\" + c for c in map(chr, range(33, 127)) if not c.isalnum()}
_TYPST_ESCAPES.update({chr(i): " " for i in range(32)})  # control characters and line breaks
_TYPST_TABLE = str.maketrans(_TYPST_ESCAPES)


@functools.lru_cache(maxsize=65536)
def _typst_text(text: str) -> str:
    return text.translate(_TYPST_TABLE) if not text.isalnum() else text


def typst_pt(value: Any) -> _Typst:
    """A font size in points as a Typst length (``26`` -> ``26pt``), for code positions where escaping would break
    the number; anything but a number is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RenderProblem(f"'typst_pt' needs a number of points, and was given {_what(value)}")
    try:
        points = float(value)
    except ValueError:
        raise RenderProblem(f"'typst_pt' needs a number of points, and was given {_what(value)}") from None
    return _Typst(f"{points:g}pt")


def typst_date(value: Any) -> _Typst:
    """A date as a Typst ``datetime`` (the PDF's date: the notice's own, so its bytes do not depend on the day
    it is rendered)."""
    d = templating._as_date(value)
    return _Typst(f"datetime(year: {d.year}, month: {d.month}, day: {d.day})")


FILTERS = {
    "typst_pt": typst_pt,
    "typst_date": typst_date,
    "center": center,
    "right": right,
    "join_cn": join_cn,
    "sentence": sentence,
    "enum_cn": enum_cn,
    "width": display_width,
    "ident": ident,
}
GLOBALS = {"rule_line": rule_line, "TEXT_WIDTH": TEXT_WIDTH, "issuer_layout": issuer_layout}


# -- strict output ------------------------------------------------------------------------------


class RenderProblem(jinja2.TemplateRuntimeError):
    """A field printed something no party may read (``None``, a repr, a key name, nothing); ``where`` is
    ``(template, line, expression)`` when the output check knows it."""

    def __init__(self, message: str, where: tuple[str | None, int, str] | None = None):
        super().__init__(message)
        self.problem, self.where = message, where


class _Ident(str):
    """A key name printed on purpose (``|ident``)."""


class _Typst(str):
    """Typst code a filter made from a checked value (``|typst_pt``): printed as it is, never escaped."""


_KEY_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# A tuple, list or dict repr (('a', 'b'), ['a'], {'k': 1}), an empty container, an object or method repr. Entity
# names are free text: alert("x") and =HYPERLINK("u","t") are not reprs, ('a',) is. Python quotes a str in its
# repr with single quotes (double ones only around a single quote), so only single-quoted items count.
_REPR = re.compile(
    r"""\(\s*'[^']*'\s*,|\[\s*'[^']*'\s*[,\]]|\{\s*'[^']*'\s*:"""
    r"""|\(\)|\[\]|\{\}|<[\w.]+ object at 0x|<(?:built-in |bound )?(?:method|function)\b"""
    r"""|(?<![A-Za-z])(?:None|True|False)(?![A-Za-z])"""
)
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}|\{\{|\}\}")
_PLAIN = (str, int, float, dt.date)


def _what(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, Mapping):
        return f"a mapping (keys {', '.join(map(str, list(value.keys())[:4]))})"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    if isinstance(value, str):
        return f"the text '{value[:40]}'"
    return f"a {type(value).__name__}"


def _problem(value: Any) -> str | None:
    """Why ``value`` must not be printed in a notice, or None when it may."""
    kind = type(value)
    if kind is str:
        return _text_problem(value)
    if kind is int or kind is float or kind is _Ident or kind is _Typst:
        return None
    if isinstance(value, jinja2.Undefined):
        return None  # printing it raises the missing-field error, which names the field
    if value is None:
        return "None (the field has no value)"
    if isinstance(value, bool):
        return f"a yes/no value ({value}); print words chosen with {{% if %}}"
    if isinstance(value, Mapping):
        return f"{_what(value)}: it would print a Python repr; print one of its fields"
    if isinstance(value, (list, tuple, set, frozenset)):
        return (
            f"{_what(value)}: it would print a Python repr; join it with |join_cn or |enum_cn"
            if value
            else "an empty list (it prints nothing)"
        )
    if isinstance(value, _Ident):
        return None
    if isinstance(value, str):
        return _text_problem(str(value))
    if isinstance(value, _PLAIN):
        return None
    return f"a Python object ({type(value).__name__}): it would print its repr"


_MAYBE_REPR = frozenset("([{<NTF")  # a text without any of these cannot match _REPR
_MAYBE_PLACEHOLDER = frozenset("{}")


@functools.lru_cache(maxsize=65536)
def _text_problem(value: str) -> str | None:
    """:func:`_problem` of a text (cached: a run prints the same authority, dates and sentences many times)."""
    text = value.strip()
    if not text:
        return "empty (it prints nothing); leave the sentence out with {% if %}"
    if text.isascii() and _KEY_NAME.match(text):
        return f"the bare key name '{text}': a field name, not text for the party"
    chars = set(text)
    found = _REPR.search(text) if not chars.isdisjoint(_MAYBE_REPR) else None
    if found:
        return f"Python text ('{found.group(0)}' in '{text[:60]}')"
    found = _PLACEHOLDER.search(text) if not chars.isdisjoint(_MAYBE_PLACEHOLDER) else None
    if found:
        return f"an unfilled placeholder ('{found.group(0)}' in '{text[:60]}')"
    return None


def check_output(value: Any, where: tuple[str | None, int, str] | None = None) -> Any:
    """The environment's ``finalize``: every ``{{ ... }}`` passes here with (template, line, expression)."""
    problem = _text_problem(value) if type(value) is str else _problem(value)
    if problem:
        raise RenderProblem(problem, where)
    return value


def check_typst(value: Any, where: tuple[str | None, int, str] | None = None) -> Any:
    """``finalize`` of the Typst templates: the output check, then the value escaped for Typst markup."""
    problem = _problem(value)
    if problem:
        raise RenderProblem(problem, where)
    if type(value) is _Typst:
        return value
    return _typst_text(str(value))  # str() of a missing field raises the missing-field error


class _StrictDict(dict):
    """A context mapping: fields by name, ``.items()``, ``.values()``; iterating it (its keys) is an error."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        # Jinja's ``a.b`` tries getattr first and falls back to a["b"] only after an AttributeError; answering
        # here spares that exception on every field a template prints (dict methods still win, as in Jinja).
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self):
        raise RenderProblem(
            f"iterating a mapping gives its keys (field names such as "
            f"{', '.join(map(str, list(self.keys())[:4]))}); iterate a list, or mapping.items()"
        )


_LEAVES = frozenset({str, int, float, bool, type(None)})


def _strict(value: Any) -> Any:
    kind = type(value)
    if kind in _LEAVES or kind is _StrictDict:
        return value  # a _StrictDict's values are strict already
    if kind is dict or isinstance(value, Mapping):
        out = _StrictDict()
        for k, v in value.items():
            out[k] = v if type(v) in _LEAVES else _strict(v)
        return out
    if kind is list or isinstance(value, list):
        if all(type(v) in _LEAVES for v in value):
            return list(value)  # a list of texts: nothing in it to make strict (a copy all the same)
        return [_strict(v) for v in value]
    return value


class _NotJson(Exception):
    """A context holds something JSON would change (a tuple, a date, a non-text key, a str or int subclass)."""


def _strict_json(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """:func:`_strict` of a value made only of what JSON keeps as it is (dict with text keys, list, str, int, float,
    bool, None, exact types): the same strict value as ``_strict(json.loads(json.dumps(value)))``, without the
    round trip; anything else raises :class:`_NotJson` (the caller then renders from the JSON text). ``memo``: id
    -> strict form (None until made) of the parts many contexts share and nobody changes (notices.issue.Shared),
    converted once; a strict form is only read, so one serves every context that has the part."""
    kind = type(value)
    if kind is dict:
        if memo is not None and id(value) in memo:
            done = memo[id(value)]
            if done is None:
                done = memo[id(value)] = _strict_json(value)
            return done
        out = _StrictDict()
        for k, v in value.items():
            if type(k) is not str:
                raise _NotJson
            out[k] = v if type(v) in _LEAVES else _strict_json(v, memo)
        return out
    if kind is list:
        if memo is not None and id(value) in memo:
            done = memo[id(value)]
            if done is None:
                done = memo[id(value)] = [v if type(v) in _LEAVES else _strict_json(v) for v in value]
            return done
        return [v if type(v) in _LEAVES else _strict_json(v, memo) for v in value]
    if kind in _LEAVES:
        return value
    raise _NotJson


def describe(node: jinja2.nodes.Node) -> str:
    """A Jinja expression as template source, near enough to name it in an error."""
    n = jinja2.nodes
    if isinstance(node, n.Name):
        return node.name
    if isinstance(node, n.Getattr):
        return f"{describe(node.node)}.{node.attr}"
    if isinstance(node, n.Getitem):
        return f"{describe(node.node)}[{describe(node.arg)}]"
    if isinstance(node, n.Const):
        return repr(node.value)
    if isinstance(node, n.Filter):
        args = ", ".join(describe(a) for a in node.args)
        return f"{describe(node.node) if node.node is not None else ''}|{node.name}" + (f"({args})" if args else "")
    if isinstance(node, n.Test):
        return f"{describe(node.node)} is {node.name}"
    if isinstance(node, n.CondExpr):
        tail = f" else {describe(node.expr2)}" if node.expr2 is not None else ""
        return f"{describe(node.expr1)} if {describe(node.test)}{tail}"
    if isinstance(node, n.Concat):
        return " ~ ".join(describe(x) for x in node.nodes)
    if isinstance(node, n.Call):
        return f"{describe(node.node)}(...)"
    if isinstance(node, (n.And, n.Or)):
        op = "and" if isinstance(node, n.And) else "or"
        return f"{describe(node.left)} {op} {describe(node.right)}"
    if isinstance(node, n.Not):
        return f"not {describe(node.node)}"
    if isinstance(node, (n.List, n.Tuple)):
        return "[...]"
    if isinstance(node, n.BinExpr):
        return f"{describe(node.left)} {node.operator} {describe(node.right)}"
    return type(node).__name__


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    """Passes (template, line, expression) of each output to ``finalize``, so a bad value is named."""

    def _output_child_post(self, node, frame, finalize) -> None:
        if finalize.src is None:
            return super()._output_child_post(node, frame, finalize)
        self.write(f", {(self.name, node.lineno, describe(node))!r})")
        self.write(")")


# -- environment --------------------------------------------------------------------------------


class _MissingField(jinja2.UndefinedError):
    def __init__(self, name: str | None, obj: Any, hint: str | None):
        super().__init__(hint or f"'{name}' is undefined")
        self.name, self.obj = name, obj


class NoticeUndefined(StrictUndefined):
    """StrictUndefined that remembers which name was missing on which object."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any):
        raise _MissingField(self._undefined_name, self._undefined_obj, self._undefined_hint)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self._fail_with_undefined_error()


# Undefined binds its operators to the base method at class creation; point them at ours.
for _name in dir(StrictUndefined):
    if (
        getattr(StrictUndefined, _name, None)
        in (jinja2.Undefined._fail_with_undefined_error, StrictUndefined._fail_with_undefined_error)
        and _name != "_fail_with_undefined_error"
    ):
        setattr(NoticeUndefined, _name, NoticeUndefined._fail_with_undefined_error)


@functools.lru_cache(maxsize=16)
def _environment(user_dir: str | None, typst: bool = False) -> Environment:
    env = templating.environment(
        "notices",
        search=user_dir,
        trim=True,
        undefined=NoticeUndefined,
        finalize=check_typst if typst else check_output,
        code_generator=_CodeGenerator,
    )
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    env.getattr = functools.partial(_getattr, env, jinja2.Environment.getattr.__get__(env))  # type: ignore[method-assign]
    # A template's globals as a plain mapping, not Jinja's ChainMap over the environment's: every render copies them
    # into its context, and iterating a ChainMap runs in Python (a tenth of a text form). The environment's globals
    # are all set here, before any template is loaded (which Jinja asks of them anyway).
    env.make_globals = lambda given: {**env.globals, **(given or {})}  # type: ignore[method-assign,assignment]
    return env


_DICT_NAMES = frozenset(dir(_StrictDict))  # what ``mapping.name`` finds on the mapping itself (items, get ...)


def _getattr(env: Environment, generic: Any, obj: Any, attribute: str) -> Any:
    """The environment's ``a.b`` (Jinja's ``Environment.getattr``: the attribute, else the item, else undefined),
    answered straight from a context mapping's fields: what the generic way gives, without its round of
    ``getattr`` and ``_StrictDict.__getattr__`` for every field a template prints."""
    if type(obj) is _StrictDict and attribute not in _DICT_NAMES:
        try:
            return dict.__getitem__(obj, attribute)
        except KeyError:
            return env.undefined(obj=obj, name=attribute)
    return generic(obj, attribute)


def environment(templates: str | os.PathLike | None = None, typst: bool = False) -> Environment:
    """The Jinja environment: ``templates`` (a user directory) first, then the shipped templates. ``typst``: the
    environment of the ``*.typ`` templates, whose every printed value is escaped for Typst markup."""
    if templates is None:
        return _environment(None, typst)
    path = pathlib.Path(templates)
    if not path.is_dir():
        raise NoticeError(
            f"Template directory '{templates}' does not exist or is not a directory; "
            f"fix --templates (it may hold e.g. warning.html to replace the shipped one)."
        )
    return _environment(str(path.resolve()), typst)


def template_names(templates: str | os.PathLike | None = None) -> list[str]:
    return sorted(environment(templates).list_templates())


def _find_path(context: Mapping[str, Any], target: Any, prefix: str = "") -> str | None:
    """Dotted path of the dict ``target`` inside ``context`` (only used to word an error)."""
    for key, value in context.items():
        path = f"{prefix}{key}"
        if value is target:
            return path
        if isinstance(value, Mapping):
            found = _find_path(value, target, path + ".")
            if found:
                return found
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if item is target:
                    return f"{path}[{i}]"
                if isinstance(item, Mapping):
                    found = _find_path(item, target, f"{path}[{i}].")
                    if found:
                        return found
    return None


def _template_frames(exc: BaseException) -> list[str]:
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        name = pathlib.Path(frame.filename).name
        if frame.filename.endswith((".txt", ".html", ".css", ".htm", ".typ")):
            frames.append(f"{name} line {frame.lineno}")
    return frames


@overload
def render(
    kind_or_template: str,
    context: Mapping[str, Any],
    fmt: Literal["txt", "html", "typ"] = "txt",
    templates: str | os.PathLike | None = None,
    pdf_engine: str | None = None,
) -> str: ...
@overload
def render(
    kind_or_template: str,
    context: Mapping[str, Any],
    fmt: Literal["pdf"],
    templates: str | os.PathLike | None = None,
    pdf_engine: str | None = None,
) -> bytes: ...
@overload
def render(
    kind_or_template: str,
    context: Mapping[str, Any],
    fmt: str,
    templates: str | os.PathLike | None = None,
    pdf_engine: str | None = None,
) -> str | bytes: ...
def render(
    kind_or_template: str,
    context: Mapping[str, Any],
    fmt: str = "txt",
    templates: str | os.PathLike | None = None,
    pdf_engine: str | None = None,
) -> str | bytes:
    """Render a notice: ``txt``, ``html`` and ``typ`` (the Typst source of the PDF) give str, ``pdf`` gives bytes,
    made by ``pdf_engine`` (:data:`PDF_ENGINES`; default :data:`PDF_ENGINE`)."""
    if fmt == "pdf":
        engine = require_pdf_engine(pdf_engine)
        if engine == "weasyprint":
            return to_pdf(render(kind_or_template, context, "html", templates))
        _require_typst_templates(kind_or_template, templates)
        return typst_pdf(render(kind_or_template, context, "typ", templates))
    if fmt not in ("txt", "html", "typ"):
        raise NoticeError(f"Unknown notice format '{fmt}'{did_you_mean(fmt, FORMATS)}; use txt, html or pdf.")
    return _render(kind_or_template, {k: _strict(v) for k, v in context.items()}, fmt, templates)


def render_stored_text(
    template: str, context: Mapping[str, Any], stored: str, templates: Any = None, memo: dict[int, Any] | None = None
) -> str:
    """The text form of a notice as :func:`render` gives it from its context as stored, ``json.loads(stored)``
    (``stored``: ``json.dumps(context)``): rendered from ``context`` itself when JSON keeps every value of it as
    it is (the usual case: building the contexts makes them so), which spares decoding the text; else from the
    decoded text. ``memo``: the strict forms of shared parts (:func:`_strict_json`)."""
    strict = strict_if_json(context, memo)
    if strict is None:
        return render(template, json.loads(stored), "txt", templates)
    return render_strict(template, strict, "txt", templates)


def strict_if_json(context: Mapping[str, Any], memo: dict[int, Any] | None = None) -> dict[str, Any] | None:
    """The strict form :func:`render` renders of ``json.loads(json.dumps(context))``, made from ``context`` itself,
    or None when JSON would change something in it (a tuple, a date, a key that is not text ...). ``memo``: the
    strict forms of shared parts (:func:`_strict_json`)."""
    if type(context) is not dict or not all(type(k) is str for k in context):
        return None
    try:
        return {k: v if type(v) in _LEAVES else _strict_json(v, memo) for k, v in context.items()}
    except _NotJson:
        return None


def json_native(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is (:func:`strict_if_json` would make its strict form), checked
    without making anything: then ``marshal`` carries the same value to a worker process, decoded in about half
    the time of its ASCII-escaped JSON text."""
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or (type(v) not in _LEAVES and not json_native(v)):
                return False
        return True
    if kind is list:
        return all(type(v) in _LEAVES or json_native(v) for v in value)
    return kind in _LEAVES


def render_strict(template: str, strict: dict[str, Any], fmt: str = "txt", templates: Any = None) -> str:
    """:func:`render` (txt, html or typ) of a strict form made by :func:`strict_if_json`."""
    return _render(template, strict, fmt, templates)


def _render(kind_or_template: str, strict: dict[str, Any], fmt: str, templates: Any) -> str:
    """Render the strict context (:func:`_strict` of each value) in ``txt``, ``html`` or ``typ``."""
    name = f"{kind_or_template}.{fmt}"
    env = environment(templates, typst=fmt == "typ")
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        where = f"'{templates}' or " if templates else ""
        raise NoticeError(
            f"No notice template '{exc.name}' in {where}the shipped templates ({TEMPLATES_DIR}); "
            f"available: {', '.join(t for t in env.list_templates() if not t.startswith('_'))}."
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise NoticeError(
            f"Notice template '{exc.filename or exc.name}' line {exc.lineno} has a syntax error: "
            f"{exc.message}. Fix the template."
        ) from None
    try:
        return template.render(strict)
    except RenderProblem as exc:
        if exc.where:
            source, line, expr = exc.where
            at = f"'{source}' line {line}" + (f" (rendering '{name}')" if source != name else "")
            raise NoticeError(
                f"Notice template {at}: '{{{{ {expr} }}}}' prints {exc.problem}. A notice never "
                f"shows None, a Python repr, a field name or a blank: fix the context or the "
                f"template."
            ) from None
        frames = _template_frames(exc)
        where = f" ({frames[-1]})" if frames else ""
        raise NoticeError(f"Notice template '{name}'{where}: {exc.problem}. Fix the context or the template.") from None
    except _MissingField as exc:
        parent = None if exc.obj is None else _find_path(strict, exc.obj)
        field = f"{parent}.{exc.name}" if parent and exc.name else (exc.name or str(exc))
        frames = _template_frames(exc)
        where = f" ({frames[-1]})" if frames else ""
        raise NoticeError(
            f"Notice template '{name}'{where} uses the field '{field}', which the render context does not have. "
            f"A missing field in a legal notice is an error, never a blank: put '{field}' in the context, or "
            f"guard it in the template with {{% if {field} is defined %}}."
        ) from None
    except jinja2.UndefinedError as exc:  # e.g. calling an undefined filter argument
        frames = _template_frames(exc)
        where = f" ({frames[-1]})" if frames else ""
        raise NoticeError(f"Notice template '{name}'{where} failed: {exc}. Fix the template or the context.") from None
    except jinja2.TemplateError as exc:
        raise NoticeError(f"Notice template '{name}' failed: {exc}. Fix the template.") from None


def _require_typst_templates(kind: str, templates: str | os.PathLike | None) -> None:
    """A user directory that changes the HTML form of a notice must change its Typst form too, or the Typst PDF
    would silently keep the shipped wording and layout: refused, naming the files and the two fixes."""
    if templates is None:
        return
    folder = pathlib.Path(templates)
    html = [n for n in (f"{kind}.html", "_base.html", "_facts.html", "_style.css") if (folder / n).is_file()]
    typ = [n for n in (f"{kind}.typ", "_base.typ", "_facts.typ") if (folder / n).is_file()]
    if html and not typ:
        raise NoticeError(
            f"The template directory '{templates}' changes the HTML form ({', '.join(html)}) but has no Typst "
            f"form ({kind}.typ), so a Typst PDF would not show the change; add {kind}.typ there (copy "
            f"{TEMPLATES_DIR / (kind + '.typ')}), or use --pdf-engine weasyprint to print the HTML form."
        )


def content_hash(text: str) -> str:
    """SHA-256 of the text form: what ``sha256sum`` gives on the written .txt file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


GENERIC_FAMILIES = {"serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "inherit", "initial"}
_FONT_FAMILY = re.compile(r"font-family\s*:\s*([^;}]+)", re.IGNORECASE)


def css_font_families(html: str) -> list[list[str]]:
    """The named families of each ``font-family`` declaration in the HTML's styles (generic names left out)."""
    out = []
    for decl in _FONT_FAMILY.findall(html):
        names = [n.strip().strip("\"'") for n in decl.split(",")]
        named = [n for n in names if n and n.lower() not in GENERIC_FAMILIES]
        if named and named not in out:
            out.append(named)
    return out


@functools.lru_cache(maxsize=8)
def cjk_font_families(fontconfig_file: str | None = None) -> frozenset[str]:
    """Font families fontconfig has for Chinese (``fc-list :lang=zh family``); ``fontconfig_file`` only keys the
    cache (the environment variable FONTCONFIG_FILE is what fc-list reads)."""
    try:
        done = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise NoticeError(
            "PDF notices need fontconfig's fc-list to find the Chinese fonts, and it is not installed; "
            "install the Debian packages fontconfig and fonts-noto-cjk (as root: make deps), or use "
            "--format html."
        ) from None
    return frozenset(name.strip() for line in done.stdout.splitlines() for name in line.split(",") if name.strip())


def require_pdf_fonts(html: str) -> None:
    """Refuse (NoticeError) when no Chinese font of a ``font-family`` the notice's style names is installed:
    WeasyPrint would then print every character as an empty box, without a warning."""
    require_fonts(css_font_families(html))


def require_fonts(families: list[list[str]]) -> None:
    """Refuse (NoticeError) when a font list of the notice has no Chinese font installed (fontconfig)."""
    installed = cjk_font_families(os.environ.get("FONTCONFIG_FILE"))
    missing = [names for names in families if not installed.intersection(names)]
    if missing:
        wanted = "、".join(dict.fromkeys(n for names in missing for n in names))
        raise NoticeError(
            f"No Chinese font the notice style names is installed ({wanted}); a PDF would show every "
            f"character as an empty box, so none is written. Install the Debian package fonts-noto-cjk "
            f"(as root: make deps; it provides Noto Serif CJK SC), or use --format html or txt."
        )


def to_pdf(html: str) -> bytes:
    """HTML -> PDF with WeasyPrint; refused when the style's CJK fonts are missing (Debian fonts-noto-cjk)."""
    require_pdf_fonts(html)
    try:
        import weasyprint
    except ImportError as exc:  # pragma: no cover - weasyprint is a dependency
        raise NoticeError(
            f"PDF output needs WeasyPrint ({exc}); pip install weasyprint, or use --format html."
        ) from exc
    return weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR)).write_pdf()


# -- PDF engines ----------------------------------------------------------------------------------

PDF_ENGINES = ("typst", "weasyprint")
PDF_ENGINE = "typst"  # the default: README "Benchmarks" has the figures and the comparison that chose it


def require_pdf_engine(engine: str | None) -> str:
    engine = engine or PDF_ENGINE
    if engine not in PDF_ENGINES:
        raise NoticeError(
            f"Unknown PDF engine '{engine}'{did_you_mean(engine, PDF_ENGINES)}; use {' or '.join(PDF_ENGINES)}."
        )
    return engine


_TYPST_FONTS = re.compile(r'^#let\s+\w+\s*=\s*\(((?:\s*"[^"\n]*"\s*,?)+)\)', re.MULTILINE)


def typst_font_families(source: str) -> list[list[str]]:
    """The families of each font list a Typst notice defines (``#let serif = ("FangSong", ...)``)."""
    out = []
    for names in _TYPST_FONTS.findall(source):
        named = [n.strip().strip('"') for n in names.split(",") if n.strip()]
        if named and named not in out:
            out.append(named)
    return out


@functools.lru_cache(maxsize=8)
def cjk_font_dirs(fontconfig_file: str | None = None) -> tuple[str, ...]:
    """The folders of the fonts fontconfig has for Chinese (``fc-list :lang=zh file``): where Typst looks, so both
    engines see the same fonts (Typst reads no fontconfig); ``fontconfig_file`` only keys the cache."""
    done = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=60, check=False)
    files = [line.split(":")[0].strip() for line in done.stdout.splitlines()]
    return tuple(sorted({str(pathlib.Path(f).parent) for f in files if f}))


@functools.lru_cache(maxsize=4)
def _typst_compiler(font_dirs: tuple[str, ...]) -> tuple[Any, Any, type[Exception]]:
    """One Typst compiler per process and font set (it keeps the fonts it has read and what it laid out), the
    empty folder that is its root (a notice's source can read no file; its values are escaped anyway), and the
    error class it raises."""
    try:
        import typst  # heavy (a Rust extension with its own fonts): loaded when a PDF is first typeset
    except ImportError as exc:  # pragma: no cover - typst is a dependency
        raise NoticeError(
            f"PDF output with the Typst engine needs the typst package ({exc}); pip install typst, or use "
            f"--pdf-engine weasyprint."
        ) from exc
    root = tempfile.TemporaryDirectory(prefix="supervise-typst-")
    return typst.Compiler(font_paths=list(font_dirs), ignore_system_fonts=True), root, typst.TypstError


def typst_pdf(source: str) -> bytes:
    """Typst source -> PDF with the process's reused compiler; refused when its CJK fonts are missing."""
    fontconfig = os.environ.get("FONTCONFIG_FILE")
    require_fonts(typst_font_families(source))
    compiler, root, typst_error = _typst_compiler(cjk_font_dirs(fontconfig))
    try:
        pdf = compiler.compile(input=source.encode("utf-8"), format="pdf", root=root.name)
    except typst_error as exc:
        message, hints = getattr(exc, "message", str(exc)), getattr(exc, "hints", None) or []
        raise NoticeError(
            f"Typst could not typeset the notice: {message}"
            + (f" ({'; '.join(hints)})" if hints else "")
            + ". Fix the .typ template (escape nothing by hand: every printed value is escaped), or use "
            "--pdf-engine weasyprint."
        ) from None
    assert isinstance(pdf, bytes)
    return pdf
