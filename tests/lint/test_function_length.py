"""The program's functions stay short enough to read in one screen (components/)."""

import ast
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
LIMIT = 60


def test_no_function_in_components_is_longer_than_the_limit():
    long = []
    for path in sorted(COMPONENTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
