"""The console's HTTP behaviour on SQLite and PostgreSQL: login and its CSRF token, redirects to the login page,
CSRF-less POSTs refused, a session reused after logout refused, 403 outside the user's region, form errors next to
their field, the queue's htmx partial, a notice's PDF, and a decision in two steps."""

from __future__ import annotations

import re

import sqlalchemy as sa

from engine.store import schema
from lists import lifecycle
from tests.console.conftest import CSRF


def _field_error(html: str, field_id: str) -> str:
    """The error paragraph inside the form field holding the input ``field_id``."""
    m = re.search(
        rf'<div class="field invalid">\s*<label for="{field_id}">[^<]*</label>.*?<p class="error"[^>]*>([^<]+)</p>',
        html,
        re.S,
    )
    assert m, f"no error next to field {field_id}"
    return m.group(1)


def test_every_page_but_login_redirects_to_login_with_next(browser, world):
    for path in ("/", "/entities/91350100000000017X", "/cycles", "/objections/1", "/notices/1.pdf"):
        r = browser.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")
    assert (
        browser.get("/?list=samr-credit%2Fblack").headers["location"]
        == "/login?next=%2F%3Flist%3Dsamr-credit%252Fblack"
    )
    assert browser.get("/login").status_code == 200
    assert browser.get("/static/htmx.min.js").status_code == 200
    assert browser.get("/api/v1/health").json()["status"] == "ok"  # the check API stays as it was


def test_login_form_carries_a_csrf_token_and_a_post_without_it_is_refused(browser, world):
    page = browser.get("/login")
    token = CSRF.search(page.text).group(1)
    assert page.cookies.get("supervise_login_csrf") == token
    refused = browser.client.post("/login", data={"name": "张经办", "password": "secret12345"})
    assert refused.status_code == 403 and "安全令牌" in refused.text
    wrong = browser.client.post("/login", data={"name": "张经办", "password": "secret12345", "csrf": "x" + token})
    assert wrong.status_code == 403
    assert "supervise_session" not in browser.client.cookies


def test_login_errors_are_next_to_their_field(browser, world):
    token = CSRF.search(browser.get("/login").text).group(1)
    empty = browser.client.post("/login", data={"name": "", "password": "", "csrf": token})
    assert empty.status_code == 422
    assert _field_error(empty.text, "name") == "请输入用户名。"
    assert _field_error(empty.text, "password") == "请输入密码。"
    bad = browser.client.post("/login", data={"name": "张经办", "password": "wrong-pass-1", "csrf": token})
    assert bad.status_code == 422
    assert _field_error(bad.text, "password") == "用户名或密码不正确，或该账号已停用。"
    assert 'value="张经办"' in bad.text  # the name stays typed in


def test_login_sets_a_strict_http_only_cookie_and_opens_the_queue(browser, world, store):
    r = browser.login("张经办", next_="/cycles")
    assert r.status_code == 303 and r.headers["location"] == "/cycles"
    cookie = r.headers["set-cookie"]
    assert (
        "supervise_session=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    token = browser.client.cookies["supervise_session"]
    with store.read() as conn:
        stored = [row.token_hash for row in conn.execute(schema.console_sessions.select())]
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64  # only its SHA-256
    home = browser.get("/")
    assert home.status_code == 200
    assert "张经办" in home.text and "经办人" in home.text and "福州市市场监督管理局" in home.text
    assert "待处理异议" in home.text and "待送达列入前告知书" in home.text


def test_an_outside_next_is_not_followed(browser, world):
    for target in ("//evil.example/", "/\t/evil.example/", "https://evil.example/", "/\\evil.example"):
        browser.client.cookies.clear()
        r = browser.login("张经办", next_=target)
        assert r.headers["location"] == "/", target


def test_a_post_without_a_session_goes_to_the_login_page(browser, world):
    r = browser.post(f"/objections/{world['objection']}/propose", {"choice": "reject", "reason": "x"}, csrf=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"


def test_a_post_without_the_session_csrf_token_is_refused(browser, world):
    browser.login("张经办")
    r = browser.post("/logout", csrf=False)
    assert r.status_code == 403 and "安全令牌" in r.text
    assert browser.get("/").status_code == 200  # still logged in
    by_header = browser.client.post("/logout", headers={"X-CSRF-Token": browser.csrf})
    assert by_header.status_code == 303  # the htmx form of the token


def test_a_session_reused_after_logout_is_refused(browser, world, store):
    browser.login("张经办")
    token = browser.client.cookies["supervise_session"]
    r = browser.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    browser.client.cookies.set("supervise_session", token)  # the old cookie sent again
    again = browser.get("/")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    with store.read() as conn:
        assert all(row.ended_at is not None for row in conn.execute(schema.console_sessions.select()))


def test_an_entity_outside_the_users_region_is_403_with_the_rule(browser, world):
    browser.login("泉州经办")
    code = world["codes"][0]
    r = browser.get(f"/entities/{code}")
    assert r.status_code == 403
    assert "只能办理泉州市登记的主体" in r.text and "福建省福州市" in r.text
    assert world["codes"][0] not in browser.get("/").text  # nor in its queue
    assert browser.get(f"/objections/{world['objection']}").status_code == 403


def test_entity_page_shows_register_tiers_timeline_and_notice_pdf(browser, world, store):
    browser.login("张经办")
    r = browser.get(f"/entities/{world['codes'][0]}")
    assert r.status_code == 200
    assert "福建省福州市" in r.text and "严重违法失信名单" in r.text
    assert "送达列入前告知书" in r.text and "提出异议" in r.text
    pdf_link = re.search(r'href="(/notices/\d+\.pdf)"', r.text).group(1)
    pdf = browser.get(pdf_link)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert browser.get("/notices/99999.pdf").status_code == 404


def test_queue_filter_by_deadline_validates_and_answers_htmx_with_the_table(browser, world):
    browser.login("张经办")
    bad = browser.get("/?deadline=within&days=abc")
    assert bad.status_code == 422
    assert _field_error(bad.text, "f-days") == "请输入0至366之间的天数。"
    partial = browser.get("/?deadline=overdue", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section id="queue">') and "<html" not in partial.text
    listed = browser.get("/?list=samr-credit%2Fblack")
    assert "待处理异议" in listed.text


def test_objection_in_two_steps_with_form_errors_next_to_the_field(browser, world, store):
    oid = world["objection"]
    browser.login("张经办")
    page = browser.get(f"/objections/{oid}")
    assert page.status_code == 200 and "处罚决定已申请行政复议" in page.text
    empty = browser.post(f"/objections/{oid}/propose", {"choice": "reject", "reason": ""})
    assert empty.status_code == 422
    assert _field_error(empty.text, "reason") == "请写明理由（所依据的事实和规定）。"
    done = browser.post(f"/objections/{oid}/propose", {"choice": "reject", "reason": "复议不停止执行，异议不成立"})
    assert done.status_code == 303
    mine = browser.get(f"/objections/{oid}")
    assert "待审核" in mine.text and "提交审核" not in mine.text  # no one reviews their own proposal
    reviewer = type(browser)(store)
    reviewer.login("李审核")
    case = reviewer.get(f"/objections/{oid}")
    assert "提交审核" in case.text
    action = re.search(r'action="(/proposals/\d+/review)"', case.text).group(1)
    missing = reviewer.post(action, {"outcome": "return", "reason": "", "back": f"/objections/{oid}"})
    assert missing.status_code == 422
    assert _field_error(missing.text, "review-reason") == "退回时请写明理由。"
    preview_url = action.replace("/review", "/preview")
    assert browser.get(preview_url).status_code == 403  # the proposer does not review, nor preview
    with store.read() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(schema.notices)).scalar_one()
    preview = reviewer.get(preview_url, headers={"HX-Request": "true"})
    assert preview.status_code == 200 and "<iframe" in preview.text
    previewed = re.findall(r'<iframe class="notice-preview" title="([^"]+)"', preview.text)
    assert previewed  # rejecting after the window lists the entry at once: its repair instructions go out
    with store.read() as conn:  # nothing of the preview stayed
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.notices)).scalar_one() == before
        assert lifecycle.load_one(conn, 1, lock=False).event("objection_rejected") is None
    approved = reviewer.post(action, {"outcome": "approve", "back": f"/objections/{oid}"})
    assert approved.status_code == 303
    with store.read() as conn:  # the approval issued what the preview showed, under the same numbers
        issued = conn.execute(sa.select(schema.notices.c.number).where(schema.notices.c.id > before)).scalars()
        assert sorted(issued) == sorted(previewed)
    with store.read() as conn:
        entry = lifecycle.load_one(conn, 1, lock=False)
    assert entry.event("objection_rejected")["data"]["signed"]["approved_by"] == "李审核"
    after = reviewer.get(f"/objections/{oid}")
    assert "审核通过" in after.text and "异议不成立" in after.text


def test_repair_case_page_shows_what_is_unmet_and_the_earliest_date(browser, world):
    browser.login("张经办")
    r = browser.get(f"/repairs/{world['application']}")
    assert r.status_code == 200
    assert "已满最短公示期" in r.text and "不满足" in r.text and "不符合修复条件" in r.text
    assert "未满足，最早于2026年5月22日满足" in r.text  # 12 months after listing (2025-05-22)
    assert "未提交信用承诺书" in r.text
    assert "提交初审意见" not in r.text  # a refused application needs no decision


def test_cycle_pages(browser, world):
    browser.login("张经办")
    assert "市场监管信用分级分类监管（2026版）" in browser.get("/cycles").text  # the pack's title, not its id
    page = browser.get(f"/cycles/{world['cycle']}")
    assert page.status_code == 200 and "监管周期" in page.text


PDF = b"%PDF-1.4\n% a one-line test document\n%%EOF\n"


def test_clerk_records_an_objection_with_an_uploaded_pdf_and_bad_input_is_told_at_the_field(browser, world, store):
    browser.login("张经办")
    code = world["codes"][1]  # entry 2: awaiting its pre-listing notice
    future = browser.post(
        "/entries/2/objections", {"reason": "已整改", "filed_on": "2999-01-01"}, files={"files": ("a.pdf", PDF)}
    )
    assert future.status_code == 422
    assert "日期不能晚于今天" in _field_error(future.text, "filed-on-2")
    text = browser.post("/entries/2/objections", {"reason": "已整改"}, files={"files": ("说明.txt", b"plain text")})
    assert text.status_code == 422
    assert (
        _field_error(text.text, "objection-files-2") == "文件“说明.txt”不是PDF、PNG或JPEG文件：只接受这三种格式的材料。"
    )
    empty = browser.post("/entries/2/objections", {"reason": " "})
    assert _field_error(empty.text, "objection-reason-2") == "请写明异议的事实和理由。"
    ok = browser.post("/entries/2/objections", {"reason": "罚款已于处罚前缴清"}, files={"files": ("缴款凭证.pdf", PDF)})
    assert ok.status_code == 303 and ok.headers["location"].startswith("/objections/")
    case = browser.get(ok.headers["location"])
    assert "缴款凭证.pdf" in case.text and "罚款已于处罚前缴清" in case.text
    with store.read() as conn:
        [row] = conn.execute(sa.select(schema.attachments)).mappings().all()
    assert row["content"] == PDF and row["uploaded_by"] == "张经办"
    assert browser.get(f"/entities/{code}").status_code == 200


def test_listing_proposed_on_the_entity_page_and_approved_there_by_a_reviewer(browser, world, store):
    browser.login("张经办")
    code = world["codes"][1]
    r = browser.post("/entries/2/serve")
    assert r.status_code == 303 and r.headers["location"] == f"/entities/{code}#entry-2"
    mine = browser.get(f"/entities/{code}").text
    assert "列入名单（送达列入前告知书）：张经办于" in mine and "待审核" in mine
    assert 'action="/entries/2/serve"' not in mine  # proposed once: no second proposal offered
    reviewer = type(browser)(store)
    reviewer.login("李审核")
    page = reviewer.get(f"/entities/{code}")
    action = re.search(r'action="(/proposals/\d+/review)"', page.text).group(1)
    done = reviewer.post(action, {"outcome": "approve", "back": f"/entities/{code}"})
    assert done.status_code == 303
    with store.read() as conn:
        assert lifecycle.load_one(conn, 2, lock=False).state == "notified"


def test_clerk_records_a_repair_application_and_sees_the_check(browser, world):
    browser.login("张经办")
    missing = browser.post("/entries/3/repairs", {"applicant": ""})
    assert _field_error(missing.text, "applicant-3") == "请填写申请人（主体或其代理人）。"
    r = browser.post(
        "/entries/3/repairs", {"applicant": "王五（委托代理人）"}, files={"commitment": ("承诺书.pdf", PDF)}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/repairs/")
    case = browser.get(r.headers["location"])
    assert "承诺书.pdf" in case.text and "修复条件核查" in case.text


def test_console_errors_are_pages_and_the_apis_stay_json(browser, world):
    browser.login("张经办")
    missing = browser.get("/no-such-page")
    assert missing.status_code == 404 and "没有这个页面" in missing.text and "<html" in missing.text
    bad_id = browser.get("/objections/abc")
    assert bad_id.status_code == 404 and "编号有误" in bad_id.text
    api = browser.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.json() == {"error": "Not Found"}
    unsigned = browser.client.post("/api/v1/checks", json={})
    assert unsigned.status_code in (401, 422) and "error" in unsigned.json()


def test_an_htmx_request_of_an_ended_session_reloads_to_the_login_page(browser, world):
    r = browser.get("/?deadline=overdue", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/login?next=")


def test_a_repair_from_filing_to_removal_in_two_steps(browser, world, store):
    """Entry 3 was listed in May 2025; its penalty was fulfilled on 2025-08-01: a year on, with the commitment,
    the training certificate and the credit report, the application is eligible; the clerk proposes, the
    reviewer approves, the entry is removed (repaired)."""
    browser.login("张经办")
    files = [
        ("commitment", ("信用承诺书.pdf", PDF)),
        ("training", ("培训证明.pdf", PDF)),
        ("credit_report", ("信用报告.pdf", PDF)),
    ]
    r = browser.post("/entries/3/repairs", {"applicant": "泉州丙2食品有限公司"}, files=files)
    assert r.status_code == 303
    case_url = r.headers["location"]
    case = browser.get(case_url)
    assert "不满足" not in case.text and "提交初审意见" in case.text, case.text
    proposed = browser.post(f"{case_url}/propose", {"choice": "approve", "reason": "已履行处罚决定，修复条件均已满足"})
    assert proposed.status_code == 303
    reviewer = type(browser)(store)
    reviewer.login("李审核")
    queue = reviewer.get("/")
    assert "待审核" in queue.text and case_url in queue.text
    action = re.search(r'action="(/proposals/\d+/review)"', reviewer.get(case_url).text).group(1)
    assert reviewer.post(action, {"outcome": "approve", "back": case_url}).status_code == 303
    with store.read() as conn:
        entry = lifecycle.load_one(conn, 3, lock=False)
    assert entry.state == "repaired"
    assert entry.event("repaired")["data"]["signed"]["proposed_by"] == "张经办"
    page = reviewer.get(f"/entities/{world['codes'][2]}")
    assert "修复移出" in page.text and "信用修复，移出" in page.text and "移出名单决定书" in page.text
