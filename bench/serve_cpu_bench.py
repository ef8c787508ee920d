"""CPU per check of the check service's application, in process (issue 16): no HTTP server, no client.

Calls the ASGI application of ``engine.service.api.create_app`` directly, ``--concurrency`` requests at a time on
one event loop (as a uvicorn worker runs them), with signed single-subject ``POST /api/v1/checks`` for random
registered codes, and prints the process's CPU seconds (user + system) per answered check, split by where they are
spent only as a whole (event loop and the check threads together), the wall time and the load average. What it
leaves out is uvicorn's HTTP parsing and the access log line (bench/serve_bench.py measures the whole server);
what it keeps is everything of the application: routing, the signature, validation, the check's statements,
the response. On a shared machine the CPU figure is the one to compare; the wall figure moves with the load.

The database must be one bench/serve_bench.py prepared (a register and a committed tax-credit cycle): run it once
first. Every check is written to the decision log as the service writes it (the bench's own app).

Example: .venv/bin/python bench/serve_cpu_bench.py --db postgresql://postgres@127.0.0.1:5432/supervise_serve_bench
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import pathlib
import random
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.store import Store, schema  # noqa: E402

PATH = "/api/v1/checks"


def sign(secret: str, method: str, path: str, ts: str, nonce: str, raw: bytes) -> str:
    text = f"{method}\n{path}\n{ts}\n{nonce}\n{hashlib.sha256(raw).hexdigest()}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def scope_of(app: dict, raw: bytes) -> dict:
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"x-app-key", app["app_key"].encode()),
        (b"x-timestamp", stamp.encode()),
        (b"x-nonce", nonce.encode()),
        (b"x-signature", sign(app["secret"], "POST", PATH, stamp, nonce, raw).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def call(asgi, scope: dict, raw: bytes) -> tuple[int, bytes]:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # a client that keeps the connection open
        return {"type": "http.disconnect"}

    status, chunks = 0, []

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await asgi(scope, receive, send)
    return status, b"".join(chunks)


async def run(asgi, app: dict, bodies: list[bytes], concurrency: int) -> tuple[int, dict[int, int]]:
    it = iter(bodies)
    ok, other = 0, {}

    async def lane() -> None:
        nonlocal ok
        for raw in it:
            status, data = await call(asgi, scope_of(app, raw), raw)
            if status == 200 and b'"check_id"' in data:
                ok += 1
            else:
                other[status] = other.get(status, 0) + 1
                if len(other) == 1 and other[status] == 1:
                    print(f"first non-200: {status} {data[:300]!r}")

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return ok, other


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's, as uvicorn's workers run (its "auto" loop), when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/supervise_serve_bench")
    ap.add_argument("--count", type=int, default=3000, help="single-subject checks measured")
    ap.add_argument("--warm", type=int, default=300, help="checks sent first, not measured")
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SUPERVISE_SERVICE_KEY"] = str(pathlib.Path(tmp) / "service.key")
        from engine.service import checks as service_checks
        from engine.service.api import create_app
        from engine.service.apps import add_app

        store = Store(args.db, serving=True)
        store.require_schema()
        with store.read() as conn:
            all_codes = list(conn.execute(sa.select(schema.entities.c.code).limit(20_000)).scalars())
        if not all_codes:
            raise SystemExit(f"No register in {args.db}: run bench/serve_bench.py on it first.")
        app = add_app(store, f"cpu-bench-{uuid.uuid4().hex[:6]}", "check", "市行政审批局")
        service_checks.warm_up()
        asgi = create_app(store)
        rnd = random.Random(args.seed)

        def body() -> bytes:
            doc = {
                "service_item": "invoice_supply",
                "subjects": [{"ref": "r0", "code": rnd.choice(all_codes)}],
                "requester": {"department": "市行政审批局", "case_no": "BENCH-1"},
                "as_of": "2026-04-30",
            }
            return json.dumps(doc, ensure_ascii=False).encode()

        loop = new_loop()
        try:
            loop.run_until_complete(run(asgi, app, [body() for _ in range(args.warm)], args.concurrency))
            bodies = [body() for _ in range(args.count)]
            cpu, wall = time.process_time(), time.perf_counter()
            ok, other = loop.run_until_complete(run(asgi, app, bodies, args.concurrency))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            loop.close()
            store.dispose()
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{ok:,} checks answered ({other or 'no other status'}), concurrency {args.concurrency}: "
            f"CPU {cpu:.2f} s = {cpu / max(ok, 1) * 1000:.3f} ms a check; wall {wall:.1f} s = {ok / wall:,.0f}/s; "
            f"load avg {load}"
        )


if __name__ == "__main__":
    main()
