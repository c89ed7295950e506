"""The workflows pass actionlint (with shellcheck on their shell steps) and run on exactly the
paths netbird_keycloak/changed_stacks.py counts as the program or a stack."""

import json
import re
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


WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))


def jobs(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["jobs"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_a_commit_sha(path):
    # A tag can be moved to other code by whoever controls the action's repository.
    uses = [step["uses"] for job in jobs(path).values() for step in job.get("steps", [])
            if "uses" in step]
    assert uses, "no action used: this check would pass on nothing"
    assert [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u)] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_reach_single_steps_of_jobs_in_an_environment(path):
    workflow = yaml.safe_load(path.read_text())
    assert "secrets." not in json.dumps(workflow.get("env", {})), "secrets at workflow level"
    for name, job in workflow["jobs"].items():
        assert "secrets." not in json.dumps(job.get("env", {})), f"secrets at job level: {name}"
        if "secrets." in json.dumps(job.get("steps", [])):
            # The environment's reviewers or branch rule decide who may use the passphrase.
            assert job.get("environment") in ("preview", "production"), name
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, name
