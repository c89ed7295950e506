"""Every command validates its arguments before it starts anything that can change state: a
mistyped flag on `destroy` destroys nothing (no CLI, no state backend touched)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netbird_keycloak.before_run import ENGINE_COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    # A CLI folder that does not exist and a backend folder not made yet: any start shows.
    env = {**os.environ, "PULUMI_CLI_ROOT": str(tmp_path / "no-cli"),
           "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
           "PULUMI_CONFIG_PASSPHRASE": "unused-here"}
    return subprocess.run([sys.executable, "-m", "netbird_keycloak.cli", *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", ENGINE_COMMANDS)
@pytest.mark.parametrize("bad", [["--target", "urn:pulumi:dev::x"], ["--yes"], ["--stack"],
                                 ["extra-word"]])
def test_an_engine_command_with_a_bad_argument_starts_nothing(tmp_path, command, bad):
    done = run(tmp_path, command, "--stack", "dev", *bad)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error:" in done.stderr and "usage:" in done.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("command", ENGINE_COMMANDS)
def test_a_fleet_command_with_a_bad_argument_starts_nothing(tmp_path, command):
    done = run(tmp_path, "fleet", command, "--all", "--target", "urn:pulumi:dev::x")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unrecognized arguments: --target" in done.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("command", [c for c in ENGINE_COMMANDS if c != "destroy"])
def test_purge_goes_with_destroy_only(tmp_path, command):
    """`--purge` removes Keycloak's data: on any other command it is a mistake, refused before
    anything starts."""
    done = run(tmp_path, command, "--stack", "dev", "--purge")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--purge goes with destroy only" in done.stderr
    assert not (tmp_path / "state").exists()
