"""Console jobs: the work a web route hands to a worker process (simulate a draft, draw or verify a plan)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.access import AccessRefused, users
from engine.pipeline import jobs
from engine.store import schema
from tests.pipeline.test_report import build_register, two_cycles
from tests.pipeline.test_simulate import STRICTER_A, draft

PW = "secret12345"


@pytest.fixture
def tax_staff(store):
    with store.transaction() as conn:
        users.add(conn, "吴审核", "泉税", "reviewer", PW, "admin")
        users.add(conn, "林经办", "泉税", "clerk", PW, "admin")
        users.add(conn, "市监审核", "泉市监", "reviewer", PW, "admin")


def test_a_simulation_runs_in_a_worker_process_and_stores_its_result(store, tmp_path, tax_staff):
    build_register(store)
    _, second = two_cycles(store)
    text = draft(tmp_path, *STRICTER_A).read_text(encoding="utf-8")
    with store.transaction() as conn:
        job_id = jobs.submit(conn, "吴审核", "simulate", {"draft_yaml": text, "filename": "草案.yaml"})
        assert jobs.get(conn, "吴审核", job_id)["status"] == "queued"
    worker = jobs.spawn(store, job_id)
    assert worker.wait(timeout=300) == 0  # the process's end is what the test waits on
    with store.read() as conn:
        job = jobs.get(conn, "吴审核", job_id)
    assert job["status"] == "done" and job["error"] is None and job["started_at"] and job["finished_at"]
    tiers = {t["tier"]: (t["against"], t["draft"]) for t in job["result"]["tiers"]}
    assert tiers["A"] == (10, 0) and tiers["B"] == (10, 20)
    assert job["result"]["against"]["cycle"] == second["cycle"] and job["result"]["policy"]["file"] == "草案.yaml"
    assert jobs.run(store, job_id) is None  # a finished job is never run again


def test_a_bad_draft_fails_with_the_packs_own_sentence_and_who_may_submit(store, tmp_path, tax_staff):
    build_register(store)
    two_cycles(store)
    with store.transaction() as conn:
        with pytest.raises(AccessRefused, match="林经办是经办人，不能模拟政策包草案或抽取检查计划"):
            jobs.submit(conn, "林经办", "simulate", {"draft_yaml": "id: x"})
        with pytest.raises(jobs.JobError, match="请选择要模拟的政策包草案"):
            jobs.submit(conn, "吴审核", "simulate", {"draft_yaml": "  "})
        with pytest.raises(AccessRefused, match="市监审核属泉州市市场监督管理局.*政策包tax-credit的名单不由该机关办理"):
            jobs.submit(conn, "市监审核", "simulate", {"draft_yaml": "id: x", "against": 1})
        job_id = jobs.submit(conn, "吴审核", "simulate", {"draft_yaml": "id: tax-credit\nversions: [\n"})
    done = jobs.run(store, job_id)
    assert done is not None and done["status"] == "failed" and done["result"] is None
    assert done["error"].startswith("draft.yaml:3: not valid YAML") and "/tmp" not in done["error"]
    with store.read() as conn, pytest.raises(AccessRefused, match="只能查看自己提交的任务"):
        jobs.get(conn, "市监审核", job_id)


def test_a_plan_is_drawn_only_from_a_seed_announced_before(store, tax_staff):
    build_register(store)
    first, _ = two_cycles(store)
    cycle = first["cycle"]
    with store.transaction() as conn:
        with pytest.raises(jobs.JobError, match="未为周期.*事先公告"):
            jobs.submit(conn, "吴审核", "plan_draw", {"cycle_id": cycle, "seed": "2026150-385"})
        with pytest.raises(jobs.JobError, match="公开出处"):
            jobs.announce_seed(conn, "吴审核", cycle, "2026150-385", " ")
        jobs.announce_seed(conn, "吴审核", cycle, "2026150-385", "中国福利彩票3D第2026150期开奖号码")
        with pytest.raises(jobs.JobError, match="已为周期.*公告过"):
            jobs.announce_seed(conn, "吴审核", cycle, "2026150-385", "again")
        with pytest.raises(jobs.JobError, match="2至5人"):
            jobs.submit(conn, "吴审核", "plan_draw", {"cycle_id": cycle, "seed": "2026150-385", "per_check": 1})
        job_id = jobs.submit(conn, "吴审核", "plan_draw", {"cycle_id": cycle, "seed": "2026150-385"})
        job = jobs.get(conn, "吴审核", job_id)
        assert job["params"]["announcement_id"] and job["params"]["per_check"] == 2
    with store.transaction() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.update(schema.seed_announcements).values(seed="fitted"))
