"""The package's shape: no import circles among mlci modules (counting imports inside functions, which
would otherwise hide one), imports only downward (`commands → deploy → run → runner/record/publish →
manifest → errors`), modules small enough to read, one Docker client factory, one way to run Git, and a CLI
that starts without the heavy client libraries."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlci"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _target(name: str) -> str | None:
    """The mlci module an import names (`mlci.a.b` when that is a module, else its package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported mlci module, line, inside a function?) for every import anywhere in the module."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = _package_of(module, path).split(".")
                    base = ".".join(package[: len(package) - child.level + 1] + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, nested)
                continue
            for name in names:
                if name == "mlci" or name.startswith("mlci."):
                    target = _target(name)
                    if target and target != module:
                        found.append((target, child.lineno, in_function))

    visit(tree, False)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(GRAPH)))

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _, _ in GRAPH[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            connect(node)
    return components


def test_the_import_graph_is_read_from_the_source(tmp_path):
    # guards the graph builder itself: a builder that found nothing would pass every test below
    assert "mlci.runner.stage_spec" in {t for t, _, _ in GRAPH["mlci.runner.resources"]}
    assert "mlci.host.checks" in {t for t, _, _ in GRAPH["mlci.host.gpu_checks"]}
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from mlci import secrets\n\ndef f():\n    from mlci.errors import MlciError\n    return MlciError\n"
    )
    assert _imports("mlci.sample", sample) == [("mlci.secrets", 1, False), ("mlci.errors", 4, True)]


def test_no_import_circles_among_mlci_modules():
    assert _cycles() == []


def test_no_function_local_imports_of_mlci_modules():
    found = [
        f"{_rel(MODULES[module])}:{line}: imports {target} inside a function"
        for module, imports in GRAPH.items()
        for target, line, local in imports
        if local
    ]
    assert found == [], "import at the top; a local import hides circles"


# What each part may not import: the layers run
# `commands → deploy → run → runner/record/publish → manifest → errors`; mlci.bundle (edge bundles)
# sits beside run: it uses publish, runner and manifest, and nothing below uses it.
FORBIDDEN = {
    "mlci.errors": ("mlci.",),
    "mlci.manifest": (
        "mlci.deploy",
        "mlci.run",
        "mlci.runner",
        "mlci.record",
        "mlci.publish",
        "mlci.release",
        "mlci.host",
        "mlci.render",
        "mlci.adopt",
        "mlci.commands",
        "mlci.cli",
        "mlci.bundle",
    ),
    "mlci.runner": (
        "mlci.deploy",
        "mlci.run",
        "mlci.commands",
        "mlci.cli",
        "mlci.release",
        "mlci.host",
        "mlci.adopt",
        "mlci.bundle",
    ),
    "mlci.record": (
        "mlci.deploy",
        "mlci.run",
        "mlci.runner",
        "mlci.publish",
        "mlci.commands",
        "mlci.cli",
        "mlci.bundle",
    ),
    "mlci.publish": ("mlci.deploy", "mlci.run", "mlci.commands", "mlci.cli", "mlci.bundle"),
    "mlci.run": ("mlci.deploy", "mlci.commands", "mlci.cli", "mlci.bundle"),
    "mlci.bundle": (
        "mlci.deploy",
        "mlci.run",
        "mlci.commands",
        "mlci.cli",
        "mlci.release",
        "mlci.host",
        "mlci.render",
        "mlci.adopt",
    ),
    # serving a published version: above run (its itest container carries a run's owner labels)
    "mlci.deploy": (
        "mlci.commands",
        "mlci.cli",
        "mlci.release",
        "mlci.render",
        "mlci.adopt",
        "mlci.web",
        "mlci.bundle",
    ),
}


def _within(module: str, part: str) -> bool:
    return module == part.rstrip(".") or module.startswith(part if part.endswith(".") else part + ".")


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_go_only_downward(part):
    found = [
        f"{_rel(MODULES[module])}:{line}: {module} imports {target}"
        for module, imports in GRAPH.items()
        if _within(module, part)
        for target, line, _ in imports
        if any(_within(target, banned) for banned in FORBIDDEN[part])
    ]
    assert found == []


def test_only_the_cli_imports_commands():
    found = [
        f"{_rel(MODULES[module])}:{line}: imports {target}"
        for module, imports in GRAPH.items()
        if not (_within(module, "mlci.commands") or module == "mlci.cli")
        for target, line, _ in imports
        if _within(target, "mlci.commands")
    ]
    assert found == []


def test_modules_stay_short():
    lengths = {_rel(p): len(p.read_text().splitlines()) for p in MODULES.values()}
    over = sorted(f"{rel}: {n} lines" for rel, n in lengths.items() if n > MAX_LINES)
    assert over == [], f"split by job (at most {MAX_LINES} lines a module)"


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_one_docker_client_factory():
    makers = {"from_env", "DockerClient", "APIClient"}
    found = sorted(
        f"{_rel(path)}:{call.lineno}"
        for path in MODULES.values()
        for call in _calls(path)
        if _name(call.func) in makers
    )
    assert found and all(f.startswith("mlci/runner/engine.py:") for f in found), found


def test_one_way_to_run_git():
    runners = {"run", "Popen", "check_output", "check_call", "call"}
    found = sorted(
        f"{_rel(path)}:{call.lineno}"
        for path in MODULES.values()
        for call in _calls(path)
        if _name(call.func) in runners
        and call.args
        and isinstance(call.args[0], ast.List)
        and call.args[0].elts
        and isinstance(call.args[0].elts[0], ast.Constant)
        and call.args[0].elts[0].value == "git"
    )
    assert found and all(f.startswith("mlci/git.py:") for f in found), found


@pytest.mark.parametrize("args", [["--help"], ["validate"], ["status"], ["cache", "ls"]])
def test_commands_that_need_no_client_library_start_without_them(args, tmp_path):
    # docker-py, requests, boto3, huggingface_hub and python-jenkins are imported where they are used
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    probe = (
        "import sys\nfrom mlci.cli import main\n"
        f"code = main({['--root', str(tmp_path), *args]!r})\n"
        "print(code, ' '.join(sorted(m for m in ('docker', 'requests', 'boto3', 'huggingface_hub', 'jenkins')"
        " if m in sys.modules)))"
    )
    env = {**os.environ, "MLCI_CACHE_DIR": str(tmp_path / "cache"), "MLCI_RUNS_DIR": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.splitlines()[-1] == "0 "
