"""The package's shape: one import name, no import cycle, each room imports only the rooms below it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Source folder of each top-level subpackage, as pyproject.toml maps them.
ROOTS = {"framing": ROOT / "framing", "framing.model": ROOT / "model", "framing.training": ROOT / "training"}
#: Which rooms each room may import (itself always); the base modules are importable by all.
BASE = {"framing", "framing.errors", "framing.files", "framing.limits"}
ALLOWED = {
    "framing.model": set(),
    "framing.training": {"framing.model"},
    "framing.batch": {"framing.model"},
    "framing.outlets": {"framing.model", "framing.batch"},
    "framing.web": {"framing.model", "framing.batch", "framing.outlets"},
    "framing.notebook": {"framing.model", "framing.batch", "framing.outlets"},
    "framing.cli": {"framing.model", "framing.training", "framing.batch", "framing.outlets", "framing.web"},
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "framing" and parts[0] in ("model", "training"):
                continue
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every framing module `path` imports, at module level or inside functions alike (an import
    inside a function hides a cycle; it does not remove it)."""
    out: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*parent, base] if base else parent)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_each_room_imports_only_the_rooms_below_it():
    wrong = []
    for module, targets in _graph().items():
        room = _room(module)
        allowed_rooms = set() if module in BASE else ALLOWED.get(room, set()) | {room}
        for target in targets:
            if target in BASE:
                continue  # the base modules import nothing above them (checked below)
            if module == "framing" and target.startswith("framing.model"):
                continue  # the package root re-exports FramingClassifier, lazily
            if _room(target) not in allowed_rooms:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_import_check_sees_a_planted_cycle(tmp_path):
    """The checker itself can fail: two modules importing each other inside functions form a cycle."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from framing.model import b\n", encoding="utf-8")
    assert _imports(a, "framing.model.a", {"framing.model.a", "framing.model.b"}) == {"framing.model.b"}


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_only_framing_is_installed_and_a_local_model_py_does_not_shadow_it(tmp_path):
    (tmp_path / "model.py").write_text("MINE = True\n", encoding="utf-8")
    result = _run(
        "import model; assert model.MINE; from framing import FramingClassifier; print(FramingClassifier.__name__)", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "FramingClassifier"
    empty = tmp_path / "empty"
    empty.mkdir()
    for generic in ("model", "training"):
        assert _run(f"import {generic}", empty).returncode != 0, f"a top-level '{generic}' package is installed"


@pytest.mark.parametrize(
    "modules",
    [
        "framing.cli.app",
        "framing.training.evaluate, framing.training.baselines, framing.training.data, framing.training.calibration",
        "framing.model.classifier, framing.model.onnx_backend, framing.batch.stream, framing.outlets.analysis",
    ],
)
def test_evaluation_baselines_and_onnx_inference_do_not_import_torch(tmp_path, modules):
    result = _run(
        f"import sys; import {modules}; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
