"""A register for the matching tests (issue 18): entities of 泉州 and 福州 named alike, a crosswalk, and a court's
file naming them every way a department does."""

from __future__ import annotations

from engine.register import crosswalk
from engine.register import entities as register
from engine.register.codes import make_reg_no, make_uscc
from policies import base_limits
from tests.conftest import write_csv

LIMITS = base_limits()


def matching_register(store, tmp_path) -> dict:
    """Entities of 泉州 (350503 丰泽, 350502 鲤城, 350524 安溪, 350582 晋江) and one of 福州 (350104)."""
    c = {
        "xc": make_uscc("91", "350503", "MA2XC001"),
        "xc_trade": make_uscc("91", "350502", "MA2XC002"),
        "hd": make_uscc("91", "350524", "MA2HD003"),
        "xy": make_uscc("91", "350582", "15489739"),
        "hl": make_uscc("91", "350104", "MA2TW005"),
        "hl2": make_uscc("91", "350111", "MA2TW006"),
    }
    rows = [
        {"code": c["xc"], "name": "泉州市祥诚物流有限公司", "legal_rep": "林强", "industry": "交通运输、仓储和邮政业"},
        {"code": c["xc_trade"], "name": "泉州市祥诚贸易有限公司", "legal_rep": "陈伟", "industry": "批发和零售业"},
        {"code": c["hd"], "name": "安溪县恒达茶业股份有限公司", "legal_rep": "王芳", "industry": "制造业"},
        {"code": c["xy"], "name": "晋江市新宇鞋业有限公司", "legal_rep": "蔡明", "industry": "制造业"},
        {"code": c["hl"], "name": "福州市华联商贸有限公司", "legal_rep": "刘洋", "industry": "批发和零售业"},
        {"code": c["hl2"], "name": "福州市华联商贸有限公司", "legal_rep": "郑敏", "industry": "批发和零售业"},
    ]
    register.import_entities(store, write_csv(tmp_path / "reg.csv", rows), LIMITS)
    c["hd_reg_no"] = make_reg_no("350524", 99)
    crosswalk.import_crosswalk(
        store, write_csv(tmp_path / "cw.csv", [{"code": c["hd"], "reg_no": c["hd_reg_no"], "changed_on": "2016-03-01"}])
    )
    return c


def court_rows(c: dict, **extra) -> list[dict]:
    """A court's 失信被执行人 file: one row per way a department names an entity."""
    row = {"kind": "external_list", "list": "court_dishonest", "authority": "泉州市中级人民法院"}
    rows = [
        row | {"code": c["xc"], "date": "2026-01-05"},  # USCC
        row | {"org_code": f"{c['hd'][8:16]}-{c['hd'][16]}", "date": "2026-01-06"},  # 组织机构代码 alone
        row | {"reg_no": c["hd_reg_no"], "date": "2026-01-07"},  # 注册号 (crosswalk)
        row | {"name": "祥誠物流有限公司", "region": "350503", "date": "2026-01-08"},  # 繁体, no prefix
        row | {"name": "福州华联商贸有限公司", "date": "2026-01-09"},  # two entities alike: review
        row | {"name": "泉州市祥城物流有限公司", "region": "350503", "date": "2026-01-10"},  # a typo: review
    ]
    return [r | extra for r in rows]
