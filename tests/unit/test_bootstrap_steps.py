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
