"""Every `module.name` that reaches into one of the project's own modules names something that
module defines. Pyflakes checks names, not attributes: a helper deleted from tests/e2e/harness.py
while two tests still called `harness.working_in` passed every lint and failed only in the e2e
run that reached it, twenty minutes in."""

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60).stdout.split()
    return [ROOT / name for name in listed]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """What a module binds at import time; None when it cannot be known (a star import or a
    module-level __getattr__)."""
    names: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []))
            if isinstance(node, ast.For):
                names.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return None if "__getattr__" in names else names


def _rebound(tree: ast.Module) -> set[str]:
    """Names the file binds other than by an import (a parameter or variable of the same name
    hides the module there)."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
             and isinstance(n.ctx, (ast.Store, ast.Del))}
    names |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    names |= {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}
    return names


def _module_aliases(tree: ast.Module, here: str, modules: dict) -> dict[str, str]:
    """{local name: project module} for the imports in a file that bind a project module."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            package = here.rsplit(".", node.level)[0] if node.level else ""
            base = ".".join(filter(None, [package, node.module or ""]))
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    return aliases


def test_every_attribute_of_a_project_module_is_defined_there():
    trees = {_module_name(path): ast.parse(path.read_text(), str(path))
             for path in _python_files()}
    defined = {name: _top_level_names(tree) for name, tree in trees.items()}
    for name in trees:  # a package's submodules are its attributes too
        package, _, child = name.rpartition(".")
        if defined.get(package) is not None:
            defined[package].add(child)
    missing = []
    for here, tree in trees.items():
        aliases = _module_aliases(tree, here, trees)
        for local in _rebound(tree):
            aliases.pop(local, None)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                names = defined[aliases[node.value.id]]
                if names is not None and node.attr not in names:
                    missing.append(f"{here}:{node.lineno}: {node.value.id}.{node.attr} "
                                   f"({aliases[node.value.id]} defines no {node.attr!r})")
    assert not missing, "\n".join(sorted(set(missing)))
