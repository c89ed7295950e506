"""The workflows pass actionlint (with shellcheck on their shell steps) and run on exactly the
paths netbird_keycloak/changed_stacks.py counts as the program or a stack."""

import subprocess
from pathlib import Path

import pytest
import yaml

from netbird_keycloak.changed_stacks import PROGRAM

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = Path.home() / ".cache/netbird-keycloak/bin/actionlint"


def test_workflows_pass_actionlint():
    if not ACTIONLINT.exists():
        pytest.fail(f"actionlint is not installed at {ACTIONLINT}: run "
                    "`bash scripts/bootstrap.sh actionlint`", pytrace=False)
    workflows = sorted(str(p) for p in (ROOT / ".github/workflows").glob("*.yml"))
    assert workflows, "no workflow to check"
    run = subprocess.run([str(ACTIONLINT), *workflows], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("workflow,event", [("preview.yml", "pull_request"),
                                            ("fleet-up.yml", "push")])
def test_workflows_trigger_on_the_program_and_the_stack_files(workflow, event):
    on = yaml.safe_load((ROOT / ".github/workflows" / workflow).read_text())[True]
    wanted = {"stacks/Pulumi.*.yaml"} | {f"{p}**" if p.endswith("/") else p for p in PROGRAM}
    assert set(on[event]["paths"]) == wanted
