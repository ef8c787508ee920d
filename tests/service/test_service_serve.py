"""`supervise serve` for real: uvicorn in a subprocess on a free port against the test database, called with the
README's ten-line client (its exact text) and answered from the committed cycle; the answer is in the log."""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import httpx

from engine.service.apps import add_app
from tests.service.conftest import check_body, check_count

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_client() -> str:
    section = README.read_text(encoding="utf-8").split("## Check service", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def readme_curl() -> str:
    section = README.read_text(encoding="utf-8").split("## Check service", 1)[1]
    return next(block for block in re.findall(r"```sh\n(.*?)```", section, re.S) if "curl" in block)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(proc: subprocess.Popen, base: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        try:
            return httpx.get(base + "/api/v1/health", timeout=1).json()
        except httpx.TransportError:
            pass
        try:  # the pause between polls, which also notices a server that died
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"supervise serve exited with {proc.returncode}")
    raise AssertionError("supervise serve did not answer /api/v1/health within the deadline")


def test_supervise_serve_answers_the_readme_client(world, key_file, tmp_path):
    store, codes = world
    app = add_app(store, "政务服务平台", "check")
    client_code = readme_client()
    assert len([line for line in client_code.splitlines() if line.strip()]) <= 10  # ten lines (ruff adds blanks)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")
    supervise = pathlib.Path(sys.executable).with_name("supervise")
    proc = subprocess.Popen(
        [str(supervise), "--db", store.url, "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SUPERVISE_SERVICE_KEY": str(key_file)},
    )
    try:
        health = wait_for_health(proc, base, time.monotonic() + 60)
        assert health == {"status": "ok", "schema_revision": "0009"}
        namespace: dict = {}
        exec(client_code, namespace)
        namespace.update(APP_KEY=app["app_key"], SECRET=app["secret"], BASE=base)
        response = namespace["signed_post"]("/api/v1/checks", check_body(codes["bad"], codes["good"]))
        assert response.status_code == 200, response.text
        assert [r["verdict"] for r in response.json()["results"]] == ["restricted", "incentive"]
        # The README's curl example, as written (its port made this server's), signs correctly too.
        script = readme_curl().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        env = {**os.environ, "APP_KEY": app["app_key"], "SECRET": app["secret"]}
        curl = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert curl.returncode == 0, curl.stderr
        assert json.loads(curl.stdout)["results"][0]["verdict"] == "needs_review"  # the README's code: not ours
        unsigned = httpx.post(base + "/api/v1/checks", json=check_body(codes["bad"]))
        assert unsigned.status_code == 401 and "missing" in unsigned.json()["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert check_count(store) == 2, (tmp_path / "serve.log").read_text()
