"""engine.templating: one cached environment per (package, folder, options), the common filters registered once."""

from __future__ import annotations

import datetime as dt
import pathlib

import jinja2
import pytest

from engine import templating
from engine.pipeline import report
from lists import publish as lists_publish
from notices import render as notice_render


def _render(env: jinja2.Environment, source: str, **context) -> str:
    return env.from_string(source).render(**context)


def test_one_environment_per_package_folder_and_options(tmp_path: pathlib.Path):
    lists = templating.environment("lists")
    assert templating.environment("lists") is lists
    assert templating.environment("lists", "templates") is lists  # the default folder, spelled out
    assert templating.environment("lists", keep_trailing_newline=True) is lists
    trimmed = templating.environment("lists", trim=True)
    assert trimmed is not lists
    assert templating.environment("lists", trim=True) is trimmed
    assert templating.environment("engine.pipeline") is not lists
    searched = templating.environment("lists", search=tmp_path)
    assert searched is templating.environment("lists", search=str(tmp_path))
    assert searched is not lists


def test_the_shipped_pages_use_the_factory():
    assert report._environment() is templating.environment("engine.pipeline", trim=True, keep_trailing_newline=False)
    assert lists_publish._env() is templating.environment("lists")
    assert {"plan.html", "results.html"} <= set(templating.environment("engine.plans").list_templates())


def test_common_filters_are_registered_once():
    env = templating.environment("lists")
    for name, function in templating.FILTERS.items():
        assert env.filters[name] is function
    # the notices layer their own filters on top, never a second copy of a common one
    assert not set(notice_render.FILTERS) & set(templating.FILTERS)
    notices = notice_render.environment()
    for name, function in templating.FILTERS.items():
        assert notices.filters[name] is function


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("{{ d|cn_date }}", {"d": dt.date(2025, 3, 1)}, "2025年3月1日"),
        ("{{ d|cn_date }}", {"d": "2025-12-09"}, "2025年12月9日"),
        ("{{ d|cn_date }}", {"d": dt.datetime(2025, 1, 2, 9, 30)}, "2025年1月2日"),
        ("{{ d|cn_datetime }}", {"d": "2025-03-10T14:30"}, "2025年3月10日（星期一）下午14时30分"),
        ("{{ d|cn_datetime }}", {"d": dt.datetime(2025, 3, 11, 9, 0)}, "2025年3月11日（星期二）上午9时"),
        ("{{ n|cn_number }}", {"n": 15}, "十五"),
        ("{{ n|cn_number }}", {"n": 23}, "二十三"),
        ("{{ n|cn_number }}", {"n": 120}, "120"),
        ("{{ p|period_cn }}", {"p": "2025-Q3"}, "2025年第三季度"),
        ("{{ p|period_cn }}", {"p": "2025"}, "2025年度"),
        ("{{ v|num }}", {"v": 1234567}, "1,234,567"),
        ("{{ v|num(2) }}", {"v": 1234.5}, "1,234.50"),
        ("{{ v|num }}", {"v": None}, "—"),
        ("{{ v|pct }}", {"v": 0.125}, "12.5%"),
        ("{{ v|pct }}", {"v": None}, "—"),
        ("{{ v|signed }}", {"v": 1234}, "+1,234"),
        ("{{ v|signed }}", {"v": -5}, "-5"),
        ("{{ v|signed }}", {"v": 0}, "0"),
        ("{{ v|signed }}", {"v": None}, "—"),
        ("{{ c|mask_id }}", {"c": "110101199003071234"}, "1101************34"),
        ("{{ n|mask_name }}", {"n": "张三丰"}, "张**"),
        ("{{ n|mask_name }}", {"n": "李四"}, "李*"),
    ],
)
def test_common_filters_render(source, context, expected):
    assert _render(templating.environment("lists"), source, **context) == expected


def test_strict_undefined_and_escaping():
    env = templating.environment("lists")
    with pytest.raises(jinja2.UndefinedError):
        _render(env, "{{ missing }}")
    assert _render(env, "{{ x }}", x="<b>&") == "&lt;b&gt;&amp;"
    html = env.get_template("index.html")
    assert html.environment.autoescape(html.name) is True
    assert env.autoescape("notice.txt") is False


def test_a_user_directory_is_searched_first(tmp_path: pathlib.Path):
    (tmp_path / "index.html").write_text("{{ d|cn_date }} {{ x }}\n", encoding="utf-8")
    env = templating.environment("lists", search=tmp_path)
    assert env.get_template("index.html").render(d="2025-03-01", x="<i>") == "2025年3月1日 &lt;i&gt;\n"
    assert "list.html" in env.list_templates()  # the package's templates are still found
