"""The cycle page's work for a reviewer: simulate a draft pack, announce a seed, draw a plan — each run by a
worker process of its own (engine.pipeline.jobs), never in the web request; the job page shows the outcome."""

from __future__ import annotations

import os
import re

from engine.pipeline import jobs
from engine.store import jobs as jobs_q


def finished(store, job_id: int, seconds: float = 180) -> dict:
    """The job once the worker process the route spawned has ended (the test waits on that process), as the page
    reads it."""
    assert jobs.wait(job_id, timeout=seconds) == 0, f"job {job_id}'s worker failed"
    with store.read() as conn:
        job = jobs_q.get_job(conn, job_id)
    assert job is not None and job["status"] in ("done", "failed"), job
    return job


def job_id_of(answer) -> int:
    assert answer.status_code == 303, answer.text[-2000:]
    found = re.fullmatch(r"/jobs/(\d+)", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def test_a_reviewer_simulates_an_uploaded_draft_in_a_worker_and_reads_the_outcome(browser, world, store):
    cycle = world["cycle"]
    browser.login("李审核")
    page = browser.get(f"/cycles/{cycle}")
    assert "模拟政策包草案" in page.text and "公告种子" in page.text
    empty = browser.post(f"/cycles/{cycle}/simulate", files={"draft": ("草案.yaml", b"", "application/x-yaml")})
    assert empty.status_code == 422 and 'id="draft-error"' in empty.text and "请选择要模拟的政策包草案" in empty.text
    draft = (os.environ["SUPERVISE_POLICIES"] + "/samr-credit.yaml").encode()
    text = open(draft, "rb").read()
    job = job_id_of(
        browser.post(f"/cycles/{cycle}/simulate", files={"draft": ("草案.yaml", text, "application/x-yaml")})
    )
    done = finished(store, job)
    assert done["status"] == "done", done["error"]
    page = browser.get(f"/jobs/{job}")
    assert page.status_code == 200 and "状态：<strong>已完成</strong>" in page.text
    assert "草案：草案.yaml（samr-credit" in page.text and f"与第{cycle}号监管周期比较" in page.text
    assert "hx-trigger" not in page.text  # a finished job is no longer polled
    partial = browser.get(f"/jobs/{job}", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="job"') and "<html" not in partial.text
    broken = job_id_of(
        browser.post(
            f"/cycles/{cycle}/simulate", files={"draft": ("坏.yaml", b"id: samr-credit\nversions: [\n", "text/plain")}
        )
    )
    failed = finished(store, broken)
    assert failed["status"] == "failed" and failed["error"].startswith("坏.yaml:3: not valid YAML")
    assert "坏.yaml:3: not valid YAML" in browser.get(f"/jobs/{broken}").text


def test_seeds_are_announced_before_a_plan_and_a_clerk_may_do_neither(browser, world, store):
    cycle = world["cycle"]
    browser.login("张经办")
    page = browser.get(f"/cycles/{cycle}")
    assert page.status_code == 200 and "公告种子" not in page.text
    refused = browser.post(f"/cycles/{cycle}/seeds", {"seed": "2025150-385", "source": "福彩3D第2025150期"})
    assert refused.status_code == 403 and "张经办是经办人，不能模拟政策包草案或抽取检查计划" in refused.text
    browser.login("李审核")
    missing = browser.post(f"/cycles/{cycle}/seeds", {"seed": "2025150-385", "source": ""})
    assert missing.status_code == 422 and 'id="source-error"' in missing.text and 'value="2025150-385"' in missing.text
    unannounced = browser.post(f"/cycles/{cycle}/plans", {"seed": "other", "per_check": "2"})
    assert unannounced.status_code == 422 and "未为周期" in unannounced.text and 'id="plan-error"' in unannounced.text
    done = browser.post(f"/cycles/{cycle}/seeds", {"seed": "2025150-385", "source": "福彩3D第2025150期开奖号码"})
    assert done.status_code == 303
    page = browser.get(f"/cycles/{cycle}")
    assert "福彩3D第2025150期开奖号码" in page.text and "抽取检查计划" in page.text
    job = finished(store, job_id_of(browser.post(f"/cycles/{cycle}/plans", {"seed": "2025150-385", "per_check": "2"})))
    # the builders' register has no inspectors: the worker stores the plan library's own sentence
    assert job["status"] == "failed" and "内部错误" not in job["error"] and job["created_by"] == "李审核"
