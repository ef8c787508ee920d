"""Evaluating the register in batches, in this process or in worker processes.

A batch is a range of entity ids (``store.entities.batch_ranges``). :class:`BatchEvaluator` turns one into
evaluation rows in two steps: ``load`` reads the entities and their records; ``evaluate``, pure, computes the
facts, evaluates them (durable-rules once per distinct predicate vector, memoised) and serialises the facts. The
Spark engine (engine.pipeline.spark) runs the same two steps, the load in the driver and the evaluation in Spark
tasks. A row is a plain tuple, the cheapest
thing to send between processes::

    (entity_id, vector key, tier, ratio, per_year, forced, facts as JSON text)

:func:`evaluate_batches` runs the batches either in this process or in ``workers`` spawned processes and hands
every batch to a sink **in entity order**, one at a time, in this process. The sink is where the writing happens
(a cycle's decisions and list proposals, a simulation's counters): with a worker, a 2-core machine reads and
evaluates the next batches while this process writes the current one.

Workers follow the rules for durable-rules (docs in ``engine.rules``): each is a fresh *spawned* interpreter with
its own engine host (a forked child would inherit the parent's C-engine handles), reads through its own database
connection (on PostgreSQL in the caller's exported snapshot, so every process sees the same register; the register
is only read: a cycle writes decisions, never entities or records), and rebuilds the
pack version from its stored body, checking the content hash. A worker whose parent dies (even by SIGKILL)
stops at its next batch; an error in a worker is raised here with its message.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import pickle
import queue
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from engine.errors import CycleError, SupervisionError
from engine.evaluate import Evaluator
from engine.facts import SourceCycle
from engine.model import PackVersion
from engine.progress import collector_paused
from engine.store import Store, export_snapshot
from engine.store import cycles as qc
from engine.store import entities as qe
from engine.store import records as rq
from policies.loader import version_from_body

Row = tuple  # (entity_id, key, tier, ratio, per_year, forced, facts_json)
Sink = Callable[[list[Row], dict[str, dict]], None]
QUEUE_BATCHES = 3  # batches a worker may run ahead of the sink (bounds memory)


class BatchEvaluator:
    """Use this to turn batches of the register into evaluation rows for one pack version and as-of date."""

    def __init__(
        self,
        version: PackVersion,
        as_of: dt.date,
        previous: int | None = None,
        known_at: dt.datetime | None = None,
        decided: dict[str, SourceCycle | None] | None = None,
        facts_json: bool = True,
    ):
        # ``previous``: the id of the cycle whose tiers the 'previous' facts read; they are read with each batch
        # (load), as are those of the ``ranged`` decision sources: no process holds a whole cycle's tiers.
        # ``facts_json``: False leaves the facts out of the rows (None in their place) for a sink that does not
        # store them (simulate, replay): their serialisation was about a sixth of the evaluation.
        self.facts_json = facts_json
        # ``decided``: the stored cycles the pack's decision facts read (engine.pipeline.cycles.resolve_sources).
        self.ev = Evaluator(version, as_of, decided)
        self.as_of = as_of
        self.known_at = known_at
        self.kinds = self.ev.facts.kinds
        # The facts as a list of values per entity (FactCompiler.values): the rules test them as they test the
        # stored dict (None left out, integral floats as ints), and the decision row's JSON is built from them
        # (FactCompiler.stored_json, the text json.dumps gives for that dict), without the dict.
        self.compute = self.ev.facts.compute_stored
        self.values = self.ev.facts.values
        # Only a pack with a 'previous: tier' fact reads the previous cycle's tiers.
        self.previous_cycle = previous if self.ev.facts.needs_previous else None
        self.previous_tiers: dict[int, str] = {}  # those of the batch last loaded
        self.prev_get = self.previous_tiers.get if self.previous_cycle is not None else None
        self.ranged = [  # (cycle id, the dict its facts read): refilled for each batch
            (c.id, cast(dict[int, str], c.tiers)) for c in (decided or {}).values() if c is not None and c.ranged
        ]
        self.subjects = set(version.pack.meta.get("subjects") or [])
        self.per_key: dict[str, tuple] = {}  # vector key -> (tier, ratio, per_year, forced)
        self.timings: dict[str, float] = {"load": 0.0, "facts": 0.0, "evaluate": 0.0}
        self.dumps = json.JSONEncoder().encode  # what the JSON column type does (json.dumps defaults)

    @property
    def durable_evaluations(self) -> int:
        return self.ev.rs1.evaluations + self.ev.rs2.evaluations

    def load(self, conn, first: int, last: int) -> tuple[list[dict], dict[int, list]]:
        """The load step: the entities with ids in [first, last] and the records their evaluation reads (entity id
        -> records in (date, kind, id) order), as of this evaluator's date and knowledge date; the tiers of the
        previous cycle (``previous_tiers``) and of the ranged decision sources for those ids are read too."""
        t0 = time.perf_counter()
        if self.previous_cycle is not None:
            qc.tiers_between(conn, self.previous_cycle, first, last, self.previous_tiers)
        for cycle_id, tiers in self.ranged:
            qc.tiers_between(conn, cycle_id, first, last, tiers)
        batch = qe.entities_between(conn, first, last)
        records = (
            rq.records_for_range(conn, first, last, self.as_of, self.kinds, self.known_at)
            if self.kinds and batch
            else {}
        )
        self.timings["load"] += time.perf_counter() - t0
        return batch, records

    def evaluate(
        self,
        batch: list[dict],
        records: dict[int, list],
        known: dict[str, tuple] | None = None,
        previous: dict[int, str] | None = None,
    ) -> tuple[list[Row], dict[str, dict], int]:
        """The evaluate step, pure: rows of the entities of ``batch`` the pack evaluates, the outcomes of the vector
        keys not in ``known`` (vector key -> (tier, ratio, per_year, forced), updated here), and len(batch).

        ``known`` defaults to this evaluator's own memo, so that each key's outcome is reported once over the
        batches it evaluates (what the sink needs); pass a fresh dict to report every key the batch uses (a Spark
        task, whose result must not depend on the tasks the same worker ran before). ``previous`` replaces the
        previous tiers of the batch loaded (a Spark task gets those of its own entities)."""
        clock = time.perf_counter
        t1 = clock()
        entities = [e for e in batch if e["entity_type"] in self.subjects] if self.subjects else batch
        get, none, compute = records.get, (), self.values
        prev_get = self.prev_get if previous is None or not self.ev.facts.needs_previous else previous.get
        if prev_get is None:
            facts_list = [compute(e, get(e["id"], none), None) for e in entities]
        else:
            facts_list = [compute(e, get(e["id"], none), prev_get(e["id"])) for e in entities]
        t2 = clock()
        rows: list[Row] = []
        new: dict[str, dict] = {}
        per_key = self.per_key if known is None else known
        dumps = self.ev.facts.stored_json if self.facts_json else _none
        outcomes = self.ev.outcomes_of(facts_list, self.ev.facts.names)
        for entity, facts, (key, outcome) in zip(entities, facts_list, outcomes):
            fixed = per_key.get(key)
            if fixed is None:  # the first entity with this vector in this evaluator
                insp = outcome["inspection"]
                fixed = per_key[key] = (outcome["tier"], insp["ratio"], insp["per_year"], bool(insp["forced"]))
                new[key] = outcome
            rows.append((entity["id"], key, fixed[0], fixed[1], fixed[2], fixed[3], dumps(facts)))
        t3 = clock()
        self.timings["facts"] += t2 - t1
        self.timings["evaluate"] += t3 - t2
        return rows, new, len(batch)

    def run(self, conn, first: int, last: int) -> tuple[list[Row], dict[str, dict], int]:
        """Rows of the entities with ids in [first, last] (those the pack evaluates), the outcomes of vector keys
        first met in this batch, and the number of entities read: ``evaluate(*load(...))``."""
        batch, records = self.load(conn, first, last)
        return self.evaluate(batch, records)


def _none(_facts: list) -> None:
    return None


def evaluate_batches(
    conn,
    version: PackVersion,
    as_of: dt.date,
    ranges: Sequence[tuple[int, int]],
    sink: Sink,
    *,
    previous: int | None = None,
    known_at: dt.datetime | None = None,
    workers: int = 0,
    url: str | None = None,
    progress: Callable[[int], None] | None = None,
    decided: dict[str, SourceCycle | None] | None = None,
    facts_json: bool = True,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the batches ``ranges`` and call ``sink(rows, new_outcomes)`` for each, in order. ``workers`` > 0
    runs the evaluation in that many spawned processes reading ``url``; 0 runs it here on ``conn``. ``facts_json``
    False: rows carry None for the facts (a sink that does not store them). ``meanwhile`` is called once before the
    first batch, while the workers start and evaluate it (work of the caller's that would otherwise wait for it).

    Returns ``entities``, ``distinct_vectors``, ``durable_evaluations`` (summed over workers: each evaluates the
    vectors it meets) and ``timings``: ``load``, ``facts``, ``evaluate`` (summed over the workers, overlapping
    the sink) and ``sink`` (this process)."""
    # Every batch allocates a few hundred thousand short-lived, acyclic containers (rows, records, facts); the cyclic
    # collector then ran thousands of times over them and over everything long-lived, about a third of a
    # 1,000,000-entity cycle. Reference counting frees all of it, so the collector is paused for the loop.
    with collector_paused():
        if workers > 0:
            return _in_workers(
                conn,
                version,
                as_of,
                ranges,
                sink,
                previous,
                known_at,
                workers,
                url,
                progress,
                decided,
                facts_json,
                meanwhile,
            )
        if meanwhile is not None:
            meanwhile()
        return _here(conn, version, as_of, ranges, sink, previous, known_at, progress, decided, facts_json)


def feed(batches: Iterable[tuple[list[Row], dict[str, dict], int]], sink: Sink, progress) -> tuple[int, int, float]:
    """Hand each (rows, new outcomes, entities read) to the sink; (rows, distinct keys, seconds in the sink)."""
    count, spent = 0, 0.0
    keys: set[str] = set()
    for rows, new, read in batches:
        keys.update(new)
        t0 = time.perf_counter()
        sink(rows, new)
        spent += time.perf_counter() - t0
        count += len(rows)
        if progress:
            progress(read)
    return count, len(keys), spent


def _here(
    conn, version: PackVersion, as_of, ranges, sink, previous, known_at, progress, decided, facts_json
) -> dict[str, Any]:
    be = BatchEvaluator(version, as_of, previous, known_at, decided, facts_json)
    count, distinct, spent = feed((be.run(conn, first, last) for first, last in ranges), sink, progress)
    return {
        "entities": count,
        "distinct_vectors": distinct,
        "durable_evaluations": be.durable_evaluations,
        "workers": 0,
        "timings": {**be.timings, "sink": spent},
    }


def _in_workers(
    conn, version, as_of, ranges, sink, previous, known_at, workers, url, progress, decided, facts_json, meanwhile
) -> dict[str, Any]:
    import multiprocessing

    if not url:
        raise CycleError("Evaluating in worker processes needs the database URL; pass url= or workers=0.")
    ctx = multiprocessing.get_context("spawn")
    body, digest = version.stored_body(), version.content_hash
    snapshot = export_snapshot(conn)  # PostgreSQL: the workers read the register exactly as this transaction does
    channels = [ctx.Queue(maxsize=QUEUE_BATCHES) for _ in range(workers)]
    procs = [
        ctx.Process(
            target=_worker,
            name=f"supervise-eval-{k}",
            daemon=True,
            args=(
                url,
                snapshot,
                body,
                digest,
                as_of,
                list(ranges[k::workers]),
                previous,
                known_at,
                decided,
                facts_json,
                channels[k],
                os.getpid(),
            ),
        )
        for k in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        if meanwhile is not None:
            meanwhile()
        batches = (_receive(channels[i % workers], procs[i % workers]) for i in range(len(ranges)))
        count, distinct, spent = feed(batches, sink, progress)
        timings: Counter = Counter()
        evaluations = 0
        for k in range(workers):
            stats = _receive(channels[k], procs[k])
            timings.update(stats["timings"])
            evaluations += stats["durable_evaluations"]
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(5)
    return {
        "entities": count,
        "distinct_vectors": distinct,
        "durable_evaluations": evaluations,
        "workers": workers,
        "timings": {**timings, "sink": spent},
    }


def _receive(channel, proc) -> Any:
    """The worker's next message; its error raised here; a worker that died without a word is an error too."""

    def stopped() -> CycleError:
        code = f" (exit code {proc.exitcode})" if proc.exitcode is not None else ""
        return CycleError(
            f"The evaluation worker {proc.name} stopped{code} before it finished; nothing was "
            f"stored. Run the command again."
        )

    while True:
        try:
            kind, payload = channel.get(timeout=1.0)
        except queue.Empty:
            if not proc.is_alive():
                raise stopped() from None
            continue
        except (EOFError, OSError, pickle.UnpicklingError) as exc:  # killed while writing a message
            proc.join(1)
            raise stopped() from exc
        if kind == "error":
            raise payload
        return payload


def _worker(
    url, snapshot, body, digest, as_of, ranges, previous, known_at, decided, facts_json, channel, parent
) -> None:
    """Worker process: evaluate ``ranges`` in order, put ("batch", (rows, new, read)) per batch, then
    ("done", stats); ("error", exception) on failure. Ends at once when the parent is gone."""

    def watch() -> None:
        # Checked on a thread of its own: a worker whose parent died may be computing, waiting for room in the
        # queue, or exiting, where multiprocessing joins the thread that writes to a pipe no one reads any more.
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    try:
        gc.disable()
        version = version_from_body(body)
        if version.content_hash != digest:
            raise CycleError(
                f"The pack version rebuilt in the evaluation worker hashes to "
                f"{version.content_hash[:12]}, not {digest[:12]}; the pack cannot be evaluated in "
                f"parallel (run with workers=0)."
            )
        be = BatchEvaluator(version, as_of, previous, known_at, decided, facts_json)
        store = Store(url)
        with store.read(snapshot) as conn:
            for first, last in ranges:
                channel.put(("batch", be.run(conn, first, last)))  # waits while the sink is behind
        store.dispose()
        channel.put(("done", {"timings": dict(be.timings), "durable_evaluations": be.durable_evaluations}))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent, which raises it
        if isinstance(exc, SupervisionError):  # ours, with a message for the user: raised as it is
            error = exc
        else:
            error = CycleError(
                f"The evaluation worker failed: {type(exc).__name__}: {exc}\n"
                f"{''.join(traceback.format_exception(exc)[-3:])}"
            )
        channel.put(("error", error))
