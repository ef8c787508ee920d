"""Region names in the CLI's text output (entities show, cycle diff); JSON keeps the codes, names beside them."""

from __future__ import annotations

import json

from cli import cli
from engine.store import entities as qe
from tests.pipeline.test_report import ODD_REGION, build_register, two_cycles


def test_entities_show_names_the_region(store, runner):
    build_register(store)
    with store.read() as conn:
        codes = {e["region"]: e["code"] for batch in qe.iter_entities(conn) for e in batch}
    out = runner.invoke(cli, ["--db", store.url, "entities", "show", codes["350503"]])
    assert out.exit_code == 0, out.output
    assert "region 350503 福建省泉州市丰泽区," in out.output.splitlines()[0]
    data = json.loads(runner.invoke(cli, ["--db", store.url, "entities", "show", codes["350503"], "--json"]).output)
    assert data["region"] == "350503" and data["region_name"] == "福建省泉州市丰泽区"
    assert list(data).index("region_name") == list(data).index("region") + 1
    odd = runner.invoke(cli, ["--db", store.url, "entities", "show", codes[ODD_REGION]])
    assert odd.exit_code == 0 and f"region {ODD_REGION} 区划代码{ODD_REGION}（未知）" in odd.output


def test_cycle_diff_names_regions(store, runner):
    build_register(store)
    first, second = two_cycles(store)
    out = runner.invoke(cli, ["--db", store.url, "cycle", "diff", str(first["cycle"]), str(second["cycle"])])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    start = lines.index("expected inspections by region:")
    rows = lines[start + 1 :]
    assert {r.split(" (")[0].strip() for r in rows} == {
        "福建省泉州市鲤城区",
        "福建省泉州市丰泽区",
        "福建省泉州市石狮市",
        f"区划代码{ODD_REGION}（未知）",
    }
    assert any(r.strip().startswith("福建省泉州市鲤城区 (350502): ") for r in rows)
    data = json.loads(
        runner.invoke(
            cli, ["--db", store.url, "cycle", "diff", str(first["cycle"]), str(second["cycle"]), "--json"]
        ).output
    )
    by_code = {w["region"]: w["region_name"] for w in data["workload"]}
    assert by_code["350581"] == "福建省泉州市石狮市" and by_code[ODD_REGION] == f"区划代码{ODD_REGION}（未知）"
    per_region = {}
    for w in data["workload"]:
        per_region[w["region"]] = per_region.get(w["region"], 0) + w["b"] - w["a"]
    # the text's change per region is the JSON's, summed over tiers
    row = next(r for r in rows if "(350502)" in r)
    assert row.endswith(f"({per_region['350502']:+.1f})")
