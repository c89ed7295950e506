"""The project uses only the public API of the Pulumi SDK, grpc and the standard library, so an
upgrade of any of them is a version bump that the suite judges, never a rewrite. Refused, each
named by file and line:

- a name beginning with `_` (not a dunder) imported from, or read as an attribute of, one of
  their modules (`pulumi.automation._server`, `from pulumi.runtime._callbacks import …`,
  `multiprocessing.forkserver._forkserver`, `os._exit`);
- an attribute of one of their modules assigned (`pulumi.log.debug = …`);
- an object made without its constructor (`Cls.__new__(Cls)` outside a `__new__`);
- a private attribute set on `self` in a subclass of one of their classes (`self._mode = …`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUARDED = ("pulumi", "pulumi_policy", "grpc", *sorted(sys.stdlib_module_names))


def _python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "*.py"], cwd=ROOT, capture_output=True, text=True, check=True,
                            timeout=60).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).exists()]


def _guarded(module: str) -> bool:
    return module.split(".")[0] in GUARDED


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the guarded module (or module attribute) it is bound to by an import."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _guarded(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and _guarded(node.module):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(ROOT)
    aliases = _module_aliases(tree)
    found = []

    def say(node: ast.AST, what: str) -> None:
        found.append(f"{where}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _guarded(alias.name) and any(map(_private, alias.name.split("."))):
                    say(node, f"imports the private module {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and _guarded(node.module):
            private = [n.name for n in node.names if _private(n.name)]
            if any(map(_private, node.module.split("."))) or private:
                say(node, f"imports private {node.module}{'.' + private[0] if private else ''}")
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            parts = _dotted(node)
            if parts and parts[0] in aliases and _private(parts[-1]):
                say(node, f"reads the private {aliases[parts[0]]}.{'.'.join(parts[1:])}")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                parts = _dotted(target) if isinstance(target, ast.Attribute) else None
                if parts and parts[0] in aliases:
                    say(node, f"assigns {aliases[parts[0]]}.{'.'.join(parts[1:])}")
    inside_new = {id(call) for function in ast.walk(tree)
                  if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and function.name == "__new__" for call in ast.walk(function)}
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        if isinstance(call.func, ast.Attribute) and call.func.attr == "__new__" and \
                id(call) not in inside_new:
            say(call, "makes an object without its constructor (__new__)")
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        bases = [_dotted(base) for base in cls.bases]
        if not any(parts and parts[0] in aliases for parts in bases):
            continue
        for node in ast.walk(cls):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in (t for tt in targets for t in ast.walk(tt)):
                parts = _dotted(target) if isinstance(target, ast.Attribute) else None
                if parts and parts[0] == "self" and len(parts) == 2 and _private(parts[1]):
                    say(node, f"sets the private {parts[1]} of its base class in {cls.name}")
    return sorted(set(found))


def test_only_the_public_api_of_pulumi_grpc_and_the_standard_library():
    found = [line for path in _python_files() for line in _findings(path)]
    assert found == [], "private API used:\n" + "\n".join(found)


def test_the_check_finds_each_kind_of_private_use(tmp_path, monkeypatch):
    """The check itself, on one line of each kind it refuses (and one it allows)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nimport multiprocessing.forkserver\nimport pulumi.log\n"
        "from pulumi import automation as auto\n"
        "from pulumi.runtime._callbacks import _CallbackServicer\n"
        "from pulumi.automation._server import LanguageServer\n"
        "os._exit(0)\nmultiprocessing.forkserver._forkserver\npulumi.log.debug = print\n"
        "def f():\n    return auto.PulumiCommand.__new__(auto.PulumiCommand)\n"
        "class Known(auto.Stack):\n    def __init__(self):\n        self._mode = 'x'\n"
        "os.path.join('a', 'b')\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = "\n".join(_findings(sample))
    for line in (5, 6, 7, 8, 9, 11, 14):
        assert f"sample.py:{line}:" in found, found
    assert "sample.py:15:" not in found
