"""Strict rendering: a notice never prints None, a Python repr, a key name or nothing; the error names the
template, its line and the expression. Every shipped template renders the sample context."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine.errors import NoticeError
from notices import issue
from notices.render import (
    KINDS,
    TEMPLATES_DIR,
    json_native,
    render,
    render_stored_text,
    strict_if_json,
    template_names,
)


def _render_tiny(tmp_path, body: str, context: dict, fmt: str = "txt") -> str:
    folder = tmp_path / f"t{len(list(tmp_path.iterdir()))}"  # a new directory: templates are cached per directory
    folder.mkdir()
    (folder / f"warning.{fmt}").write_text(body, encoding="utf-8")
    return render("warning", context, fmt, folder)


@pytest.mark.parametrize(
    "value, says",
    [
        (None, "None"),
        ("", "empty"),
        ("   ", "empty"),
        ([], "empty list"),
        (["甲", "乙"], "a list of 2 item(s)"),
        (("a", "b"), "a tuple"),
        ({"title": "甲"}, "a mapping"),
        (True, "yes/no"),
        ("check_items", "bare key name 'check_items'"),
        ("items", "bare key name 'items'"),
        ("('a', 'b')", "Python text"),
        ("{'title': '甲'}", "Python text"),
        ("['甲']", "Python text"),
        ("<object object at 0x7f>", "Python text"),
        ("得分None分", "Python text"),
        ("得分{score}分", "unfilled placeholder"),
        (object(), "a Python object"),
    ],
)
@pytest.mark.parametrize("fmt", ["txt", "html"])
def test_each_failure_class_names_template_line_and_expression(tmp_path, value, says, fmt):
    with pytest.raises(NoticeError) as err:
        _render_tiny(tmp_path, "第一行\n事由：{{ case.reason }}\n", {"case": {"reason": value}}, fmt)
    message = str(err.value)
    assert f"'warning.{fmt}' line 2" in message
    assert "'{{ case.reason }}'" in message
    assert says in message


def test_iterating_a_mapping_is_an_error_not_its_keys(tmp_path):
    ctx = {"inspection": {"check_items": {"items": 1, "region": 2}}}
    with pytest.raises(NoticeError) as err:
        _render_tiny(tmp_path, "检查事项：{% for i in inspection.check_items %}{{ i }}；{% endfor %}\n", ctx)
    assert "iterating a mapping gives its keys" in str(err.value) and "warning.txt" in str(err.value)
    with pytest.raises(NoticeError) as err:
        _render_tiny(tmp_path, "一、检查事项：{{ inspection.check_items|enum_cn }}\n", ctx)
    assert "enum_cn" in str(err.value) and "a mapping" in str(err.value)
    # .items() and a list are fine
    out = _render_tiny(
        tmp_path,
        "{% for k, v in m.items() %}{{ v }}{% endfor %}{{ xs|join_cn }}\n",
        {"m": {"a": "甲"}, "xs": ["乙", "丙"]},
    )
    assert out == "甲乙、丙\n"


def test_list_items_are_checked_one_by_one(tmp_path):
    with pytest.raises(NoticeError) as err:
        _render_tiny(tmp_path, "{{ xs|enum_cn }}\n", {"xs": ["甲", None]})
    assert "item 2 is None" in str(err.value)


def test_a_key_name_printed_on_purpose_goes_through_ident(tmp_path):
    assert (
        _render_tiny(tmp_path, '<p class="k-{{ kind|ident }}">甲</p>\n', {"kind": "pre_listing"}, "html")
        == '<p class="k-pre_listing">甲</p>\n'
    )


def test_missing_field_is_still_named_as_missing(tmp_path):
    with pytest.raises(NoticeError) as err:
        _render_tiny(tmp_path, "{{ hearing_date }}\n", {})
    assert "'hearing_date'" in str(err.value) and "does not have" in str(err.value)


def test_every_shipped_template_renders_the_sample_context_strictly():
    names = [n for n in template_names() if not n.startswith("_") and n.endswith((".txt", ".html", ".typ"))]
    assert len(names) == 3 * len(KINDS)
    assert {p.name for p in TEMPLATES_DIR.iterdir() if not p.name.startswith("_")} == set(names)
    for name in names:
        kind, fmt = name.rsplit(".", 1)
        out = render(kind, issue.sample_context(kind), fmt)
        assert out.strip()
        for bad in ("None", "{{", "}}", "('", "['", "{'"):
            assert bad not in out, (name, bad)


def test_the_text_form_from_the_context_in_memory_is_the_one_from_the_context_as_stored(tmp_path):
    """render_stored_text renders the context itself when JSON keeps it as it is, else its stored JSON: either way
    the text of render(json.loads(stored)), which a re-render from the stored notice gives."""
    for kind in KINDS:
        context = json.loads(json.dumps(issue.sample_context(kind, number="泉市监信〔2026〕1号")))
        stored = json.dumps(context)
        assert render_stored_text(kind, context, stored) == render(kind, json.loads(stored), "txt")
    # What JSON would change: a tuple (a list once stored), a non-text key, a str subclass, a date in a nested list.
    body = "{{ a|join_cn }} {% for k, v in m.items() %}{{ k|ident }}={{ v }}{% endfor %} {{ s }}\n"
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "warning.txt").write_text(body, encoding="utf-8")

    class Text(str):
        pass

    for context in (
        {"a": ("甲", "乙"), "m": {"x": 1}, "s": "丙"},
        {"a": ["甲"], "m": {1: "一"}, "s": "丙"},
        {"a": ["甲"], "m": {"x": 1}, "s": Text("丙")},
        {"a": ["甲"], "m": {"x": dt.date(2026, 1, 2)}, "s": "丙"},
    ):
        stored = json.dumps(context, default=str)
        assert render_stored_text("warning", context, stored, folder) == render(
            "warning", json.loads(stored), "txt", folder
        )
    # The JSON text is what is rendered when the context is not JSON's own (here they differ on purpose).
    assert render_stored_text(
        "warning", {"a": ("甲",), "m": {}, "s": "丙"}, json.dumps({"a": ["乙"], "m": {"k": "值"}, "s": "丁"}), folder
    ) == ("乙 k=值 丁\n")


def test_strict_if_json_refuses_what_json_would_change():
    """strict_if_json gives None for a context JSON would change (the sealer then renders the decoded text and
    sends the file writers that text, not the marshalled context), else the strict form of the decoded context."""

    class Text(str):
        pass

    for bad in (
        {"a": ("x",)},
        {"a": {1: "x"}},
        {1: "x"},
        {"a": [dt.date(2026, 1, 1)]},
        {"a": Text("x")},
        {"a": {"b": {2.5}}},
    ):
        assert strict_if_json(bad) is None and not json_native(bad), bad
    good = {"a": [1, 2.5, None, True, {"b": "乙"}], "c": {"d": []}}
    assert strict_if_json(good) == json.loads(json.dumps(good)) and json_native(good)
