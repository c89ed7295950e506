"""Which commands start the engine ahead of the SDK's imports (netbird_keycloak/engine_run.py),
and the flags they give the CLI (unit: files of this test only, nothing started). A command that
cannot start ahead runs as it would anyway, so the cases are where starting ahead would be wrong:
a stack the state does not show (the Automation API selects or creates it), another backend, a
stack without its file or with a Docker engine that does not answer (stack.main refuses those
with its messages)."""

import json

import pytest
import yaml

from netbird_keycloak.engine_run import ahead_for, engine_args


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    (tmp_path / "Pulumi.yaml").write_text("name: proj\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    return tmp_path


def stack(project, name, config, recorded=True):
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    if recorded:
        state = project / "state" / ".pulumi" / "stacks" / "proj" / f"{name}.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"checkpoint": {"latest": {"resources": []}}}))
    return ["--stack", name, "--work-dir", str(project)]


EXISTING = {"keycloak:deploy": "false", "keycloak:url": "http://127.0.0.1:1"}


@pytest.mark.parametrize("command", ["up", "preview", "refresh", "destroy"])
def test_engine_commands_on_a_recorded_stack_start_ahead(project, command):
    args = ahead_for([command, *stack(project, "acme", EXISTING), "--refresh"])
    assert (args.command, args.stack, args.refresh) == (command, "acme", True)


@pytest.mark.parametrize("command", ["env", "unlock"])
def test_other_commands_do_not(project, command):
    assert ahead_for([command, *stack(project, "acme", EXISTING)]) is None


def test_a_stack_the_state_does_not_show_does_not(project):
    assert ahead_for(["up", *stack(project, "new", EXISTING, recorded=False)]) is None


def test_a_stack_without_its_file_does_not(project):
    assert ahead_for(["up", "--stack", "typo", "--work-dir", str(project)]) is None


def test_another_backend_does_not(project, monkeypatch):
    argv = ["up", *stack(project, "acme", EXISTING)]
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://state.example/pulumi")
    assert ahead_for(argv) is None


def test_a_deploying_stack_whose_docker_engine_does_not_answer_does_not(project):
    argv = ["up", *stack(project, "acme", {"docker:host": f"unix://{project}/no.sock"})]
    assert ahead_for(argv) is None


def test_bad_arguments_are_left_to_the_command():
    assert ahead_for(["up", "--stack"]) is None


def test_flags_are_those_the_automation_api_gives():
    assert engine_args("up", False) == ["--yes", "--skip-preview", "--color", "never"]
    assert engine_args("preview", True) == ["--diff", "--color", "never", "--refresh"]
    assert engine_args("destroy", False) == ["--yes", "--skip-preview", "--color", "never"]
