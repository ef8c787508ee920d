"""Work the console hands to a worker process: rule evaluation and plan drawing never run in a web request.

A route calls :func:`submit` (the job is stored, queued) and :func:`spawn` (a process ``python -m
engine.pipeline.jobs DATABASE JOB`` runs it and stores its result or error); the page reads the job back until it
is done. Kinds:

* ``simulate`` — a draft pack (the uploaded YAML) against the register and a stored cycle (:func:`simulate`);
  nothing but the job's result is stored.
* ``plan_draw`` — an inspection plan of a cycle from a seed **announced before** the job was submitted
  (:func:`announce_seed`; 双随机: the public can check the plan was not fitted to the seed).
* ``plan_verify`` — redraw a stored plan and compare (:func:`engine.plans.verify_plan`).

Who may: a reviewer or admin of an authority that runs the pack concerned (engine.access.guard).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import Any

from engine import plans
from engine.access import AccessRefused, guard, users
from engine.access.users import User
from engine.errors import SupervisionError
from engine.pipeline.simulate import simulate
from engine.results import DictResult
from engine.store import Store, audit
from engine.store import cycles as cycles_q
from engine.store import jobs as q

KINDS = ("simulate", "plan_draw", "plan_verify")
KIND_NAMES = {"simulate": "政策包草案模拟", "plan_draw": "抽取检查计划", "plan_verify": "核验检查计划"}
MAX_DRAFT_BYTES = 2 * 1024 * 1024


class Announced(DictResult):
    """announce_seed: announcement_id, cycle_id, seed, source."""

    def lines(self) -> list[str]:
        return [
            f"Seed '{self['seed']}' announced for cycle {self['cycle_id']} ({self['source']}); a plan may now be "
            f"drawn from it: supervise plan draw --cycle {self['cycle_id']} --seed {self['seed']}"
        ]


class JobError(SupervisionError):
    """A job that cannot be submitted: the sentence names the field and the fix."""


def _user(conn, who: User | str) -> User:
    user = who if isinstance(who, User) else users.get(conn, who)
    guard.require_role(user, "simulate_and_plan")
    return user


def _cycle_pack(conn, user: User, cycle_id: int) -> dict[str, Any]:
    cycle = cycles_q.get_cycle(conn, cycle_id)  # CycleNotFound names the id
    guard.require_pack(user, cycle["pack_id"])
    return cycle


def announce_seed(conn, who: User | str, cycle_id: int, seed: str, source: str) -> dict[str, Any]:
    """Record a plan's seed made public before the draw, with where the public reads it."""
    user = _user(conn, who)
    seed, source = (seed or "").strip(), (source or "").strip()
    if not seed or len(seed) > 128:
        raise JobError("随机种子必填，不超过128个字符（例如当期福彩3D开奖号码加公告日期）。")
    if not source:
        raise JobError("请写明种子的公开出处（例如：中国福利彩票3D第2026150期开奖号码，2026年6月5日公布）。")
    _cycle_pack(conn, user, cycle_id)
    if q.announced(conn, cycle_id, seed):
        raise JobError(f"种子“{seed}”已为周期{cycle_id}公告过，不需要再公告。")
    announcement_id = q.insert_announcement(conn, cycle_id, seed, source, user.name)
    audit(conn, user.name, "plan.announce_seed", f"cycle:{cycle_id}", seed=seed, source=source)
    return Announced({"announcement_id": announcement_id, "cycle_id": cycle_id, "seed": seed, "source": source})


def submit(conn, who: User | str, kind: str, params: dict[str, Any]) -> int:
    """Check the request and queue the job; its id. Nothing is evaluated here."""
    user = _user(conn, who)
    if kind == "simulate":
        text = params.get("draft_yaml")
        if not isinstance(text, str) or not text.strip():
            raise JobError("请选择要模拟的政策包草案（YAML文件）。")
        if len(text.encode("utf-8")) > MAX_DRAFT_BYTES:
            raise JobError(f"政策包草案超过{MAX_DRAFT_BYTES // 1048576} MB，请检查文件。")
        against = params.get("against")
        if against is not None:
            _cycle_pack(conn, user, int(against))
    elif kind == "plan_draw":
        cycle = _cycle_pack(conn, user, int(params["cycle_id"]))
        found = q.announced(conn, cycle["id"], str(params.get("seed") or ""))
        if found is None:
            raise JobError(
                f"种子“{params.get('seed')}”未为周期{cycle['id']}事先公告：先公告种子及其公开出处，再抽取计划。"
            )
        per_check = int(params.get("per_check") or 2)
        if not 2 <= per_check <= 5:
            raise JobError("每户检查人员数为2至5人（双随机要求至少两名执法人员）。")
        params = {**params, "cycle_id": cycle["id"], "announcement_id": found["id"], "per_check": per_check}
    elif kind == "plan_verify":
        params = {"plan_id": int(params["plan_id"])}
    else:
        raise JobError(f"No job kind '{kind}': one of {', '.join(KINDS)}.")
    job_id = q.insert_job(conn, kind, params, user.name)
    audit(conn, user.name, f"job.{kind}", f"job:{job_id}")
    return job_id


_workers: dict[int, subprocess.Popen] = {}  # job id -> its worker process, until it has ended and been reaped
_workers_lock = threading.Lock()


def spawn(store: Store, job_id: int) -> subprocess.Popen:
    """Run the job in a process of its own (the web server's threads never evaluate rules). Workers that have
    ended are reaped here, so a long-running server leaves no zombie processes."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine.pipeline.jobs", store.url, str(job_id)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    with _workers_lock:
        for done in [i for i, w in _workers.items() if w.poll() is not None]:
            del _workers[done]
        _workers[job_id] = worker
    return worker


def wait(job_id: int, timeout: float) -> int | None:
    """Wait until the worker this process spawned for the job has ended; its exit status (None when this process
    spawned none for it). TimeoutExpired after ``timeout`` seconds."""
    with _workers_lock:
        worker = _workers.get(job_id)
    if worker is None:
        return None
    status = worker.wait(timeout=timeout)
    with _workers_lock:
        _workers.pop(job_id, None)
    return status


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def run(store: Store, job_id: int) -> dict[str, Any] | None:
    """Run a queued job here and store its result or error; the finished job (None if it was not queued)."""
    with store.transaction() as conn:
        job = q.claim(conn, job_id)
    if job is None:
        return None
    result: dict[str, Any] | None = None
    error: str | None = None
    params = job["params"]
    temporary = ""
    try:
        if job["kind"] == "simulate":
            with tempfile.TemporaryDirectory(prefix="supervise-draft-") as folder:
                name = pathlib.PurePath(str(params.get("filename") or "draft.yaml")).name
                path = pathlib.Path(folder) / (name if name.endswith((".yaml", ".yml")) else name + ".yaml")
                path.write_text(params["draft_yaml"], encoding="utf-8")
                temporary = str(path)
                as_of = params.get("as_of")
                sim = simulate(store, str(path), params.get("against"), _date(as_of))
                result = _plain(sim.to_json())
                result["policy"]["file"] = name
        elif job["kind"] == "plan_draw":
            drawn = plans.draw_plan(
                store, params["cycle_id"], params["seed"], params["per_check"], actor=job["created_by"]
            )
            result = _plain(drawn.to_json() if hasattr(drawn, "to_json") else dict(drawn))
        else:
            verified = plans.verify_plan(store, params["plan_id"])
            result = _plain(verified.to_json() if hasattr(verified, "to_json") else dict(verified))
    except SupervisionError as exc:  # a draft's problems name the uploaded file, not the worker's copy of it
        error = str(exc).replace(temporary, pathlib.Path(temporary).name) if temporary else str(exc)
    except Exception:  # the job's page shows it; the worker never dies silently
        error = "内部错误：" + traceback.format_exc(limit=3)
    with store.transaction() as conn:
        q.finish(conn, job_id, result, error)
        return q.get_job(conn, job_id)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def get(conn, who: User | str, job_id: int) -> dict[str, Any]:
    user = who if isinstance(who, User) else users.get(conn, who)
    job = q.get_job(conn, job_id)
    if job is None:
        raise JobError(f"There is no job {job_id}.")
    if job["created_by"] != user.name and user.role != "admin":
        raise AccessRefused(f"{user.name}只能查看自己提交的任务；任务{job_id}由{job['created_by']}提交。")
    return job


def main(argv: list[str]) -> int:
    url, job_id = argv[0], int(argv[1])
    run(Store(url), job_id)
    return 0


if __name__ == "__main__":  # pragma: no cover - the spawned worker
    raise SystemExit(main(sys.argv[1:]))
