"""The pull-request preview workflow passes actionlint (with shellcheck on its shell steps)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = Path.home() / ".cache/netbird-keycloak/bin/actionlint"


def test_preview_workflow_passes_actionlint():
    if not ACTIONLINT.exists():
        pytest.fail(f"actionlint is not installed at {ACTIONLINT}: run "
                    "`bash scripts/bootstrap.sh actionlint`", pytrace=False)
    workflows = sorted(str(p) for p in (ROOT / ".github/workflows").glob("*.yml"))
    assert workflows, "no workflow to check"
    run = subprocess.run([str(ACTIONLINT), *workflows], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
