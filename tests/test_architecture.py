"""The layers of the house import in one direction only: core ← training ← io/data ← faces."""

from __future__ import annotations

import ast
from pathlib import Path

import chainrule

PACKAGE = Path(chainrule.__file__).parent
LAYER = {
    **dict.fromkeys(
        [
            "base",
            "activations",
            "layers",
            "level",
            "losses",
            "initializers",
            "sparse",
            "network",
            "optimizers",
            "schedules",
            "gradcheck",
            "explain",
        ],
        0,
    ),
    "training": 1,
    "callbacks": 1,
    "world": 1,
    "stopping": 1,
    "batches": 1,
    "run": 1,
    "checkpoint": 1,
    "safefile": 1,
    "io": 2,
    "toys": 2,
    "onnx": 2,
    "sklearn": 3,
    "sklearn_parts": 3,
    "sklearn_base": 3,
    "sklearn_solvers": 3,
    "data": 2,
    "shards": 2,
    "evaluation": 2,
    "heads": 0,
    "pipeline": 2.5,  # the pipeline every face drives
    "plots": 2.5,
    "rundir": 2.5,
    "datafiles": 2,
    "idx": 2,
    "preprocessing": 2,
    **dict.fromkeys(["cli", "cli.app", "cli.models", "cli.tools", "cli.train"], 3),
    "__init__": 3,
    "__main__": 3,
    **dict.fromkeys(
        [
            "playground",
            "playground.__main__",
            "playground.app",
            "playground.data",
            "playground.features",
            "playground.session",
            "playground.settings",
        ],
        3,
    ),
    "distributed": 3,
    "diagram": 3,  # what the playground page and the notebook widget draw
    "widget": 3,
}
THIRD_PARTY = {
    0: {"numpy"},
    1: {"numpy", "safetensors", "mpi4py"},  # mpi4py: imported when an MPIWorld is made
    2: {"numpy", "safetensors", "mpi4py", "onnx", "platformdirs", "sklearn"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _module(path: Path) -> str:
    """The module's name inside the package: ``network``, ``playground`` (its __init__),
    ``playground.app``; the package's own __init__ is ``__init__``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if len(parts) > 1 and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_every_module_has_a_layer():
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    assert modules <= LAYER.keys(), f"place {modules - LAYER.keys()} in a layer of tests/test_architecture.py"


def test_imports_point_down():
    import sys

    for path in PACKAGE.rglob("*.py"):
        level = LAYER[_module(path)]
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "chainrule":
                inner = name.removeprefix("chainrule.") if "." in name else "__init__"
                assert LAYER[inner] <= level, (
                    f"{path.name} (layer {level}) imports {name} (layer {LAYER[inner]})"
                )
            elif top not in sys.stdlib_module_names and level in THIRD_PARTY:
                assert top in THIRD_PARTY[level], f"{path.name} imports {top}"


def test_no_import_cycle():
    """Following the package's imports (at any depth, also those inside functions or under
    TYPE_CHECKING) never leads back to the module it started from."""
    graph = {
        _module(path): {
            name.removeprefix("chainrule.") if "." in name else "__init__"
            for name in _imports(path)
            if name.split(".")[0] == "chainrule"
        }
        for path in PACKAGE.rglob("*.py")
    }
    for start in graph:
        seen, todo = set(), list(graph[start] - {"__init__"})
        while todo:
            module = todo.pop()
            assert module != start, f"{start} imports itself through {sorted(seen)}"
            if module not in seen:
                seen.add(module)
                todo += graph.get(module, set()) - {"__init__"}


def test_no_framework_and_no_pickle_anywhere():
    banned = {"torch", "tensorflow", "jax", "pickle", "dill", "cloudpickle", "joblib"}
    for path in PACKAGE.rglob("*.py"):
        assert not {n.split(".")[0] for n in _imports(path)} & banned, path.name
        assert "allow_pickle=True" not in path.read_text(), path.name
