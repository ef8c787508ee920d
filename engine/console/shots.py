"""Screenshots of the console on a demo database, for a person to look at (``make demo`` writes them under
``out/console/``): the login page, a clerk's 待办 queue, an entity page with a returned proposal, a reviewer's queue
and the case awaiting review, the cycles page and a refusal for a clerk of another city.

It starts ``supervise serve`` on a free loopback port (the demo's packs in SUPERVISE_POLICIES, so each demo user's
authority is known), waits until ``/api/v1/health`` answers, and drives Debian's Chromium with Playwright
(``executable_path``: nothing is downloaded). Without Chromium or Playwright it says so and writes nothing; the
demo itself has finished by then.

Usage: python -m engine.console.shots --db sqlite:///out/demo.db --out out/console --policies out/packs
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from engine.pipeline.demo_people import DEMO_PASSWORD
from engine.service.keys import load_key
from engine.store import Store
from engine.store import people as people_q

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(proc: subprocess.Popen, base: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/v1/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:  # the pause between polls, which also notices a server that died
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"supervise serve exited with {proc.returncode} before answering")
    raise RuntimeError("supervise serve did not answer /api/v1/health in time")


def _subjects(url: str) -> dict[str, Any]:
    """Entity codes of the demo's proposals: one returned to 张经办, one awaiting 李审核's review."""
    store = Store(url)
    try:
        with store.read() as conn:
            returned = people_q.proposals(conn, "returned")
            pending = people_q.proposals(conn, "pending")
    finally:
        store.dispose()
    return {
        "returned": returned[0]["code"] if returned else None,
        "pending": pending[0]["code"] if pending else None,
    }


def take(url: str, out: pathlib.Path, policies: pathlib.Path | None = None) -> list[pathlib.Path]:
    """The screenshots (PNG paths). RuntimeError with the reason when they cannot be taken."""
    try:
        from playwright.sync_api import expect, sync_playwright  # heavy and optional: only for screenshots
    except ImportError as exc:
        raise RuntimeError("Playwright for Python is not installed (pip install -e '.[test]')") from exc
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("no chromium on PATH (make deps installs Debian's)")
    subjects = _subjects(url)
    load_key(url, create=True)  # the server's key file (beside the SQLite file), as `make serve` would create it
    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if policies is not None:
        env["SUPERVISE_POLICIES"] = str(policies)
    log = open(out / "serve.log", "wb")  # noqa: SIM115 - closed below, after the server stops
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli import cli; cli()", "--db", url, "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    written: list[pathlib.Path] = []
    try:
        _wait(proc, base)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
                page = context.new_page()

                def shot(name: str, full: bool = False) -> None:
                    """The window as a person sees it (a queue of hundreds of rows: its top); ``full``: the page."""
                    path = out / f"{len(written) + 1:02d}-{name}.png"
                    page.screenshot(path=str(path), full_page=full)
                    written.append(path)

                def login(name: str) -> None:
                    page.goto(base + "/login")
                    page.fill("#name", name)
                    page.fill("#password", DEMO_PASSWORD)
                    page.click("button[type=submit]")
                    expect(page.locator(".user-name")).to_have_text(name)

                def logout() -> None:
                    page.click("text=退出登录")
                    expect(page.locator("h1")).to_have_text("登录")

                page.goto(base + "/")
                expect(page.locator("h1")).to_have_text("登录")
                shot("login")
                login("张经办")
                shot("clerk-queue")
                if subjects["returned"]:
                    page.goto(f"{base}/entities/{subjects['returned']}")
                    expect(page.locator("h1")).to_be_visible()
                    shot("entity-returned-proposal", full=True)
                page.goto(base + "/cycles")
                shot("cycles")
                page.goto(base + "/matching")
                expect(page.locator("h1")).to_have_text("待核对主体")
                shot("match-queue")
                first = page.locator("table.matching a").first
                if first.count():
                    first.click()
                    expect(page.locator("table.side-by-side")).to_be_visible()
                    shot("match-review", full=True)
                logout()
                login("李审核")
                shot("reviewer-queue")
                if subjects["pending"]:
                    page.goto(f"{base}/entities/{subjects['pending']}")
                    expect(page.locator("h1")).to_be_visible()
                    shot("entity-awaiting-review", full=True)
                logout()
                login("陈经办")  # 福州's clerk on a 泉州 entity: refused with the rule
                if subjects["pending"]:
                    page.goto(f"{base}/entities/{subjects['pending']}")
                    expect(page.locator(".refusal")).to_be_visible()
                    shot("refused-other-city")
                context.close()
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="The demo database URL.")
    ap.add_argument("--out", required=True, help="Folder for the PNG files.")
    ap.add_argument("--policies", help="The demo's packs (out/packs): the authorities of its users.")
    args = ap.parse_args(argv)
    try:
        paths = take(args.db, pathlib.Path(args.out), pathlib.Path(args.policies) if args.policies else None)
    except RuntimeError as exc:
        print(f"console screenshots not taken: {exc}")
        return 0
    print(f"console screenshots: {len(paths)} pages in {args.out} ({', '.join(p.name for p in paths)})")
    return 0


if __name__ == "__main__":  # pragma: no cover - run by make demo
    raise SystemExit(main())
