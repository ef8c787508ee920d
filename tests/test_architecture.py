"""Imports point one way: down the stages of docs/architecture.md.

The modules of engine, policies, lists, notices and cli.py are read with ``ast`` (never imported); every import of
our own packages, absolute or relative, is resolved to the module it names and checked against these rules:

- ``cycle``: an import between modules at module level that lies on a circle;
- ``layer``: an import that points up the layer order below (``LAYERS``); ``forbidden``: one of the imports that
  ``FORBIDDEN`` names whatever the layers say; ``unplaced``: a module that no entry of ``LAYERS`` places;
- ``function-import``: an import of engine, policies, lists or notices inside a function or method body (lazy
  imports are for heavy optional third-party packages only).

An import under ``if TYPE_CHECKING:`` never runs and only names types for annotations: it is exempt from ``cycle``
and ``layer``, not from ``forbidden`` (notices must not know lists' types either).

``KNOWN_VIOLATIONS`` lists the violations of the tree when this test was written, as ``"file:line rule ->
target"``. It may only shrink: a violation not in it fails, and so does an entry that no longer occurs (delete it).
``python tests/test_architecture.py`` prints the current violations in that form: when an edit only moved known
imports to other lines, paste its output over the set after checking that it has no entry the set did not have.
"""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import sys
from collections.abc import Iterable, Mapping, Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent

# What is walked: packages (folders) and single-file modules, relative to the repository root.
PACKAGES = ("engine", "policies", "lists", "notices")
MODULES = ("cli.py",)
# Our packages: an import of one of these inside a function is a violation (any other lazy import is allowed).
OWN = ("engine", "policies", "lists", "notices")

# The layer order (BRIEF.md, docs/architecture.md): module prefix -> layer; the longest matching prefix wins. A
# module may import modules of its own layer or lower ones, never higher ones.
LAYERS: dict[str, int] = {
    # 1 foundation and the store layer
    "engine": 1,  # the package itself (__version__); every submodule must be placed by a longer prefix
    "engine.errors": 1,
    "engine.values": 1,
    "engine.calendar": 1,
    "engine.deadlines": 1,
    "engine.regions": 1,
    "engine.authorities": 1,
    "engine.exports": 1,
    "engine.outpaths": 1,
    "engine.progress": 1,
    "engine.results": 1,  # the typed-result base (to_json, lines)
    "engine.store": 1,
    "engine.migrations": 1,
    # 2 the register, and the Jinja environment factory (its masking filters are the register's)
    "engine.register": 2,
    "engine.templating": 2,
    # 3 the policy model and facts
    "engine.model": 3,
    "engine.facts": 3,
    # 4 conditions and the durable-rules adapter
    "engine.conditions": 4,
    "engine.rules": 4,
    # 5 decisions
    "engine.decisions": 5,
    "engine.evaluate": 5,
    "engine.evidence": 5,
    # 6 policy packs, their loader and validator
    "policies": 6,
    # 7 the stages that act on decisions
    "engine.access": 7,  # users, offices (read from the packs), the rules of who may act, the audit log
    "engine.plans": 7,
    "notices": 7,
    "lists": 7,
    # 8 the pipeline, then the interfaces
    "engine.pipeline": 8,
    "engine.service": 9,
    "engine.console": 9,  # the credit office's web console (pages in the check service's application)  # the check service (an interface, like the CLI)
    "cli": 9,
}
# Prefixes that place only the module of that exact name: a submodule matched by nothing longer is unplaced.
EXACT_ONLY = frozenset({"engine"})

# Imports forbidden whatever the layers say: (importer prefix, imported prefix, why). The first match wins.
FORBIDDEN: tuple[tuple[str, str, str], ...] = (
    ("notices", "lists", "notices never import lists (lists issue notices, not the reverse)"),
    ("engine.plans", "lists", "plans import neither lists nor notices"),
    ("engine.plans", "notices", "plans import neither lists nor notices"),
    ("engine.plans", "policies", "only engine.pipeline loads packs; plans are handed what they need"),
    ("engine", "policies", "nothing in engine below engine.pipeline imports policies"),
)
# Importers to which FORBIDDEN does not apply (the pipeline may import policies, lists and notices; engine.access,
# beside lists in layer 7, reads the authorities users act for from the packs, where they are data).
FORBIDDEN_EXEMPT = ("engine.pipeline", "engine.access.offices")

# Empty since issue 13 (2026-12-01): fix a violation rather than add it here; the set may only shrink.
KNOWN_VIOLATIONS: frozenset[str] = frozenset()


def matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@dataclasses.dataclass(frozen=True)
class Import:
    """One import of one of our modules: where it is, what it names, and how it runs."""

    source: str  # importing module, dotted
    file: str  # importing file, relative to the root, with '/'
    line: int
    target: str  # imported module, dotted
    in_function: bool
    type_checking: bool  # under `if TYPE_CHECKING:` (never runs)


@dataclasses.dataclass(frozen=True)
class Violation:
    file: str
    line: int
    rule: str
    target: str
    detail: str

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line} {self.rule} -> {self.target}"

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}"


def module_files(root: pathlib.Path, packages: Iterable[str], modules: Iterable[str]) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every .py file under the packages and every single-file module."""
    found: dict[str, pathlib.Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    for name in modules:
        path = root / name
        if path.exists():
            found[path.stem] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement with (inside a function, under TYPE_CHECKING)."""

    def visit(node: ast.AST, in_function: bool, type_checking: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function, type_checking
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, True, type_checking)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                # visit() looks at a node's children: wrap each statement so that the statement itself is seen
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), in_function, type_checking)
            else:
                yield from visit(child, in_function, type_checking)

    yield from visit(tree, False, False)


def _resolve_base(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module that ``from <node.module> import ...`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = source.split(".") if is_package else source.split(".")[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def collect_imports(
    root: pathlib.Path, packages: Sequence[str] = PACKAGES, modules: Sequence[str] = MODULES
) -> tuple[dict[str, pathlib.Path], list[Import]]:
    """The modules walked and every import among them (imports of other packages are left out)."""
    files = module_files(root, packages, modules)
    ours = {name.split(".")[0] for name in files}
    found: list[Import] = []
    for source, path in files.items():
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        is_package = path.name == "__init__.py"
        for node, in_function, type_checking in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve_base(source, is_package, node)
                for alias in node.names:
                    # `from engine import plans` names the module engine.plans; `from engine.plans import draw`
                    # names engine.plans (draw is a function there).
                    sub = f"{base}.{alias.name}" if base else alias.name
                    targets.append(sub if sub in files else base)
            for target in dict.fromkeys(targets):
                if target and target.split(".")[0] in ours:
                    found.append(Import(source, rel, node.lineno, target, in_function, type_checking))
    return files, found


def layer_of(module: str, layers: Mapping[str, int], exact_only: Iterable[str] = EXACT_ONLY) -> int | None:
    best = None
    for prefix in layers:
        if matches(module, prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    if best is None or (best in exact_only and module != best):
        return None
    return layers[best]


def _cycles(imports: Sequence[Import]) -> list[Violation]:
    """Every runtime module-level import that lies on a circle, with one shortest circle through it."""
    edges: dict[str, list[Import]] = {}
    for imp in imports:
        if not imp.in_function and not imp.type_checking and imp.source != imp.target:
            edges.setdefault(imp.source, []).append(imp)
    graph = {src: sorted({imp.target for imp in imps}) for src, imps in edges.items()}

    def path(start: str, goal: str) -> list[str] | None:
        """A shortest import path start -> ... -> goal (breadth first, sorted: the same path every run)."""
        previous: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                for nxt in graph.get(node, ()):
                    if nxt not in previous:
                        previous[nxt] = node
                        following.append(nxt)
            if goal in previous:
                steps: list[str] = []
                at: str | None = goal
                while at is not None:
                    steps.append(at)
                    at = previous[at]
                return steps[::-1]
            frontier = following
        return None

    found = []
    for src in sorted(edges):
        for imp in edges[src]:
            back = path(imp.target, src)
            if back is not None:
                circle = " -> ".join([src, *back])
                found.append(Violation(imp.file, imp.line, "cycle", imp.target, f"import cycle {circle}"))
    return found


def check(
    imports: Sequence[Import],
    modules: Iterable[str],
    layers: Mapping[str, int] = LAYERS,
    forbidden: Sequence[tuple[str, str, str]] = FORBIDDEN,
    forbidden_exempt: Sequence[str] = FORBIDDEN_EXEMPT,
    exact_only: Iterable[str] = EXACT_ONLY,
    own: Sequence[str] = OWN,
    files: Mapping[str, pathlib.Path] | None = None,
    root: pathlib.Path = ROOT,
) -> list[Violation]:
    """All violations of the rules by these imports among these modules."""
    exact_only = frozenset(exact_only)
    found: list[Violation] = []
    for module in sorted(modules):
        if layer_of(module, layers, exact_only) is None:
            where = files[module].relative_to(root).as_posix() if files else module
            found.append(Violation(where, 1, "unplaced", module, f"{module} has no layer: add it to LAYERS"))
    for imp in imports:
        src_layer = layer_of(imp.source, layers, exact_only)
        dst_layer = layer_of(imp.target, layers, exact_only)
        rule = next(
            (
                why
                for importer, imported, why in forbidden
                if matches(imp.source, importer)
                and matches(imp.target, imported)
                and not any(matches(imp.source, e) for e in forbidden_exempt)
            ),
            None,
        )
        if rule is not None:
            found.append(Violation(imp.file, imp.line, "forbidden", imp.target, f"{imp.source} imports it: {rule}"))
        elif not imp.type_checking and src_layer is not None and dst_layer is not None and dst_layer > src_layer:
            found.append(
                Violation(
                    imp.file,
                    imp.line,
                    "layer",
                    imp.target,
                    f"{imp.source} (layer {src_layer}) imports a higher layer ({dst_layer})",
                )
            )
        if imp.in_function and imp.target.split(".")[0] in own:
            found.append(
                Violation(
                    imp.file,
                    imp.line,
                    "function-import",
                    imp.target,
                    "our own packages are imported at the top of the module; a function-level import hides a circle",
                )
            )
    found.extend(_cycles(imports))
    return sorted(found, key=lambda v: (v.file, v.line, v.rule, v.target))


def violations(root: pathlib.Path = ROOT) -> list[Violation]:
    files, imports = collect_imports(root)
    return check(imports, files, files=files, root=root)


# -- the tree ------------------------------------------------------------------------------------------------------


def test_imports_point_one_way():
    found = violations()
    current = {v.key for v in found}
    new = [str(v) for v in found if v.key not in KNOWN_VIOLATIONS]
    gone = sorted(KNOWN_VIOLATIONS - current)
    problems = []
    if new:
        problems.append(
            "Imports that break docs/architecture.md (fix the import; do not add it to KNOWN_VIOLATIONS):\n  "
            + "\n  ".join(new)
        )
    if gone:
        problems.append(
            "KNOWN_VIOLATIONS entries that no longer occur: delete them from tests/test_architecture.py (an import "
            "that only moved to another line is listed above with its new line; replace the entry):\n  "
            + "\n  ".join(gone)
        )
    assert not problems, "\n\n".join(problems)


# Third-party packages that one layer owns: the store owns SQLAlchemy and Alembic (other modules name its
# ``Connection`` through ``engine.store``), the durable-rules adapter owns durable_rules. Importer prefixes allowed.
OWNED_THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "sqlalchemy": ("engine.store", "engine.migrations"),
    "alembic": ("engine.store", "engine.migrations"),
    "durable": ("engine.rules",),
}


def third_party_owners(files: Mapping[str, pathlib.Path], owned: Mapping[str, tuple[str, ...]]) -> list[str]:
    """``file:line imports X`` for each import of an owned third-party package outside its owners (any depth:
    a function-level or ``TYPE_CHECKING`` import counts too)."""
    out = []
    for module, path in sorted(files.items()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                owners = owned.get(name.split(".")[0])
                if owners is not None and not any(matches(module, o) for o in owners):
                    out.append(
                        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{node.lineno} imports {name}"
                    )
    return out


def test_owned_third_party_packages_stay_with_their_owner():
    files = module_files(ROOT, PACKAGES, MODULES)
    assert third_party_owners(files, OWNED_THIRD_PARTY) == []


def test_third_party_owner_check_finds_an_outsider(tmp_path):
    (tmp_path / "pkg" / "store").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "store" / "__init__.py").write_text("import sqlalchemy as sa\n")
    (tmp_path / "pkg" / "facts.py").write_text("def f():\n    from sqlalchemy.engine import Connection\n")
    files = module_files(tmp_path, ["pkg"], [])
    found = third_party_owners(files, {"sqlalchemy": ("pkg.store",)})
    assert [f.split(":")[1:] for f in found] == [["2 imports sqlalchemy.engine"]]


def test_known_violations_are_well_formed():
    rules = {"cycle", "layer", "forbidden", "function-import", "unplaced"}
    for entry in KNOWN_VIOLATIONS:
        where, rule, arrow, target = entry.split(" ")
        file, line = where.rsplit(":", 1)
        assert rule in rules and arrow == "->" and line.isdigit() and (ROOT / file).exists(), entry


def test_the_walk_sees_the_tree():
    files, imports = collect_imports(ROOT)
    assert {"engine", "engine.store", "engine.pipeline.cycles", "policies.loader", "lists", "notices", "cli"} <= set(
        files
    )
    assert any(i.source == "cli" and matches(i.target, "engine") for i in imports)


# -- the walker itself, on small trees -----------------------------------------------------------------------------
# One package, app, with three layers (app.low, app.mid, app.top) and a single-file module, main.py, above them.

TOY_LAYERS = {"app": 1, "app.low": 1, "app.mid": 2, "app.top": 3, "main": 4}


def _check(tmp_path: pathlib.Path, sources: dict[str, str], **options) -> list[str]:
    for name, text in {"app/__init__.py": "", **sources}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    files, imports = collect_imports(tmp_path, packages=("app",), modules=("main.py",))
    rules = {"layers": TOY_LAYERS, "forbidden": (), "forbidden_exempt": (), "exact_only": ("app",), "own": ("app",)}
    found = check(imports, files, files=files, root=tmp_path, **{**rules, **options})
    return [v.key for v in found]


def test_walker_finds_a_cycle_and_reports_its_path(tmp_path):
    sources = {
        "app/low/__init__.py": "",
        "app/low/a.py": "import os\nfrom app.low import b\n",
        "app/low/b.py": "from .c import thing\n",
        "app/low/c.py": '"""doc"""\n\nimport app.low.a\nthing = 1\n',
        "app/low/d.py": "from app.low.a import x\n",  # leads into the circle, is not on it
    }
    assert _check(tmp_path, sources) == [
        "app/low/a.py:2 cycle -> app.low.b",
        "app/low/b.py:1 cycle -> app.low.c",
        "app/low/c.py:3 cycle -> app.low.a",
    ]
    files, imports = collect_imports(tmp_path, packages=("app",), modules=())
    first = check(imports, files, layers=TOY_LAYERS, files=files, root=tmp_path)[0]
    assert first.detail == "import cycle app.low.a -> app.low.b -> app.low.c -> app.low.a"


def test_walker_finds_a_cycle_through_a_package_init(tmp_path):
    sources = {
        "app/low/__init__.py": "from app.low.a import f\n",
        "app/low/a.py": "from app.low import g\n",  # the package's own names, while the package is importing a
    }
    assert _check(tmp_path, sources) == ["app/low/__init__.py:1 cycle -> app.low.a", "app/low/a.py:1 cycle -> app.low"]


def test_walker_ignores_a_circle_closed_only_in_a_function_or_for_type_checking(tmp_path):
    sources = {
        "app/low/__init__.py": "",
        "app/low/a.py": "from app.low import b\n",
        "app/low/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.low.a import A\n",
        "app/low/c.py": "import app.low.d\n",
        "app/low/d.py": "def f():\n    import app.low.c\n",
    }
    assert _check(tmp_path, sources) == ["app/low/d.py:2 function-import -> app.low.c"]


def test_walker_lets_type_checking_imports_point_up_but_not_break_a_forbidden_pair(tmp_path):
    sources = {
        "app/low/__init__.py": "",
        "app/low/a.py": (
            "import typing\nif typing.TYPE_CHECKING:\n    from app.mid.b import B\nelse:\n    from app.mid import b\n"
        ),
        "app/mid/__init__.py": "",
        "app/mid/b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from app.low import a\n",
    }
    assert _check(tmp_path, sources) == ["app/low/a.py:5 layer -> app.mid.b"]
    options = {"forbidden": (("app.mid", "app.low", "no"),)}
    assert _check(tmp_path, sources, **options) == [
        "app/low/a.py:5 layer -> app.mid.b",
        "app/mid/b.py:4 forbidden -> app.low.a",
    ]


def test_walker_finds_an_up_import_absolute_and_relative(tmp_path):
    sources = {
        "app/low/__init__.py": "",
        "app/low/a.py": "from app.mid import b\n",
        "app/mid/__init__.py": "",
        "app/mid/b.py": "from .. import low\nfrom ..top.c import x\nfrom . import e\n",
        "app/mid/e.py": "",
        "app/top/__init__.py": "from .c import x\n",
        "app/top/c.py": "import app.low\nfrom app import mid\nx = 1\n",
        "main.py": "import app.top\nimport sys\n",
    }
    assert _check(tmp_path, sources) == ["app/low/a.py:1 layer -> app.mid.b", "app/mid/b.py:2 layer -> app.top.c"]


def test_walker_applies_forbidden_pairs_and_exemptions(tmp_path):
    sources = {
        "app/low/__init__.py": "",
        "app/low/a.py": "",
        "app/mid/__init__.py": "",
        "app/mid/b.py": "from app.low import a\n",
        "app/mid/p/__init__.py": "from app.low import a\n",
    }
    options = {"forbidden": (("app.mid", "app.low", "no"),), "forbidden_exempt": ("app.mid.p",)}
    assert _check(tmp_path, sources, **options) == ["app/mid/b.py:1 forbidden -> app.low.a"]


def test_walker_finds_a_function_level_import_and_allows_a_lazy_third_party_one(tmp_path):
    sources = {
        "app/low/__init__.py": "",
        "app/low/a.py": "x = 1\n",
        "app/mid/__init__.py": "",
        "app/mid/b.py": (
            "class K:\n"
            "    def m(self):\n"
            "        from app.low.a import x\n"
            "        return x\n"
            "\n"
            "async def render():\n"
            "    import weasyprint  # heavy and optional: only a PDF needs it\n"
            "    return weasyprint\n"
        ),
        "main.py": "def main():\n    from app.mid import b\n",
    }
    assert _check(tmp_path, sources) == [
        "app/mid/b.py:3 function-import -> app.low.a",
        "main.py:2 function-import -> app.mid.b",
    ]


def test_walker_places_modules_by_longest_prefix(tmp_path):
    assert layer_of("engine.plans.algorithm", LAYERS) == 7
    assert layer_of("engine.store.schema", LAYERS) == 1
    assert layer_of("engine", LAYERS) == 1
    assert layer_of("engine.unknown", LAYERS) is None
    assert layer_of("lists.measures", LAYERS) == 7
    sources = {"app/low/__init__.py": "", "app/odd.py": "from app import low\n"}
    assert _check(tmp_path, sources) == ["app/odd.py:1 unplaced -> app.odd"]


if __name__ == "__main__":  # print the current violations in KNOWN_VIOLATIONS form
    keys = sorted(v.key for v in violations())
    print(
        "KNOWN_VIOLATIONS: frozenset[str] = frozenset(\n    {\n"
        + "".join(f'        "{k}",\n' for k in keys)
        + "    }\n)"
    )
    sys.exit(0)
