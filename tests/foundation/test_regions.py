"""engine.regions: the shipped GB/T 2260 table, names, cities and unknown codes."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from engine.errors import SupervisionError
from engine.pipeline.demo import REGIONS
from engine.regions import UnknownRegion, city_of, is_region, region_label, region_name


def _rows() -> list[dict]:
    text = resources.files("engine").joinpath("data/gb2260.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_table_is_a_tree_of_current_divisions():
    rows = _rows()
    codes = {r["code"] for r in rows}
    assert len(rows) == len(codes) > 3000
    assert all(len(r["code"]) == 6 and r["code"].isdigit() and r["name"] for r in rows)
    provinces = [r for r in rows if not r["parent"]]
    assert len(provinces) == 34 and all(r["code"].endswith("0000") for r in provinces)
    for r in rows:  # every parent exists, is one level up and shares the code prefix
        if r["parent"]:
            assert r["parent"] in codes and r["parent"] != r["code"]
            assert r["code"].startswith(r["parent"].rstrip("0")[:2])
    # placeholders (市辖区, 县) are not divisions; changes after the base edition are in
    assert not is_region("350501") and not is_region("500200")
    assert region_name("659012", full=False) == "白杨市" and not is_region("540422")


def test_every_demo_region_resolves_with_its_city():
    for code, (district, _, city) in REGIONS.items():
        assert region_name(code, full=False) == district
        assert region_name(code) == f"福建省{city}市{district}"
        assert region_name(city_of(code), full=False) == f"{city}市"


@pytest.mark.parametrize(
    "code, full, short, city",
    [
        ("350503", "福建省泉州市丰泽区", "丰泽区", "350500"),
        ("350500", "福建省泉州市", "泉州市", "350500"),
        ("110101", "北京市东城区", "东城区", "110000"),  # a municipality is its own city
        ("500229", "重庆市城口县", "城口县", "500000"),
        ("429004", "湖北省仙桃市", "仙桃市", "429004"),  # county-level, directly under the province
        ("441900", "广东省东莞市", "东莞市", "441900"),  # prefecture without counties
    ],
)
def test_names_and_cities(code, full, short, city):
    assert region_name(code) == full and region_name(code, full=False) == short
    assert city_of(code) == city and region_label(code) == full


def test_unknown_codes():
    with pytest.raises(UnknownRegion, match=r"350599 is not a current GB/T 2260 division.*engine/data/gb2260.csv"):
        region_name("350599")
    with pytest.raises(UnknownRegion, match="'35-05' is not a GB/T 2260 code"):
        region_name("35-05")
    with pytest.raises(UnknownRegion, match="No region code given"):
        city_of(None)
    with pytest.raises(UnknownRegion, match="350000 is a province"):
        city_of("350000")
    assert issubclass(UnknownRegion, SupervisionError)
    assert (
        region_label("350599") == "区划代码350599（未知）"
        and region_label("350599", full=False) == "区划代码350599（未知）"
    )
    assert region_label(None) == region_label("  ") == "未填写"
    assert not is_region("350599") and not is_region(None) and is_region(" 350503 ")
