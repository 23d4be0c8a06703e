"""The layers of the `pipeline` package (its __init__.py lists them): every import points down or
stays within its own subpackage, no module imports itself back through others, and infra/ uses only
what it shares with the job.

Every import counts: at module level and inside functions, `import pipeline.a.b`, `from pipeline.a
import b`, `from pipeline import a` and relative imports, read with `ast` (nothing is imported).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "pipeline"
ENTRY = "entry"
"""`pipeline.cli` and `pipeline.__main__`: the command line and the spark-submit entry point."""
ALLOWED: dict[str, set[str]] = {
    ENTRY: {"cloud", "job", "report", "model", "storage", "contract"},
    "cloud": {"report", "model", "storage", "contract"},  # never job: the client starts without Spark
    "job": {"report", "model", "storage", "contract"},
    "report": {"model", "storage", "contract"},
    "model": {"storage", "contract"},
    "storage": {"contract"},
    "contract": set(),
}
"""The layers a layer may import besides itself."""
SUBPACKAGES = set(ALLOWED) - {ENTRY}
INFRA_ALLOWED = ("pipeline.contract", "pipeline.model.embedder")
"""What infra/ and app.py may import of pipeline: the contract, and the embedder, whose conversion
`cdk deploy` runs to upload the TF Lite model (infra/packaging.py) and whose sidecar naming rule the
config checks a weights file against (infra/config.py)."""


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a subpackage by its own name, for its __init__.py)."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in path.parts}


def imports(source: str, module: str, is_package: bool, known: set[str]) -> Iterator[tuple[int, str]]:
    """(line, module imported) for every pipeline import in `source`, wherever it sits.

    `from X import y` names the module X.y when that is a module of the package, else X.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "pipeline")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin.split(".")[0] != "pipeline":
                continue
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                yield node.lineno, candidate if candidate in known else origin


def layer(module: str) -> str | None:
    """The layer of a module of the package, or None for one that belongs to no layer."""
    parts = module.split(".")
    if parts[0] != "pipeline":
        return None
    if len(parts) == 1 or parts[1] in ("cli", "__main__"):
        return ENTRY
    return parts[1] if parts[1] in SUBPACKAGES else None


def violations(source: str, module: str, is_package: bool = False, known: set[str] | None = None) -> list[str]:
    """Each import of `source` (the code of `module`) that points up or sideways, as `module:line -> target`."""
    known = set(package_modules()) if known is None else known
    own = layer(module)
    found = []
    for line, target in imports(source, module, is_package, known):
        other = layer(target)
        if own is None or other is None or (other != own and other not in ALLOWED[own]):
            found.append(f"{module}:{line} -> {target} ({own} may import {sorted(ALLOWED.get(own, ()))})")
    return list(dict.fromkeys(found))


def infra_violations(source: str, module: str) -> list[str]:
    known = set(package_modules())
    return [
        f"{module}:{line} -> {target}"
        for line, target in imports(source, module, False, known)
        if not any(target == allowed or target.startswith(allowed + ".") for allowed in INFRA_ALLOWED)
    ]


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (module -> modules it imports), as the modules round it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_every_module_belongs_to_a_layer():
    strays = [name for name in package_modules() if layer(name) is None]
    assert strays == [], "a module outside the layers (pipeline/__init__.py)"
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert subpackages == SUBPACKAGES


def test_imports_point_down_the_layers_only():
    modules = package_modules()
    found = [
        problem
        for name, path in modules.items()
        for problem in violations(path.read_text(), name, path.name == "__init__.py", set(modules))
    ]
    assert found == []


def test_no_import_circle():
    modules = package_modules()
    graph = {
        name: {target for _, target in imports(path.read_text(), name, path.name == "__init__.py", set(modules))}
        for name, path in modules.items()
    }
    assert cycle(graph) is None


def test_package_init_files_are_docstrings_only():
    """`make` runs `python -m pipeline.job.prerequisites` with any Python: every __init__.py on the way
    must parse and run there, and each says what its layer owns and may import."""
    for path in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(path.read_text())
        docstring = ast.get_docstring(tree)
        assert len(tree.body) == 1 and docstring, path
        assert "May import" in docstring if path.parent != PACKAGE else "Layers" in docstring, path


def test_infra_imports_only_the_contract_and_the_model_conversion():
    sources = [REPO / "app.py", *sorted((REPO / "infra").rglob("*.py"))]
    found = [problem for path in sources for problem in infra_violations(path.read_text(), module_name(path))]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pipeline.report.plots", "def draw():\n    from pipeline.job.run import run\n"),  # inside a function
        ("pipeline.job.run", "import pipeline.cloud.command\n"),  # sideways: the job never needs the client
        ("pipeline.cloud.runs", "from pipeline import job\n"),
        ("pipeline.contract.prices", "from pipeline.cli import main\n"),
        ("pipeline.storage.files", "from pipeline.model.decoding import decode_image\n"),
        ("pipeline.report.plots", "from ..job import run\n"),  # relative
        ("pipeline.model.embedder", "from pipeline.unknown import thing\n"),  # outside any layer
    ],
)
def test_an_upward_or_sideways_import_is_refused(module, source):
    assert violations(source, module) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pipeline.report.plots", "from . import run_report\nfrom ..contract import prices\n"),
        ("pipeline.cloud.dashboard", "def page():\n    from pipeline.report.dashboard import write\n"),
        ("pipeline.cli", "from pipeline.job.run import run\nfrom pipeline.cloud import command\n"),
    ],
)
def test_imports_down_or_within_a_subpackage_are_allowed(module, source):
    assert violations(source, module) == []


def test_a_circle_is_found():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_infra_importing_the_job_is_refused():
    assert infra_violations("from pipeline.job.run import run\n", "infra.compute") != []
    assert infra_violations("from pipeline import model\n", "infra.config") != []  # the whole layer: no
    assert infra_violations("from pipeline.contract.versions import EMR_RELEASE\n", "infra.compute") == []
