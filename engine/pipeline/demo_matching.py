"""The demo's records without a USCC (docs/matching.md): a court's 失信被执行人 file that names 泉州 entities by
统一社会信用代码, by 组织机构代码, by a pre-2015 注册号 (with the 换照 crosswalk), by name in the ways departments
write it (without the region prefix, in 繁体, with full-width brackets, with a typo), and two entities the register
does not hold. It is imported with --match, first as a dry run (out/court.review.csv), then for real with
--skip-invalid (the two unknown ones go to out/court.rejects.csv); 张经办 judges one held row, the rest wait in
the match review queue for the console.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import tempfile
from typing import Any

from engine.access import matching as access_matching
from engine.exports import write_csv
from engine.register import crosswalk, linking
from engine.register import entities as register
from engine.register.codes import make_reg_no
from engine.register.names import parse_name
from engine.store import Store
from engine.store import linking as lq
from policies import base_record_kinds
from policies.loader import base_matching

COURT = "泉州市中级人民法院"
PER_WAY = 4  # rows of each way of naming an entity
COLUMNS = ("code", "org_code", "reg_no", "name", "region", "kind", "list", "date", "authority")


def _traditional(text: str) -> str:
    import opencc  # type: ignore[import-untyped]  # shipped dictionaries, no download

    return str(opencc.OpenCC("s2t").convert(text))


def _typo(name: str) -> str:
    """The name with one character of its 字号 replaced by a look-alike a clerk might type."""
    trade = parse_name(name).trade
    if not trade:
        return name + "店"
    swap = {"诚": "城", "达": "大", "华": "化", "兴": "星", "祥": "详", "鑫": "新", "源": "园", "恒": "衡"}
    for i, ch in enumerate(trade):
        if ch in swap:
            return name.replace(trade, trade[:i] + swap[ch] + trade[i + 1 :], 1)
    return name.replace(trade, trade[:-1] + ("明" if trade[-1] != "明" else "亮"), 1)


def matching_stage(store: Store, day: dt.date, out: pathlib.Path | None) -> dict[str, Any]:
    """Import the court's file with --match (module docstring); the stage's lines say what each step did."""
    with store.read() as conn:
        rows = lq.market_entities(conn, "3505")
    picked = rows[:: max(1, len(rows) // (PER_WAY * 7))][: PER_WAY * 7]
    if len(picked) < PER_WAY * 7:
        return {"name": "matching", "title": "Records without a USCC", "lines": ["too few 泉州 entities"]}
    folder = out if out is not None else pathlib.Path(tempfile.mkdtemp(prefix="supervise-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    ways = [picked[i * PER_WAY : (i + 1) * PER_WAY] for i in range(7)]
    base = {"kind": "external_list", "list": "court_dishonest", "authority": COURT, "date": day.isoformat()}
    court: list[dict[str, Any]] = []
    truth: dict[int, str] = {}  # file row -> the entity the court meant

    def add(entity: Any, **cells: Any) -> None:
        court.append(base | cells)
        truth[len(court) + 1] = entity.code  # row 1 is the header

    cross = []
    for e in ways[0]:
        add(e, code=e.code)
    for e in ways[1]:
        add(e, org_code=f"{e.code[8:16]}-{e.code[16]}")
    for i, e in enumerate(ways[2]):
        reg_no = make_reg_no(e.region, 70000 + i)
        cross.append({"code": e.code, "reg_no": reg_no, "changed_on": "2016-06-30"})
        add(e, reg_no=reg_no)
    for e in ways[3]:  # without the region prefix: 祥诚物流有限公司
        parts = parse_name(e.name)
        add(e, name=parts.core + parts.form, region=e.region)
    for e in ways[4]:  # 繁体
        add(e, name=_traditional(e.name), region=e.region)
    for e in ways[5]:  # the city in full-width brackets after the 字号: 祥诚（泉州）物流有限公司
        parts = parse_name(e.name)
        add(e, name=f"{parts.trade}（泉州）{parts.core[len(parts.trade) :]}{parts.form}", region=e.region)
    for e in ways[6]:
        add(e, name=_typo(e.name), region=e.region)
    court.append(base | {"name": "泉州市永不存在光电科技有限公司", "region": "350503"})
    court.append(base | {"name": "晋江市无此商贸有限公司", "region": "350582"})

    cw_path = folder / "huanzhao.csv"
    write_csv(cw_path, ["code", "reg_no", "changed_on"], ([r["code"], r["reg_no"], r["changed_on"]] for r in cross))
    crosswalk.import_crosswalk(store, cw_path, actor="demo")
    path = folder / "court.csv"
    write_csv(path, list(COLUMNS), ([r.get(c, "") for c in COLUMNS] for r in court))
    kinds, settings = base_record_kinds(), base_matching()
    dry = register.import_records(store, path, kinds, dry_run=True, skip_invalid=True, match=settings, actor="demo")
    report = register.import_records(store, path, kinds, skip_invalid=True, match=settings, actor="demo")
    methods = "，".join(f"{linking.METHOD_NAMES[m]}{n}" for m, n in sorted(report.by_method.items()))
    lines = [
        f"{cw_path}: {len(cross)} 注册号 -> 统一社会信用代码 (换照) imported",
        f"dry run of {path}: {dry.linked} would be linked, {dry.held} held for review, {dry.rejected} rejected; "
        f"review rows in {dry.review_file or '(none)'}",
        f"{path} imported with --match --skip-invalid: {report.linked} linked ({methods}), {report.held} held in "
        f"the match review queue, {report.rejected} rejected ({report.rejects_file})",
    ]
    queue = access_matching.queue(store, "张经办")
    judged = None
    for q in queue["questions"]:
        meant = truth.get(q["rows"][0]["row_number"])
        if meant and any(c["code"] == meant for c in q["candidates"]):
            judged = access_matching.judge(store, "张经办", q["id"], linking.SAME, meant, "法院函复核实（演示）")
            break
    if judged is not None:
        lines.append(
            f"张经办 judged review #{judged['review_id']} the same as {judged['name']}: {judged['stored']} held row "
            f"stored; later rows with that name and region are linked without asking"
        )
    left = access_matching.queue(store, "张经办")["questions"]
    lines.append(
        f"{len(left)} questions wait for 张经办 (泉州): 'supervise match review --as 张经办' or the console's 待核对主体 page"
    )
    return {"name": "matching", "title": "Records without a USCC", "lines": lines}
