"""What the driver reads from a file backend's state in place instead of starting the CLI
(netbird_keycloak/file_state.py), and when it must ask the CLI after all."""

import json

import pytest

from netbird_keycloak import file_state
from netbird_keycloak import stack as driver


@pytest.fixture
def backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    return tmp_path


def write_state(backend, resources):
    path = backend / ".pulumi" / "stacks" / "proj" / "acme.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"checkpoint": {"latest": {"resources": resources}}}))


def test_a_recorded_plain_output_is_read_in_place(backend):
    write_state(backend, [{"type": "pulumi:pulumi:Stack", "outputs": {
        "keycloak_database": "postgres",
        "user_password": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                          "ciphertext": "v1:abc"}}}])
    assert file_state.exists("proj", "acme") is True
    assert file_state.output("proj", "acme", "keycloak_database") == (True, "postgres")
    assert file_state.output("proj", "acme", "never_exported") == (True, None)
    # A secret needs the passphrase: only the CLI reads it.
    assert file_state.output("proj", "acme", "user_password") == (False, None)


def test_without_a_state_file_or_on_another_backend_the_cli_is_asked(backend, monkeypatch):
    assert file_state.exists("proj", "acme") is None
    assert file_state.resources("proj", "acme") is None
    assert file_state.output("proj", "acme", "keycloak_database") == (False, None)
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://state.example/pulumi")
    assert file_state.path("proj", "acme") is None


def test_the_bootstraps_cli_is_used_without_running_pulumi_version(monkeypatch, tmp_path):
    monkeypatch.setenv("PULUMI_CLI_ROOT", str(tmp_path / "pulumi-v3.259.0"))
    command = driver.pulumi_command()  # no binary there: running it would fail
    assert command.command == str(tmp_path / "pulumi-v3.259.0" / "bin" / "pulumi")
    assert str(command.version) == "3.259.0"
