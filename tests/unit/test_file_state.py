"""What the driver reads from a file backend's state in place instead of starting the CLI
(foundation/file_state.py), and when it must ask the CLI after all."""

import json

import pytest

from foundation import file_state


@pytest.fixture
def backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    return tmp_path


def write_state(backend, resources):
    path = backend / ".pulumi" / "stacks" / "proj" / "acme.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"checkpoint": {"latest": {"resources": resources}}}))


def test_a_recorded_state_is_read_in_place(backend):
    resources = [{"type": "pulumi:pulumi:Stack", "outputs": {"keycloak_database": "postgres"}}]
    write_state(backend, resources)
    assert file_state.exists("proj", "acme") is True
    assert file_state.resources("proj", "acme") == resources


def test_without_a_state_file_or_on_another_backend_the_cli_is_asked(backend, monkeypatch):
    assert file_state.exists("proj", "acme") is None
    assert file_state.resources("proj", "acme") is None
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://state.example/pulumi")
    assert file_state.path("proj", "acme") is None
