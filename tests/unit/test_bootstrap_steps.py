"""`bootstrap.sh --stack` picks everything a stack needs on a new machine (no cache, no images).

A step named alone brings what it needs first (the Keycloak image is built from the Keycloak
distribution where no registry answers: without it a new machine's first `make up` failed).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
LOCAL_IMAGE = "netbird-keycloak/keycloak:26.7.3"
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml*"))


def steps(*args: str) -> list[str]:
    done = subprocess.run(["bash", str(BOOTSTRAP), "--print-steps", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def needed(config: dict) -> set[str]:
    """What a stack file needs, from what it says (not from bootstrap.sh)."""
    wanted = {"venv", "cli", "language", "plugins"}
    if str(config.get("keycloak:deploy", True)).lower() == "true" and \
            not config.get("docker:host"):
        wanted.add("docker")
        image = config.get("keycloak:image")
        if image == LOCAL_IMAGE:
            wanted |= {"image", "keycloak"}
        if image == f"{LOCAL_IMAGE}-postgres-optimized":
            wanted |= {"image", "keycloak", "optimized"}
        if config.get("keycloak:postgresImage") == "netbird-keycloak/postgres:15":
            wanted.add("postgres")
    return wanted


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_each_stack_file_gets_every_step_it_needs(path):
    config = yaml.safe_load(path.read_text())["config"]
    picked = steps("--stack", str(path))
    assert needed(config) <= set(picked), f"{path.name}: {picked}"
    for position, step in enumerate(picked):  # and what each of those needs, before it
        for need in steps(step)[:-1]:
            assert need in picked[:position], f"{step} needs {need} first: {picked}"


def test_the_dev_stack_gets_the_distribution_its_image_is_built_from():
    picked = steps("--stack", "dev")
    assert picked.index("keycloak") < picked.index("image")


def test_a_step_named_alone_brings_what_it_needs():
    assert steps("optimized") == ["docker", "keycloak", "image", "optimized"]
    assert steps("plugins") == ["venv", "cli", "plugins"]


def test_an_unknown_step_is_refused_by_name():
    done = subprocess.run(["bash", str(BOOTSTRAP), "--print-steps", "imgae"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "no bootstrap step 'imgae'" in done.stderr


def test_the_cli_version_is_declared_once():
    """.pulumi-version is what the bootstrap builds and the workflows install; the Go wrapper
    module that builds it cannot read a file, so it is held to the same version here."""
    version = (ROOT / ".pulumi-version").read_text().strip()
    go_mod = (ROOT / "toolchain" / "pulumi-cli" / "go.mod").read_text()
    assert f"github.com/pulumi/pulumi/pkg/v3 v{version}\n" in go_mod
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("pulumi/actions@"):
                    assert step["with"] == {"pulumi-version-file": ".pulumi-version"}, workflow


def test_a_warm_run_is_answered_from_its_stamp_until_a_piece_is_gone(tmp_path):
    """The second run with the same inputs starts no tool; when something a step left is gone
    (here: a file the stamp lists), the steps run again."""
    env = {**os.environ, "NETBIRD_KEYCLOAK_CACHE": str(tmp_path)}

    def bootstrap() -> str:
        done = subprocess.run(["bash", str(BOOTSTRAP), "venv"], capture_output=True, text=True,
                              env=env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "==> Python virtualenv" in bootstrap()
    stamps = list((tmp_path / "stamps").iterdir())
    assert len(stamps) == 1 and f"file {ROOT}/.venv/bin/netbird-keycloak" in stamps[0].read_text()
    assert bootstrap() == f"==> bootstrap: up to date (stamp {stamps[0]})\n"
    piece = tmp_path / "piece"
    piece.write_text("")
    stamps[0].write_text(stamps[0].read_text() + f"file {piece}\n")
    assert bootstrap().startswith("==> bootstrap: up to date")
    piece.unlink()
    assert "==> Python virtualenv" in bootstrap()
