"""The console in a real browser: ``supervise serve`` in a subprocess on a free port against a SQLite database
built by the tests' builders, driven by Playwright in Debian's Chromium (``executable_path``: nothing is
downloaded). A clerk logs in, reads the queue and an entity page, proposes an objection decision; a reviewer
approves it; a repair application goes from filing to removal; a clerk of another city is refused. Screenshots of each page go under a temporary directory (or
``SUPERVISE_CONSOLE_SHOTS`` when set). Without Chromium or Playwright the test skips, unless REQUIRE_BROWSER=1 or
REQUIRE_PG=1 (CI), where it fails."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from engine.service.keys import load_key
from tests.console.conftest import PW, build_world
from tests.lists.conftest import samr_office  # noqa: F401 (a fixture)

PDF = b"%PDF-1.4\n% a one-line test document\n%%EOF\n"
ROOT = pathlib.Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1" or os.environ.get("REQUIRE_PG") == "1"
pytestmark = pytest.mark.browser


def _missing(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"REQUIRE_BROWSER=1 (or REQUIRE_PG=1) but {why}")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(proc: subprocess.Popen, base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:  # the pause between polls, which also notices a server that died
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"supervise serve exited with {proc.returncode}")
    raise AssertionError("supervise serve did not answer /api/v1/health within the deadline")


@pytest.fixture
def server(sqlite_store, factory, samr_office, tmp_path, monkeypatch):  # noqa: F811
    """(base URL, the world) of a real ``supervise serve`` on the builders' register."""
    world = build_world(sqlite_store, factory, samr_office)
    key = tmp_path / "keys" / "service.key"
    monkeypatch.setenv("SUPERVISE_SERVICE_KEY", str(key))
    load_key(sqlite_store.url, create=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's code, whatever the venv's editable install is
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli import cli; cli()", "--db", sqlite_store.url, "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_health(proc, base, time.monotonic() + 60)
        yield base, world
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[test]')")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("no chromium on PATH (Debian: apt-get install chromium; make deps)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def test_clerk_and_reviewer_decide_an_objection_in_the_browser(server, chromium, tmp_path):
    from playwright.sync_api import expect

    base, world = server
    shots = pathlib.Path(os.environ.get("SUPERVISE_CONSOLE_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    oid = world["objection"]

    def login(page, name: str) -> None:
        page.goto(base + "/")
        expect(page.locator("h1")).to_have_text("登录")  # redirected to the login page
        page.fill("#name", name)
        page.fill("#password", PW)
        page.click("button[type=submit]")
        expect(page.locator(".user-name")).to_have_text(name)

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#name", "张经办")
    page.fill("#password", "wrong-password-1")
    page.click("button[type=submit]")
    expect(page.locator("#password-error")).to_have_text("用户名或密码不正确，或该账号已停用。")
    page.screenshot(path=str(shots / "01-login-error.png"), full_page=True)

    login(page, "张经办")
    expect(page.locator(".count-objection .n")).to_have_text("1")
    page.screenshot(path=str(shots / "02-queue.png"), full_page=True)
    page.select_option("#f-deadline", "overdue")  # htmx swaps the table in place
    expect(page).to_have_url(f"{base}/?list=&office=&deadline=overdue&days=")
    expect(page.locator(".count-objection .n")).to_have_text("1")  # its window ended on 2025-05-21
    page.screenshot(path=str(shots / "03-queue-overdue.png"), full_page=True)

    page.goto(f"{base}/entities/{world['codes'][0]}")
    expect(page.locator("h1")).to_contain_text("食品有限公司")
    expect(page.locator(".entries")).to_contain_text("送达列入前告知书")
    page.screenshot(path=str(shots / "04-entity.png"), full_page=True)

    page.goto(f"{base}/objections/{oid}")
    page.click("text=提交初审意见")
    expect(page.locator("#choice-error")).to_have_text("请选择处理意见。")
    expect(page.locator("#reason-error")).to_have_text("请写明理由（所依据的事实和规定）。")
    page.check("input[name=choice][value=reject]")
    page.fill("#reason", "复议期间不停止执行，异议不成立")
    page.click("text=提交初审意见")
    expect(page.locator(".proposal")).to_contain_text("待审核")
    page.screenshot(path=str(shots / "05-objection-proposed.png"), full_page=True)
    page.click("text=退出登录")
    expect(page.locator("h1")).to_have_text("登录")

    login(page, "李审核")
    expect(page.locator(".count-review .n")).to_have_text("1")
    page.goto(f"{base}/objections/{oid}")
    page.check("input[name=outcome][value=approve]")
    page.click("text=提交审核")
    expect(page.locator(".proposal")).to_contain_text("审核通过")
    expect(page.locator(".decided")).to_contain_text("异议不成立")
    page.screenshot(path=str(shots / "06-objection-approved.png"), full_page=True)
    page.click("text=退出登录")

    # a pre-listing notice served in two steps: entry 2 awaits its notice; the clerk proposes, the reviewer approves
    login(page, "张经办")
    page.goto(f"{base}/entities/{world['codes'][1]}")
    expect(page.locator("#entry-2 .state")).to_have_text("拟列入")
    page.click("#entry-2 >> text=提出列入（送达列入前告知书）初审意见")
    expect(page.locator("#entry-2")).to_contain_text("待审核")
    page.screenshot(path=str(shots / "07a-listing-proposed.png"), full_page=True)
    page.click("text=退出登录")
    login(page, "李审核")
    page.goto(f"{base}/entities/{world['codes'][1]}")
    page.check("#entry-2 input[name=outcome][value=approve]")
    page.click("#entry-2 >> text=提交审核")
    expect(page.locator("#entry-2 .state")).to_have_text("已告知")  # the entry's state on the page has changed
    expect(page.locator("#entry-2 .timeline")).to_contain_text("送达列入前告知书")
    page.screenshot(path=str(shots / "07b-listing-served.png"), full_page=True)
    page.click("text=退出登录")

    # a repair application from filing to removal: entry 3, listed in May 2025, its penalty fulfilled since
    login(page, "张经办")
    page.goto(f"{base}/entities/{world['codes'][2]}")
    page.click("text=登记信用修复申请")
    page.fill("#applicant-3", "泉州丙2食品有限公司")
    for field, name in (
        ("commitment", "信用承诺书.pdf"),
        ("training", "培训证明.pdf"),
        ("credit-report", "信用报告.pdf"),
    ):
        page.set_input_files(f"#{field}-3", {"name": name, "mimeType": "application/pdf", "buffer": PDF})
    page.click("text=登记申请并核查条件")
    expect(page.locator("table.conditions")).to_contain_text("已满最短公示期")
    expect(page.locator("tr.unmet")).to_have_count(0)
    page.check("input[name=choice][value=approve]")
    page.fill("#reason", "已履行处罚决定，修复条件均已满足")
    page.click("text=提交初审意见")
    expect(page.locator(".proposal")).to_contain_text("待审核")
    page.screenshot(path=str(shots / "08-repair-proposed.png"), full_page=True)
    repair_url = page.url
    page.click("text=退出登录")
    login(page, "李审核")
    page.goto(repair_url)
    page.click("text=预览将制发的文书")
    expect(page.locator("#preview iframe")).to_have_count(1)
    page.screenshot(path=str(shots / "09-repair-preview.png"), full_page=True)
    page.check("input[name=outcome][value=approve]")
    page.click("text=提交审核")
    expect(page.locator(".decided")).to_contain_text("准予修复")
    page.goto(f"{base}/entities/{world['codes'][2]}")
    expect(page.locator("#entry-3 .state")).to_have_text("修复移出")
    page.screenshot(path=str(shots / "10-entity-repaired.png"), full_page=True)
    context.close()

    other = chromium.new_context(locale="zh-CN")
    page = other.new_page()
    login(page, "泉州经办")
    page.goto(f"{base}/entities/{world['codes'][0]}")
    expect(page.locator(".refusal .message")).to_contain_text("只能办理泉州市登记的主体")
    page.screenshot(path=str(shots / "11-refused.png"), full_page=True)
    other.close()
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-login-error.png",
        "02-queue.png",
        "03-queue-overdue.png",
        "04-entity.png",
        "05-objection-proposed.png",
        "06-objection-approved.png",
        "07a-listing-proposed.png",
        "07b-listing-served.png",
        "08-repair-proposed.png",
        "09-repair-preview.png",
        "10-entity-repaired.png",
        "11-refused.png",
    ]
