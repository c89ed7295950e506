"""The project's layers import one way (docs/layout.md draws them):

    foundation/         the Keycloak and NetBird clients, the policy rules, state reading
    components/, __main__.py, policy/     the program (and its policy pack)
    netbird_keycloak/   the commands around the program
    tests/, bench/      what checks and measures it all

A module may import its own layer and the ones below it, never one above: the program runs
without the commands (`pulumi up` typed by hand), and nothing the product ships runs a test.
Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"foundation": 0, "components": 1, "__main__": 1, "policy": 1,
          "netbird_keycloak": 2, "tests": 3, "bench": 3}


def _layer_of_file(path: str) -> str | None:
    top = path.split("/")[0]
    top = top[:-3] if top.endswith(".py") else top
    return top if top in LAYERS else None


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _wrong_way(files: list[str]) -> list[str]:
    wrong = []
    for name in files:
        layer = _layer_of_file(name)
        if layer is None:
            continue
        tree = ast.parse((ROOT / name).read_text(), name)
        for line, module in _imported(tree):
            if module in LAYERS and LAYERS[module] > LAYERS[layer]:
                wrong.append(f"{name}:{line}: {layer} imports {module}, a layer above it")
    return wrong


def test_every_import_points_down_the_layers():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "*.py"], cwd=ROOT, capture_output=True, text=True, check=True,
                            timeout=60).stdout.split()
    wrong = _wrong_way([name for name in listed if (ROOT / name).exists()])
    assert wrong == [], "imports against the layers:\n" + "\n".join(wrong)


def test_the_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "late.py").write_text(
        "import foundation.keycloak_admin\n\ndef f():\n    from netbird_keycloak import stack\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _wrong_way(["components/late.py"]) == [
        "components/late.py:4: components imports netbird_keycloak, a layer above it"]
