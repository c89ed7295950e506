"""Every Python file passes pyflakes' checks (ruff's `F` rules, pinned in requirements-dev.txt):
an undefined name or a missing import is found here, not by the one command path that runs it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_undefined_names_unused_imports_or_other_pyflakes_findings():
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run([str(ruff), "check", "--select", "F", "--no-cache",
                           "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr, done.stderr
