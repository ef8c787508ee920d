"""The condition language of policy packs, compiled to atomic predicates.

A condition is an atom string (``"score >= 90"``, ``"tier in [A, B]"``, ``"blocked_a"``, ``"not new_entity"``)
or a mapping ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}``. Nothing is ever ``eval``-ed: atoms are parsed
with a regular expression and their literal with ``yaml.safe_load``.

Every atom becomes a predicate with an index; an entity maps to a vector of booleans, one per predicate.
Rules then depend only on that vector (see design-notes §1): durable-rules evaluates each distinct vector
once, the validator enumerates the reachable vectors, and the true predicates are the explanation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

OPS = ("==", "!=", ">=", "<=", ">", "<", "in", "not in")
_ATOM = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(==|!=|>=|<=|>|<|not\s+in\b|in\b)\s*(.+?)\s*$")
_NAME = re.compile(r"^\s*(not\s+)?([a-z_][a-z0-9_]*)\s*$")
OP_TEXT = {
    "==": "为",
    "!=": "不为",
    ">=": "不低于",
    "<=": "不高于",
    ">": "高于",
    "<": "低于",
    "in": "属于",
    "not in": "不属于",
}


class ConditionSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Atom:
    fact: str
    op: str
    value: Any  # scalar, None, or tuple for in / not in

    def test(self, actual: Any) -> bool:
        op, value = self.op, self.value
        if op == "==":
            return actual == value if value is not None else actual is None
        if op == "!=":
            return actual != value if value is not None else actual is not None
        if op == "in":
            return actual in value
        if op == "not in":
            return actual not in value
        if actual is None or isinstance(actual, bool) != isinstance(value, bool):
            return False
        if op == ">=":
            return actual >= value
        if op == "<=":
            return actual <= value
        if op == ">":
            return actual > value
        return actual < value

    def source(self) -> str:
        value = self.value
        if isinstance(value, tuple):
            shown = "[" + ", ".join(_lit(v) for v in value) + "]"
        else:
            shown = _lit(value)
        return f"{self.fact} {self.op} {shown}"


def _lit(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# Condition tree: ("all", (children)), ("any", (children)), ("not", child), ("atom", Atom), ("const", bool)
Node = tuple


def parse(raw: Any, path: str = "when") -> Node:
    """Parse a condition from YAML data; raise ConditionSyntaxError('<path>: reason')."""
    if isinstance(raw, bool):
        return ("const", raw)
    if isinstance(raw, str):
        return _parse_atom(raw, path)
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise ConditionSyntaxError(
                f"{path}: a condition mapping has exactly one key of all, any, not; "
                f"found {', '.join(map(str, raw)) or 'none'}"
            )
        ((key, body),) = raw.items()
        if key in ("all", "any"):
            if not isinstance(body, list) or not body:
                raise ConditionSyntaxError(f"{path}.{key}: must be a non-empty list of conditions")
            return (key, tuple(parse(item, f"{path}.{key}.{i}") for i, item in enumerate(body)))
        if key == "not":
            return ("not", parse(body, f"{path}.not"))
        raise ConditionSyntaxError(f"{path}: unknown condition key '{key}' (use all, any or not)")
    if isinstance(raw, list):
        return ("all", tuple(parse(item, f"{path}.{i}") for i, item in enumerate(raw)))
    raise ConditionSyntaxError(
        f"{path}: a condition is a string like 'score >= 90' or a mapping all/any/not, not {type(raw).__name__}"
    )


def _parse_atom(text: str, path: str) -> Node:
    m = _NAME.match(text)
    if m:
        atom = ("atom", Atom(m.group(2), "==", True))
        return ("not", atom) if m.group(1) else atom
    m = _ATOM.match(text)
    if not m:
        raise ConditionSyntaxError(
            f"{path}: cannot read condition '{text}'; write '<fact> <op> <value>' with op one "
            f"of {', '.join(OPS)}, e.g. 'score >= 90'"
        )
    fact, op, literal = m.group(1), re.sub(r"\s+", " ", m.group(2)), m.group(3)
    try:
        value = yaml.safe_load(literal)
    except yaml.YAMLError:
        raise ConditionSyntaxError(f"{path}: cannot read the value '{literal}' in '{text}'") from None
    if op in ("in", "not in"):
        if not isinstance(value, list):
            raise ConditionSyntaxError(f"{path}: '{op}' needs a list like [A, B] in '{text}'")
        value = tuple(_norm(v) for v in value)
    else:
        if isinstance(value, (list, dict)):
            raise ConditionSyntaxError(f"{path}: '{op}' needs a single value in '{text}'")
        value = _norm(value)
        if op in (">=", "<=", ">", "<") and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise ConditionSyntaxError(f"{path}: '{op}' compares numbers, not '{literal}', in '{text}'")
    return ("atom", Atom(fact, op, value))


def _norm(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, float):
        return v
    return str(v)


def atoms(node: Node) -> Iterable[Atom]:
    kind = node[0]
    if kind == "atom":
        yield node[1]
    elif kind in ("all", "any"):
        for child in node[1]:
            yield from atoms(child)
    elif kind == "not":
        yield from atoms(node[1])


def substitute(node: Node, macros: dict[str, Node]) -> Node:
    """Replace boolean atoms naming a derived condition (``blocked_a``) by its condition."""
    kind = node[0]
    if kind == "atom":
        atom: Atom = node[1]
        if atom.fact in macros:
            if atom.op == "==" and atom.value is True:
                return macros[atom.fact]
            if atom.op == "==" and atom.value is False:
                return ("not", macros[atom.fact])
            raise ConditionSyntaxError(
                f"'{atom.fact}' is a derived condition; use it as '{atom.fact}' or "
                f"'not {atom.fact}', not '{atom.source()}'"
            )
        return node
    if kind in ("all", "any"):
        return (kind, tuple(substitute(c, macros) for c in node[1]))
    if kind == "not":
        return ("not", substitute(node[1], macros))
    return node


def evaluate(node: Node, truth: Sequence[bool], index: dict[Atom, int]) -> bool:
    """Evaluate a compiled condition on a predicate vector (the plain-Python reference evaluator)."""
    kind = node[0]
    if kind == "atom":
        return truth[index[node[1]]]
    if kind == "all":
        return all(evaluate(c, truth, index) for c in node[1])
    if kind == "any":
        return any(evaluate(c, truth, index) for c in node[1])
    if kind == "not":
        return not evaluate(node[1], truth, index)
    return node[1]


def holds(node: Node, value_of: Callable[[str], Any]) -> bool:
    """Evaluate a condition on fact values directly (``value_of(name)``): for the few conditions evaluated before
    the rules (a fact's adjustment), not per rule."""
    kind = node[0]
    if kind == "atom":
        return node[1].test(value_of(node[1].fact))
    if kind == "all":
        return all(holds(c, value_of) for c in node[1])
    if kind == "any":
        return any(holds(c, value_of) for c in node[1])
    if kind == "not":
        return not holds(node[1], value_of)
    return bool(node[1])


def to_durable(node: Node, index: dict[Atom, int], positive: bool = True) -> dict:
    """Compile to a durable-rules JSON condition over predicate fields ``p<N>`` (negation pushed to atoms).

    Only equality tests on booleans, $and and $or are used: durable-rules' $ex/$nex hang its engine here.
    """
    kind = node[0]
    if kind == "atom":
        return {f"p{index[node[1]]}": positive}
    if kind == "not":
        return to_durable(node[1], index, not positive)
    if kind == "const":
        return {"k": "eval" if node[1] == positive else "never"}
    op = {("all", True): "$and", ("any", True): "$or", ("all", False): "$or", ("any", False): "$and"}[(kind, positive)]
    children = [to_durable(c, index, positive) for c in node[1]]
    return children[0] if len(children) == 1 else {op: children}


def describe(node: Node, labels: dict[str, str], values: dict[str, dict] | None = None) -> str:
    """Plain-language Chinese text of a condition, from the facts' labels."""
    kind = node[0]
    if kind == "atom":
        return describe_atom(node[1], labels, values)
    if kind == "not":
        inner = node[1]
        if inner[0] == "atom" and inner[1].op == "==" and inner[1].value is True:
            return f"不存在“{labels.get(inner[1].fact, inner[1].fact)}”"
        return f"并非（{describe(inner, labels, values)}）"
    if kind == "const":
        return "任何情况" if node[1] else "不适用"
    joiner = "且" if kind == "all" else "或"
    parts = [describe(c, labels, values) for c in node[1]]
    return parts[0] if len(parts) == 1 else "（" + f"，{joiner}".join(parts) + "）"


def describe_atom(atom: Atom, labels: dict[str, str], values: dict[str, dict] | None = None) -> str:
    label = labels.get(atom.fact, atom.fact)
    value = atom.value
    names = (values or {}).get(atom.fact, {})
    if value is True and atom.op == "==":
        return label
    if value is False and atom.op == "==":
        return f"不存在“{label}”"
    if value is None:
        return f"{label}{'无记录' if atom.op == '==' else '有记录'}"
    if isinstance(value, tuple):
        shown = "、".join(str(names.get(v, v)) for v in value)
    else:
        shown = str(names.get(value, _lit(value)))
    return f"{label}{OP_TEXT[atom.op]}{shown}"
