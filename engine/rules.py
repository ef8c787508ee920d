"""The durable-rules adapter: the only module that imports durable_rules.

durable-rules (2.0.28, unmaintained since 2020) is used as a pure function ``predicate vector -> fired rules``:
- one Host per process, owned by the thread that made it; its two 0.2 s timer threads are never started
  (``_run`` is a no-op), so no action can run on another thread or later;
- one short-lived session (sid) per evaluation: assert one fact, collect the actions, retract, delete the
  session state — so no session ever holds more than one fact (the engine fails past ~46k kept facts) and
  at most one session is live (it allows 1,024);
- a catch-all rule must fire for every evaluation; if it did not run synchronously, an action was lost or
  delayed and we raise; an exception swallowed into the session state is raised;
- only single facts: the batch calls (assert_facts, post_batch) may return before their actions ran;
- each ruleset is registered once per process, named by the content hash of what it contains;
- every result is checked against the plain-Python evaluation of the same conditions, and any mismatch
  is an error. Nothing in an action touches the database: actions append a rule id to a list.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from durable import engine as _dr

from engine import conditions as C
from engine.errors import RuleEngineError

CATCH_ALL = "__catch_all__"


class _OwnedHost(_dr.Host):
    """A Host that never starts durable's timer threads."""

    def _run(self) -> None:  # noqa: D401 - override: no dispatch threads
        self._d_timer = None
        self._t_timer = None


class RuleSet:
    """A compiled set of rules over predicate fields p0..pN, registered once in the process host."""

    def __init__(self, engine: RuleEngine, name: str, rules: dict[str, C.Node], index: dict[C.Atom, int]):
        self.engine, self.name, self.rules, self.index = engine, name, rules, index
        self.evaluations = 0

    def fire(self, vector: Sequence[bool]) -> list[str]:
        """Rule ids whose condition holds for this predicate vector, in rule order."""
        fired = self.engine._fire(self, vector)
        self.evaluations += 1
        expected = [rid for rid, node in self.rules.items() if C.evaluate(node, vector, self.index)]
        if fired != expected:
            raise RuleEngineError(
                f"durable-rules returned {fired} for ruleset {self.name} but the conditions give "
                f"{expected}; the evaluation is void. Report this with the pack version."
            )
        return fired


class RuleEngine:
    """Use this to evaluate compiled rules with durable-rules: one per process and thread."""

    def __init__(self) -> None:
        self.host = _OwnedHost()
        self.owner = threading.get_ident()
        self.pid = os.getpid()
        self._rulesets: dict[str, RuleSet] = {}
        self._collected: dict[str, list[str]] = {}
        self._sids = itertools.count(1)
        self._errors: list[str] = []

    def ruleset(self, name: str, rules: dict[str, C.Node], index: dict[C.Atom, int]) -> RuleSet:
        """Register (once) and return the ruleset ``name`` (callers name it by content hash)."""
        self._check_thread()
        if name in self._rulesets:
            return self._rulesets[name]
        definition = {}
        for rid, node in rules.items():
            definition[rid] = {"all": [{"m": C.to_durable(node, index)}], "run": self._action(rid)}
        definition[CATCH_ALL] = {"all": [{"m": {"k": "eval"}}], "run": self._action(CATCH_ALL)}
        try:
            self.host.set_rulesets({name: definition})
        except Exception as exc:  # durable raises bare Exception / its C error
            raise RuleEngineError(f"durable-rules refused ruleset {name}: {exc}") from exc
        rs = RuleSet(self, name, dict(rules), index)
        self._rulesets[name] = rs
        return rs

    def _action(self, rule_id: str) -> Callable[[Any], None]:
        def action(c: Any) -> None:  # c: durable_rules' closure (c.m is the fact)
            if threading.get_ident() != self.owner:
                self._errors.append(f"action {rule_id} ran on another thread")
                return
            bucket = self._collected.get(c.m.sid)
            if bucket is None:
                self._errors.append(f"action {rule_id} ran for unknown session {c.m.sid}")
                return
            bucket.append(rule_id)

        return action

    def _check_thread(self) -> None:
        if threading.get_ident() != self.owner or os.getpid() != self.pid:
            raise RuleEngineError(
                "A RuleEngine is used from a thread or process that did not create it; "
                "create one RuleEngine per process (use processes, not threads, for parallelism)."
            )

    def _fire(self, rs: RuleSet, vector: Sequence[bool]) -> list[str]:
        self._check_thread()
        sid = str(next(self._sids))
        fact: dict[str, str | bool] = {"sid": sid, "k": "eval"}
        for i, value in enumerate(vector):
            fact[f"p{i}"] = bool(value)
        bucket: list[str] = []
        self._collected[sid] = bucket
        try:
            try:
                self.host.assert_fact(rs.name, fact)
            except _dr.MessageNotHandledException:
                raise RuleEngineError(
                    f"durable-rules did not handle an evaluation in {rs.name}, although the "
                    f"catch-all rule matches every fact"
                ) from None
            except _dr.MessageObservedException:
                raise RuleEngineError(f"durable-rules saw session {sid} of {rs.name} twice") from None
            except RuleEngineError:
                raise
            except Exception as exc:
                raise RuleEngineError(f"durable-rules failed in {rs.name}: {getattr(exc, 'message', exc)}") from exc
            state = self.host.get_state(rs.name, sid)
            if state.get("exception"):
                raise RuleEngineError(f"a rule action failed in {rs.name}: {state['exception']}")
            if self._errors:
                errors, self._errors = self._errors, []
                raise RuleEngineError(f"durable-rules misbehaved in {rs.name}: {'; '.join(errors)}")
            if CATCH_ALL not in bucket:
                raise RuleEngineError(
                    f"the catch-all rule of {rs.name} did not run synchronously for session "
                    f"{sid}: an action was lost or delayed; the evaluation is void"
                )
            try:
                self.host.retract_fact(rs.name, fact)
            except _dr.MessageNotHandledException:
                pass  # nothing matches a retraction: expected
        finally:
            self._collected.pop(sid, None)
            try:
                self.host.delete_state(rs.name, sid)
            except Exception:  # pragma: no cover - state already gone
                pass
        # A rule fires once per matching $or branch (durable expands disjunctions): report it once.
        order = {rid: i for i, rid in enumerate(rs.rules)}
        return sorted({r for r in bucket if r != CATCH_ALL}, key=order.__getitem__)


_local = threading.local()


def engine() -> RuleEngine:
    """The RuleEngine of this process and thread (created on first use)."""
    eng = getattr(_local, "engine", None)
    if eng is None or eng.pid != os.getpid():
        eng = RuleEngine()
        _local.engine = eng
    return eng
