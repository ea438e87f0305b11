"""The import rules of docs/architecture.md, checked on the source: which package may import
which, no import circle, and no `except ImportError` guard around the project's own modules.

Every `import` / `from ... import` of every module is read with `ast`, including imports inside
functions (m3vos imports heavy modules lazily, and a lazy import is still a dependency). Imports
under `if TYPE_CHECKING:` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("m3vos", "m3vos_cli")

LIBRARY = "m3vos"
MODEL_CODE = ("m3vos.trackers.cutie", "m3vos.trackers.revos")
APPS = ("m3vos.demo", "m3vos.selftest", "m3vos.environment")

#: (importer, what it must never import, why). A name covers its submodules. Keep this table and
#: the "never" column of docs/architecture.md the same.
RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    ((LIBRARY,), ("m3vos_cli",), "the library never imports the CLI"),
    (("m3vos.errors",), (LIBRARY,), "errors is the ground floor"),
    (("m3vos.utils",), ("m3vos.data", "m3vos.metrics", "m3vos.analysis", "m3vos.trackers",
                        "m3vos.runner", *APPS), "utils is below every concern"),
    (("m3vos.data",), ("m3vos.trackers", "m3vos.runner", "m3vos.metrics", "m3vos.analysis",
                       *APPS), "data is read by the others, never the other way"),
    (("m3vos.metrics",), ("torch", "m3vos.trackers", "m3vos.runner", "m3vos.analysis", *APPS),
     "scoring needs no model and no torch"),
    (MODEL_CODE, ("m3vos.data", "m3vos.runner", "m3vos.trackers.parity"),
     "model code works on tensors; datasets and the runner are above it"),
    (("m3vos.trackers.checkpoint",), (*MODEL_CODE, "m3vos.trackers.models", "m3vos.trackers.parity"),
     "checkpoint loading is model-neutral: the networks import it"),
    (("m3vos.trackers",), ("m3vos.runner", "m3vos.analysis", *APPS),
     "trackers are run by the runner, never the other way"),
    (("m3vos.trackers",), ("m3vos.data",),
     "trackers get the cache and downloads from m3vos.utils, frames from the runner"),
    (("m3vos.runner",), ("m3vos.analysis", *APPS), "the runner writes predictions; analysis reads them"),
)


#: (importer, imported): allowed although a rule above forbids it. A name covers its submodules.
EXCEPTIONS: tuple[tuple[str, str], ...] = (
    ("m3vos.trackers.external", "m3vos.data.masks"),   # an external tool exchanges mask files
)


@dataclass(frozen=True)
class Import:
    source: str     # the importing module
    target: str     # the imported module (a name imported from a package resolves to its module)
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def covers(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_names(root: Path, packages: Sequence[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the given top-level packages."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def collect_imports(root: Path, packages: Sequence[str] = PACKAGES) -> list[Import]:
    modules = module_names(root, packages)
    found: list[Import] = []
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _runtime_imports(tree):
            rel = path.relative_to(root)
            if isinstance(node, ast.Import):
                found.extend(Import(name, a.name, rel, node.lineno) for a in node.names)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.append(Import(name, sub if sub in modules else mod, rel, node.lineno))
    return found


def rule_violations(imports: Sequence[Import]) -> list[str]:
    out = []
    for imp in imports:
        if any(covers(s, imp.source) and covers(t, imp.target) for s, t in EXCEPTIONS):
            continue
        for sources, forbidden, why in RULES:
            if not any(covers(s, imp.source) for s in sources):
                continue
            for f in forbidden:
                if covers(f, imp.target) and imp.target != imp.source:
                    out.append(f"{imp.where()}: {imp.source} imports {imp.target} ({why})")
    return out


def import_cycles(imports: Sequence[Import], packages: Sequence[str] = PACKAGES) -> list[str]:
    """Each circle among the packages' modules, as `a -> b -> a` with the import lines."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.source != imp.target and any(covers(p, imp.target) for p in packages):
            graph.setdefault(imp.source, {}).setdefault(imp.target, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in components:
        members = set(comp)
        start = min(comp)
        path, seen = [start], {start}
        while True:  # walk inside the component until a module repeats: one concrete circle
            nxt = sorted(w for w in graph[path[-1]] if w in members)
            step = next((w for w in nxt if w not in seen), nxt[0])
            path.append(step)
            if step in seen:
                break
            seen.add(step)
        cycle = path[path.index(path[-1]):]
        lines = ", ".join(graph[a][b].where() for a, b in zip(cycle, cycle[1:]))
        out.append(f"{' -> '.join(cycle)} ({lines})")
    return out


def guarded_own_imports(root: Path, packages: Sequence[str] = PACKAGES) -> list[str]:
    """`try: from m3vos... import ...` / `except ImportError`: a guard around our own code hides
    its bugs (only optional third-party engines may be guarded)."""
    out = []
    for name, path in module_names(root, packages).items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Try):
                continue
            caught = " ".join(ast.unparse(h.type) for h in node.handlers if h.type is not None)
            if "ImportError" not in caught and "ModuleNotFoundError" not in caught:
                continue
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and (stmt.level or any(
                        covers(p, stmt.module or "") for p in packages)):
                    out.append(f"{path.relative_to(root)}:{stmt.lineno}: {name} guards its import "
                               f"of {stmt.module or '.'} with except ImportError")
                if isinstance(stmt, ast.Import) and any(covers(p, a.name) for a in stmt.names
                                                        for p in packages):
                    out.append(f"{path.relative_to(root)}:{stmt.lineno}: {name} guards an import "
                               "of m3vos with except ImportError")
    return out


def check(root: Path, packages: Sequence[str] = PACKAGES) -> list[str]:
    """Every broken rule, circle and guarded own import under `root`; empty when all hold."""
    imports = collect_imports(root, packages)
    return (rule_violations(imports) + import_cycles(imports, packages)
            + guarded_own_imports(root, packages))


# ---------------------------------------------------------------------------- the real tree
def test_the_source_follows_the_import_rules():
    imports = collect_imports(REPO)
    assert len({i.source for i in imports}) > 100, "the checker read the whole tree"
    assert rule_violations(imports) == []


def test_there_is_no_import_circle():
    assert import_cycles(collect_imports(REPO)) == []


def test_our_own_modules_are_never_imported_behind_an_importerror_guard():
    assert guarded_own_imports(REPO) == []


def test_every_rule_names_existing_packages():
    """A renamed package must not leave a rule silently checking nothing."""
    modules = module_names(REPO, PACKAGES)
    for sources, forbidden, _ in RULES:
        for name in (*sources, *forbidden):
            if name != "torch":
                assert any(covers(name, m) for m in modules), name


# ---------------------------------------------------------------------------- planted faults
def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if parent != Path("."):
                (root / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(text))
    return root


CLEAN = {
    "m3vos/errors.py": "class M3vosError(Exception): ...\n",
    "m3vos/utils/atomic.py": "from m3vos.errors import M3vosError\n",
    "m3vos/data/dataset.py": "from m3vos.data.labels import TargetObject\n",
    "m3vos/data/labels.py": """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from m3vos.data.dataset import Dataset   # annotations only: not a circle
        class TargetObject: ...
        """,
    "m3vos/metrics/engine.py": "def score():\n    from m3vos.data import dataset\n",
    "m3vos/trackers/cutie/network.py": "def load():\n    from ..checkpoint import read\n",
    "m3vos/trackers/checkpoint.py": "def read(): ...\n",
    "m3vos/trackers/weights.py": "from m3vos.utils.cache import cache_dir\n",
    "m3vos/trackers/external.py": "from m3vos.data.masks import read_mask\n",
    "m3vos/utils/cache.py": "def cache_dir(): ...\n",
    "m3vos/data/masks.py": "def read_mask(): ...\n",
    "m3vos/runner/api.py": "from m3vos.trackers.cutie import network\n",
    "m3vos_cli/main.py": "from m3vos.runner import api\n",
}


def test_a_clean_tree_passes(tmp_path):
    assert check(write_tree(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("fault, files, expect", [
    ("library imports the CLI",
     {"m3vos/utils/atomic.py": "def f():\n    import m3vos_cli.main\n"},
     "m3vos.utils.atomic imports m3vos_cli.main"),
    ("metrics imports torch in a function",
     {"m3vos/metrics/engine.py": "def score():\n    import torch\n"},
     "m3vos.metrics.engine imports torch"),
    ("metrics imports a tracker",
     {"m3vos/metrics/engine.py": "from m3vos.trackers.cutie import network\n"},
     "m3vos.metrics.engine imports m3vos.trackers.cutie.network"),
    ("data imports the runner",
     {"m3vos/data/labels.py": "class TargetObject: ...\ndef f():\n    from m3vos.runner.api import run\n"},
     "m3vos.data.labels imports m3vos.runner.api"),
    ("a tracker reaches into data for the cache",
     {"m3vos/trackers/weights.py": "def d():\n    from m3vos.data.config import cache_dir\n"},
     "m3vos.trackers.weights imports m3vos.data.config"),
    ("a tracker other than the external one reads masks through data",
     {"m3vos/trackers/flow.py": "from m3vos.data.masks import read_mask\n"},
     "m3vos.trackers.flow imports m3vos.data.masks"),
    ("model code imports data (relative import)",
     {"m3vos/trackers/cutie/network.py": "from ...data import dataset\n"},
     "m3vos.trackers.cutie.network imports m3vos.data.dataset"),
    ("an ImportError guard around our own module",
     {"m3vos/runner/api.py": "try:\n    from m3vos.trackers.cutie import network\nexcept ImportError:\n    network = None\n"},
     "m3vos.runner.api guards its import of m3vos.trackers.cutie"),
    ("a circle through function-level imports",
     {"m3vos/data/labels.py": "class TargetObject: ...\ndef f():\n    from m3vos.data import dataset\n"},
     "m3vos.data.dataset -> m3vos.data.labels -> m3vos.data.dataset"),
])
def test_a_planted_fault_is_reported(tmp_path, fault, files, expect):
    found = check(write_tree(tmp_path, {**CLEAN, **files}))
    assert any(expect in line for line in found), (fault, found)
    assert all(".py:" in line for line in found), "each finding names the file and line"
