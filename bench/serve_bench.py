"""Check service benchmark (issue 16): `supervise serve` under load on loopback, bounded in count and time.

Builds (or with --reuse keeps) a register of N entities (default 20,000) with bench/cycle_bench.py's generator, runs
a tax-credit cycle (2025, as of 2026-04-30) so every entity has a committed decision, adds an app with the scope
`check` (server key file in a temporary folder), starts ``supervise serve --workers W`` as a child process on a free
port and waits for ``GET /api/v1/health``. Then client processes (--clients, each with --threads keep-alive
connections, http.client) send correctly signed ``POST /api/v1/checks`` for random registered codes:

- phase ``single``: --count single-subject checks (or until --seconds);
- phase ``batch``: --batches checks of --batch subjects each (default 100), reported as subjects/s too;
- with --kill-after S: S seconds into the single phase one worker process of the server is killed with SIGKILL
  (uvicorn starts another); requests in flight on it fail (counted as errors, not as answers).

With --wrk both phases are sent by wrk (Debian's package; 2 threads, --connections 16, half for the batches) from
requests signed beforehand, so the load generator takes little CPU from the server; each wrk thread stops once
every check it sent is answered, so the log must hold exactly the answered checks.

Per phase it prints requests/s, p50, p99 and max latency, errors by kind, the load average, and after the run the
log check: the number of ``checks`` rows of the bench's app against the number of answered checks (without a kill
they must be equal; with one, every answered check id must be in the log and any extra row is a check committed
whose answer was lost with the killed worker), plus rows with an empty request or answer (must be 0).

Targets (issue 16), PostgreSQL, 2 workers, this 2-core machine: >= 500 single-subject checks/s with p99 < 50 ms;
batches of 100 at >= 5,000 subjects/s. The client runs on the same two cores as the server, so its CPU is counted
against the server's: the figures are for the pair.

Example: .venv/bin/python bench/serve_bench.py --db postgresql://postgres@127.0.0.1:5432/supervise_serve_bench --reuse
Example: .venv/bin/python bench/serve_bench.py --db sqlite:////tmp/supervise_serve_bench.db --workers 1 --reuse
Example: .venv/bin/python bench/serve_bench.py --db postgresql://postgres@127.0.0.1:5432/supervise_serve_bench \
    --reuse --kill-after 3

The benchmark owns the database it is given (emptied and rebuilt unless --reuse finds a register of the same size).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import pathlib
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402

from engine.store import Store, schema  # noqa: E402

AS_OF = dt.date(2026, 4, 30)


def sign(secret: str, method: str, path: str, ts: str, nonce: str, raw: bytes) -> str:
    text = f"{method}\n{path}\n{ts}\n{nonce}\n{hashlib.sha256(raw).hexdigest()}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


# -- set-up ----------------------------------------------------------------------------------------------------


def prepare(url: str, n: int, seed: int, reuse: bool) -> None:
    import cycle_bench

    from engine.pipeline.cycles import run_cycle
    from engine.store import cycles as qc

    size = cycle_bench.register_size(url) if reuse else None
    if size is None or size[0] != n:
        t = time.perf_counter()
        cycle_bench.build(url, n, seed)
        print(f"register: {n:,} entities built in {time.perf_counter() - t:.1f} s")
    else:
        print(f"register: {n:,} entities reused")
    store = Store(url)
    store.init()
    with store.read() as conn:
        have = qc.current_cycles(conn, AS_OF)
    if "tax-credit" not in have:
        t = time.perf_counter()
        run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
        print(f"cycle: tax-credit 2025 in {time.perf_counter() - t:.1f} s")
    if store.dialect == "postgresql":
        # As a served database has them (autovacuum analyzes a table once enough of it changed): without
        # statistics on the tables a cycle just filled, PostgreSQL plans the check's list-entry lookup as a scan of
        # every list event (3 ms instead of 0.05 ms a check).
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    store.dispose()


def codes(url: str, k: int, seed: int) -> list[str]:
    store = Store(url)
    with store.read() as conn:
        all_codes = list(conn.execute(sa.select(schema.entities.c.code)).scalars())
    store.dispose()
    return random.Random(seed).sample(all_codes, min(k, len(all_codes)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, workers: int, env: dict) -> subprocess.Popen:
    cmd = [
        str(pathlib.Path(sys.executable).parent / "supervise"),
        "--db",
        url,
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    log = open(pathlib.Path(env["BENCH_DIR"]) / "serve.log", "w")  # noqa: SIM115 (kept open for the child)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180  # a loaded machine: the workers load the packs first
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"supervise serve exited with {proc.returncode}; see {log.name}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/v1/health")
            if c.getresponse().status == 200 and len(worker_pids(proc.pid)) >= (workers if workers > 1 else 0):
                return proc
        except OSError:
            pass
        time.sleep(0.2)  # waiting for a child process to listen: polled, bounded by the deadline
    raise SystemExit("supervise serve did not answer /api/v1/health within 180 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 for one that is gone), from /proc/PID/stat."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (stat's 14th and 15th)


def usage(server: subprocess.Popen | None, url: str | None) -> dict[tuple[str, int], float]:
    """CPU seconds so far of the serving process and its workers ("server", pid) and of the PostgreSQL processes
    serving the bench database's connections ("postgres", pid)."""
    out: dict[tuple[str, int], float] = {}
    if server is not None:
        for pid in [server.pid, *worker_pids(server.pid)]:
            out["server", pid] = cpu_seconds(pid)
    for pid in backend_pids(url) if url else []:
        out["postgres", pid] = cpu_seconds(pid)
    return out


def spent(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> dict[str, float]:
    """CPU seconds of each kind between two :func:`usage` snapshots (a process started in between counts whole)."""
    out = {"server": 0.0, "postgres": 0.0}
    for key, cpu in after.items():
        out[key[0]] += cpu - before.get(key, 0.0)
    return out


def cpu_line(cpu: dict[str, float], answered: int) -> str:
    if not answered:
        return ""
    per = {k: v / answered * 1000 for k, v in cpu.items()}
    return (
        f"; CPU per check: server {per['server']:.2f} ms ({cpu['server']:.1f} s), PostgreSQL backends "
        f"{per['postgres']:.2f} ms ({cpu['postgres']:.1f} s)"
    )


def backend_pids(url: str) -> list[int]:
    """PostgreSQL: the server processes of the connections to the bench's database (the workers' pools); none on
    SQLite."""
    if not url.startswith("postgresql"):
        return []
    store = Store(url)
    with store.read() as conn:
        pids = list(
            conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )
    store.dispose()
    return pids


def worker_pids(pid: int) -> list[int]:
    """The uvicorn worker processes (children of the serving process that are not its multiprocessing helpers)."""
    out = []
    for child in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = pathlib.Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            out.append(int(child))
    return out


# -- the client ------------------------------------------------------------------------------------------------


def client(port: int, app_key: str, secret: str, bodies: list[bytes], threads: int, until: float, q) -> None:
    """One client process: ``threads`` keep-alive connections sending the bodies round robin until they are used
    up or ``until`` (monotonic); puts (latencies, answered check ids, errors by kind) on ``q``."""
    lock = threading.Lock()
    it = iter(bodies)
    lat: list[float] = []
    answered: list[int] = []
    errors: dict[str, int] = {}

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < until:
            with lock:
                raw = next(it, None)
            if raw is None:
                break
            stamp, nonce = str(int(time.time())), uuid.uuid4().hex
            headers = {
                "Content-Type": "application/json",
                "X-App-Key": app_key,
                "X-Timestamp": stamp,
                "X-Nonce": nonce,
                "X-Signature": sign(secret, "POST", "/api/v1/checks", stamp, nonce, raw),
            }
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/checks", body=raw, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            took = time.perf_counter() - t
            with lock:
                if r.status == 200:
                    lat.append(took)
                    answered.append(json.loads(data)["check_id"])
                else:
                    errors[f"HTTP {r.status}"] = errors.get(f"HTTP {r.status}", 0) + 1
        conn.close()

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put((lat, answered, errors))


def phase(name, port, app, bodies, clients, threads, seconds, server=None, kill_after=None, db=None) -> dict:
    ctx = mp.get_context("fork")
    cpu_before = usage(server, db)
    q = ctx.Queue()
    share = [bodies[i::clients] for i in range(clients)]
    t0 = time.perf_counter()
    until = time.monotonic() + seconds
    procs = [
        ctx.Process(target=client, args=(port, app["app_key"], app["secret"], share[i], threads, until, q))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    killed = None
    if kill_after is not None and server is not None:
        time.sleep(kill_after)  # the kill is a fault injected at a point in time on purpose, not a synchronisation
        pids = worker_pids(server.pid)
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    cpu = spent(cpu_before, usage(server, db))
    lat = sorted(x for r in results for x in r[0])
    answered = [c for r in results for c in r[1]]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r[2].items():
            errors[k] = errors.get(k, 0) + v
    return {
        "name": name,
        "wall": wall,
        "lat": lat,
        "answered": answered,
        "errors": errors,
        "killed": killed,
        "cpu": cpu,
    }


def logged_since(url: str, app_id: int, after: int) -> tuple[int, int, float]:
    """(highest log id, rows, seconds from the first to the last one's requested_at) of the app's log rows with an
    id above ``after``."""
    C = schema.checks
    store = Store(url)
    with store.read() as conn:
        top, n, first, last = conn.execute(
            sa.select(
                sa.func.max(C.c.id), sa.func.count(), sa.func.min(C.c.requested_at), sa.func.max(C.c.requested_at)
            ).where(C.c.app_id == app_id, C.c.id > after)
        ).one()
    store.dispose()
    return top or after, n, (last - first).total_seconds() if n > 1 else 0.0


def wrk_phase(name, port, app, bodies, threads, connections, seconds, subjects=1, db=None, server=None) -> dict:
    """The same checks sent by wrk (C, event loop: far less CPU per request than Python clients), each request
    signed beforehand with its own nonce and a timestamp inside the replay window, each sent once. A thread that has
    sent its share sends ``GET /api/v1/health`` (logged nowhere) every 100 ms on the connections that wait, and
    stops when every check it sent has its answer (or after 30 such health checks per connection: about 3 s), so
    that no check is in flight when wrk stops: the log then holds exactly the answered checks. wrk runs for its -d
    whatever its threads do, so the rate is taken from the log: the rows the phase added over the time from the
    first one's requested_at to the last one's. Answers are counted in the script's response() callback: 200 with
    a check_id, or another status (a refusal or a 503)."""
    path = "/api/v1/checks"
    now = str(int(time.time()))
    lines = ["local reqs = {"]
    for raw in bodies:
        nonce = uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "X-App-Key": app["app_key"],
            "X-Timestamp": now,
            "X-Nonce": nonce,
            "X-Signature": sign(app["secret"], "POST", path, now, nonce, raw),
        }
        lua_headers = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
        text = raw.decode().replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'  {{ {{ {lua_headers} }}, "{text}" }},')
    lines.append("}")
    lines.append(
        """
local counter, per, first, finished, idle, verified = 0, 0, 0, 0, 0, false
ok, other = 0, 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function init(args)
  per = math.floor(#reqs / @THREADS@)
  first = (id - 1) * per
end
function delay()
  if counter >= per then
    return 100
  end
  return 0
end
function request()
  -- wrk calls the first thread's request() once before the run to look at it, and never sends that request
  if id == 1 and not verified then
    verified = true
    return wrk.format("GET", "/api/v1/health")
  end
  if counter >= per then
    return wrk.format("GET", "/api/v1/health")
  end
  counter = counter + 1
  local r = reqs[first + counter]
  return wrk.format("POST", "@PATH@", r[1], r[2])
end
function response(status, headers, body)
  if status == 200 and string.find(body, '"check_id"', 1, true) then
    ok = ok + 1
    finished = finished + 1
  elseif status == 200 and string.find(body, '"schema_revision"', 1, true) then
    idle = idle + 1
  else
    other = other + 1
    finished = finished + 1
  end
  if finished >= per or idle > @IDLE@ then
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local ok_, other_ = 0, 0
  for _, t in ipairs(threads) do
    ok_ = ok_ + t:get("ok")
    other_ = other_ + t:get("other")
  end
  io.write(string.format("WRK ok=%d other=%d requests=%d errors=%d p50=%.1f p99=%.1f max=%.1f seconds=%.2f\\n",
    ok_, other_, summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.duration / 1e6))
end
""".replace("@THREADS@", str(threads))
        .replace("@IDLE@", str(30 * connections // threads))
        .replace("@PATH@", path)
    )
    before = logged_since(db, app["id"], 0)[0]
    cpu_before = usage(server, db)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines))
        script = f.name
    try:
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "-s", script, f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        out = done.stdout
        if "WRK " not in out:
            print(f"wrk printed no summary:\n{out}\n{done.stderr}")
    finally:
        os.unlink(script)
    cpu = spent(cpu_before, usage(server, db))
    line = next((x for x in out.splitlines() if x.startswith("WRK ")), "")
    fields = dict(kv.split("=") for kv in line[4:].split())
    ok = int(fields.get("ok", 0))
    _, rows, secs = logged_since(db, app["id"], before)
    secs = secs or float(fields.get("seconds", seconds))
    extra = f", {ok * subjects / secs:,.0f} subjects/s" if subjects > 1 else ""
    print(
        f"{name} (wrk {threads} threads x {connections // threads} connections): {ok:,} answered ({rows:,} logged) "
        f"in {secs:.1f} s = "
        f"{ok / secs:,.0f} req/s{extra}; p50 {fields.get('p50')} ms, p99 {fields.get('p99')} ms, max "
        f"{fields.get('max')} ms; non-200 {fields.get('other')}, socket errors {fields.get('errors')}"
        f"{cpu_line(cpu, ok)}; load avg {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    if ok + int(fields.get("other", 0)) < len(bodies) // threads * threads:
        print(
            f"  wrk's {int(seconds)} s ran out before every check was sent and answered: the checks in flight then "
            "are committed without their answers being read, so the log holds more rows; give more --seconds"
        )
    return {"ok": ok, "seconds": secs, "other": int(fields.get("other", 0)), "errors": int(fields.get("errors", 0))}


def pct(lat: list[float], p: float) -> float:
    return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")


def show(r: dict, subjects: int) -> None:
    n = len(r["lat"])
    rate = n / r["wall"] if r["wall"] else 0
    load = os.getloadavg()[0]
    extra = f", {rate * subjects:,.0f} subjects/s" if subjects > 1 else ""
    kill = f"; SIGKILL to worker {r['killed']}" if r["killed"] else ""
    mean = f", mean {statistics.fmean(r['lat']) * 1000:.1f} ms" if r["lat"] else ""
    print(
        f"{r['name']}: {n:,} answered in {r['wall']:.1f} s = {rate:,.0f} req/s{extra}; "
        f"p50 {pct(r['lat'], 0.5):.1f} ms, p99 {pct(r['lat'], 0.99):.1f} ms, "
        f"max {(r['lat'][-1] * 1000 if r['lat'] else 0):.1f} ms"
        f"{mean}; "
        f"errors {r['errors'] or 0}{kill}{cpu_line(r['cpu'], n)}; load avg {load:.1f}"
    )


def log_check(url: str, app_id: int, answered: list[int], killed: bool) -> bool:
    store = Store(url)
    with store.read() as conn:
        C = schema.checks
        ids = set(conn.execute(sa.select(C.c.id).where(C.c.app_id == app_id)).scalars())
        empty = conn.execute(
            sa.select(sa.func.count())
            .select_from(C)
            .where(C.c.app_id == app_id, sa.or_(C.c.request.is_(None), C.c.answer.is_(None)))
        ).scalar_one()
    store.dispose()
    missing = set(answered) - ids
    extra = len(ids) - len(set(answered) & ids)
    ok = not missing and empty == 0 and (killed or extra == 0) and len(set(answered)) == len(answered)
    print(
        f"log: {len(ids):,} rows for {len(answered):,} answered checks; answered but missing from the log: "
        f"{len(missing)}; rows with an empty request or answer: {empty}; rows without a delivered answer: {extra}"
        + (" (the killed worker's committed checks)" if killed and extra else "")
        + f" -> {'OK' if ok else 'FAILED'}"
    )
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/supervise_serve_bench")
    ap.add_argument("--entities", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--threads", type=int, default=8, help="connections per client process")
    ap.add_argument("--count", type=int, default=10_000, help="single-subject checks")
    ap.add_argument("--batches", type=int, default=300, help="checks of --batch subjects")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60.0, help="at most this long per phase")
    ap.add_argument("--kill-after", type=float, default=None, help="SIGKILL one worker this far into 'single'")
    ap.add_argument("--wrk", action="store_true", help="send the checks with wrk (pre-signed)")
    ap.add_argument("--connections", type=int, default=16, help="wrk's connections (half of them for the batches)")
    args = ap.parse_args()

    prepare(args.db, args.entities, args.seed, args.reuse)
    pool = codes(args.db, 5_000, args.seed)
    rnd = random.Random(args.seed)

    def body(k: int) -> bytes:
        subjects = [{"ref": f"r{i}", "code": c} for i, c in enumerate(rnd.sample(pool, k))]
        doc = {
            "service_item": "invoice_supply",
            "subjects": subjects,
            "requester": {"department": "市行政审批局", "case_no": "BENCH-1"},
            "as_of": AS_OF.isoformat(),
        }
        return json.dumps(doc, ensure_ascii=False).encode()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SUPERVISE_SERVICE_KEY": str(pathlib.Path(tmp) / "service.key"), "BENCH_DIR": tmp}
        os.environ["SUPERVISE_SERVICE_KEY"] = env["SUPERVISE_SERVICE_KEY"]
        from engine.service.apps import add_app

        store = Store(args.db)
        app = add_app(store, f"bench-{uuid.uuid4().hex[:6]}", "check", "市行政审批局")
        with store.read() as conn:
            app["id"] = conn.execute(
                sa.select(schema.apps.c.id).where(schema.apps.c.app_key == app["app_key"])
            ).scalar_one()
        store.dispose()
        port = free_port()
        server = start_server(args.db, port, args.workers, env)
        print(
            f"serve: {args.db.split('@')[-1]} with {args.workers} worker(s) on port {port}; clients {args.clients} x "
            f"{args.threads} connections; {os.cpu_count()} CPUs"
        )
        try:
            answered: list[int] = []
            warm = phase("warm-up", port, app, [body(1) for _ in range(200)], args.clients, args.threads, 30)
            answered += warm["answered"]
            if args.wrk:
                fast = wrk_phase(
                    "single",
                    port,
                    app,
                    [body(1) for _ in range(args.count)],
                    2,
                    args.connections,
                    args.seconds,
                    1,
                    args.db,
                    server,
                )
                delivered = fast["ok"] + len(answered)
                if args.batches:
                    many = [body(args.batch) for _ in range(args.batches)]
                    batch = wrk_phase(
                        f"batch of {args.batch}",
                        port,
                        app,
                        many,
                        2,
                        max(2, args.connections // 2),
                        args.seconds,
                        args.batch,
                        args.db,
                        server,
                    )
                    delivered += batch["ok"]
                with Store(args.db).read() as conn:
                    logged = conn.execute(
                        sa.select(sa.func.count()).select_from(schema.checks).where(schema.checks.c.app_id == app["id"])
                    ).scalar_one()
                print(
                    f"log: {logged:,} rows for {delivered:,} answered checks -> "
                    f"{'OK' if logged == delivered else 'FAILED'}"
                )
                sys.exit(0 if logged == delivered else 1)  # the server is stopped below
            single = phase(
                "single",
                port,
                app,
                [body(1) for _ in range(args.count)],
                args.clients,
                args.threads,
                args.seconds,
                server=server,
                kill_after=args.kill_after,
                db=args.db,
            )
            show(single, 1)
            answered += single["answered"]
            if args.batches:
                batch = phase(
                    f"batch of {args.batch}",
                    port,
                    app,
                    [body(args.batch) for _ in range(args.batches)],
                    args.clients,
                    max(1, args.threads // 2),
                    args.seconds,
                    server=server,
                    db=args.db,
                )
                show(batch, args.batch)
                answered += batch["answered"]
            # After a kill the service must still answer: one more check through a fresh connection.
            after = phase("after", port, app, [body(1) for _ in range(20)], 1, 1, 30)
            print(f"after the run: {len(after['answered'])}/20 answered, errors {after['errors'] or 0}")
            answered += after["answered"]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        ok = log_check(args.db, app["id"], answered, killed=single["killed"] is not None)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
