"""The console's match review queue (issue 18): each authority sees and judges the questions of its region only; a
judgement stores the held records and is shown on the page; form errors are next to the choice. SQLite and
PostgreSQL."""

from __future__ import annotations

import re

import sqlalchemy as sa

from engine.register import entities as register
from engine.store import schema
from policies import record_kinds
from policies.loader import base_matching
from tests.builders_matching import court_rows, matching_register
from tests.conftest import write_csv
from tests.console.conftest import staff


def _world(store, tmp_path, office):
    codes = matching_register(store, tmp_path)
    register.import_records(
        store, write_csv(tmp_path / "court.csv", court_rows(codes)), record_kinds(), match=base_matching()
    )
    staff(store, office)  # 张经办 / 李审核 of 福州 (榕市监), 泉州经办 of 泉州
    with store.read() as conn:
        reviews = {r.source["name"]: r.id for r in conn.execute(sa.select(schema.match_reviews))}
    return codes, reviews["福州华联商贸有限公司"], reviews["泉州市祥城物流有限公司"]


def _records(store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.records)).scalar_one()


def test_each_authority_sees_its_own_questions_side_by_side(browser, store, tmp_path, samr_office):
    codes, fuzhou, quanzhou = _world(store, tmp_path, samr_office)
    assert browser.get("/matching").status_code == 303  # login first
    browser.login("张经办")
    page = browser.get("/matching")
    assert page.status_code == 200
    assert f'href="/matching/{fuzhou}"' in page.text and f'href="/matching/{quanzhou}"' not in page.text
    assert "得分相同" in page.text and "1条" in page.text
    one = browser.get(f"/matching/{fuzhou}")
    assert one.status_code == 200
    table = one.text[one.text.index('class="side-by-side"') :]
    assert "来源记录" in table and "候选1" in table and "候选2" in table
    assert codes["hl"] in table and codes["hl2"] in table and "刘洋" in table and "郑敏" in table
    assert "court.csv" in one.text and "其他部门名单" in one.text  # the held row and its kind's title
    for leak in ("None", "{{", "undefined"):
        assert leak not in one.text
    refused = browser.get(f"/matching/{quanzhou}")
    assert refused.status_code == 403 and "只能办理" in refused.text


def test_a_judgement_in_the_console_stores_the_held_records(browser, store, tmp_path, samr_office):
    codes, fuzhou, quanzhou = _world(store, tmp_path, samr_office)
    browser.login("张经办")
    before = _records(store)
    nothing = browser.post(f"/matching/{fuzhou}/judge", {"choice": ""})
    assert nothing.status_code == 422 and re.search(r'class="error" id="verdict-error">请选择核对意见', nothing.text)
    no_code = browser.post(f"/matching/{fuzhou}/judge", {"choice": "same:other", "code": ""})
    assert no_code.status_code == 422 and "统一社会信用代码" in no_code.text
    no_csrf = browser.post(f"/matching/{fuzhou}/judge", {"choice": f"same:{codes['hl2']}"}, csrf=False)
    assert no_csrf.status_code == 403
    elsewhere = browser.post(f"/matching/{quanzhou}/judge", {"choice": f"same:{codes['xc']}"})
    assert elsewhere.status_code == 403
    assert _records(store) == before
    done = browser.post(f"/matching/{fuzhou}/judge", {"choice": f"same:{codes['hl2']}", "note": "法院函复核实"})
    assert done.status_code == 303 and done.headers["location"] == f"/matching/{fuzhou}"
    assert _records(store) == before + 1
    page = browser.get(f"/matching/{fuzhou}")
    assert "已核对为同一主体，记录已入库" in page.text and "张经办判定是福州市华联商贸有限公司" in page.text
    assert "法院函复核实" in page.text and 'action="/matching/' not in page.text  # no form once judged
    assert f'href="/matching/{fuzhou}"' not in browser.get("/matching").text
