"""What a stack's command must know and check before it starts the Pulumi engine: its
arguments, the stack file, the environment the CLI runs in, and that the Docker engine answers.
Only the standard library (and yaml) is imported here: `fleet` and `changed-stacks` use it
without the Pulumi SDK.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from netbird_keycloak import ROOT

PROJECT = "netbird-keycloak"
# The commands that run the Pulumi engine on a stack; every list of them is derived from this.
ENGINE_COMMANDS = ("up", "preview", "refresh", "destroy")
STACK_COMMANDS = (*ENGINE_COMMANDS, "env", "unlock")  # stack.py's


def parser() -> argparse.ArgumentParser:
    """The arguments of `netbird-keycloak up|preview|refresh|destroy|env|unlock`."""
    parsed = argparse.ArgumentParser(
        description="Runs the program for one stack: up, preview, refresh, destroy, env (write "
                    "out/<stack>/setup.env from the outputs, touching no infrastructure).")
    parsed.add_argument("command", choices=STACK_COMMANDS)
    parsed.add_argument("--stack", default="dev")
    parsed.add_argument("--work-dir", type=Path, default=ROOT,
                        help="folder with Pulumi.yaml and stacks/ (default: this project)")
    parsed.add_argument("--out", type=Path, default=ROOT / "out")
    parsed.add_argument("--refresh", action="store_true", help="refresh before up/preview")
    parsed.add_argument("--timeout", type=float, default=3600,
                        help="seconds the command may take before Pulumi is interrupted as on "
                             "Ctrl-C (default 3600)")
    parsed.add_argument("--purge", action="store_true",
                        help="destroy only: also remove Keycloak's data and the secrets copy "
                             "beside it, which destroy keeps (the next up starts afresh)")
    parsed.add_argument("--summary-json", type=Path,
                        help="write {result, changes, seconds, error} here (used by fleet)")
    parsed.add_argument("--profile", type=Path,
                        help="write when each phase ended here (JSON; make bench-peers)")
    return parsed


class Timeline:
    """When each phase of one command ended, in seconds since the command started (`--profile`,
    printed by `make bench-peers`). Phases inside the engine are seen through its events."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.marks: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        self.marks.setdefault(phase, round(time.perf_counter() - self.started, 3))

    def watch(self, event: Any) -> None:
        if event.prelude_event:
            self.mark("engine started (CLI, backend, config decrypted)")
        outputs = event.res_outputs_event
        if outputs and outputs.metadata.type.startswith("pulumi:providers:keycloak"):
            self.mark("keycloak provider started and configured")
        if event.summary_event:
            self.mark("resources done")


def pulumi_env() -> dict[str, str]:
    """Settings that keep every run local and offline-safe; the caller's environment wins."""
    defaults = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    env = {key: os.environ.get(key, value) for key, value in defaults.items()}
    # The dynamic providers (the hand-off, a rotated password) run in this virtualenv also for
    # the inline programs of tests and benchmarks, which no Pulumi.yaml names it for.
    env["PULUMI_RUNTIME_VIRTUALENV"] = os.environ.get("PULUMI_RUNTIME_VIRTUALENV", sys.prefix)
    for key in ("PULUMI_BACKEND_URL", "PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_CONFIG_PASSPHRASE_FILE"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    if "PULUMI_BACKEND_URL" not in env:
        raise SystemExit("PULUMI_BACKEND_URL is not set: run through `make` (which uses a local "
                         "file backend in .pulumi-state/) or export it yourself")
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        raise SystemExit("no state passphrase: set PULUMI_CONFIG_PASSPHRASE_FILE (make does)")
    return env


def stack_file(work_dir: Path, name: str) -> Path:
    return Path(work_dir) / "stacks" / f"Pulumi.{name}.yaml"


def no_stack_file(work_dir: Path, name: str) -> str:
    """Why a stack without its file is refused (a typo would otherwise create a new stack)."""
    known = sorted(p.name[len("Pulumi."):-len(".yaml")]
                   for p in (Path(work_dir) / "stacks").glob("Pulumi.*.yaml"))
    return (f"stack {name!r} has no stack file {stack_file(work_dir, name)}; nothing was "
            f"created. Stacks here: {', '.join(known) or 'none'}. A new customer: "
            f"`make new CUSTOMER={name} DOMAIN=netbird.{name}.example`.")


def stack_file_config(work_dir: Path, name: str) -> dict:
    """The `config:` map of stacks/Pulumi.<name>.yaml as written (secrets stay encrypted)."""
    path = stack_file(work_dir, name)
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return (data or {}).get("config") or {}


def config_flag(config: dict, key: str, default: bool) -> bool:
    """A true/false setting as the stack file holds it (a YAML bool or a "true"/"false" string)."""
    return str(config.get(key, default)).lower() == "true"


class EngineUnreachable(Exception):
    """Raised before a run that needs a Docker engine that does not answer."""


def check_docker_engine(stack: str, config: dict, timeout: float = 5) -> None:
    """pulumi-docker says only "failed to connect to any docker daemon", and only once it is
    configured; so a deploying stack's engine is tried first, and named when it does not
    answer. ssh:// engines are left to the provider, which reaches them through `ssh`.
    `config`: the stack file's (stack_file_config)."""
    if not config_flag(config, "keycloak:deploy", True):
        return
    host = config.get("docker:host") or os.environ.get("DOCKER_HOST") or \
        "unix:///var/run/docker.sock"
    url = urllib.parse.urlsplit(host)
    if url.scheme not in ("unix", "tcp"):
        return
    family = socket.AF_UNIX if url.scheme == "unix" else socket.AF_INET
    address = url.path if url.scheme == "unix" else (url.hostname, url.port or 2375)
    try:
        with socket.socket(family) as probe:
            probe.settimeout(timeout)
            probe.connect(address)
    except OSError as error:
        raise EngineUnreachable(
            f"cannot reach the Docker engine at {host} ({error.strerror or error}). Start it, or "
            f"point docker:host at the right one: `pulumi config set docker:host "
            f"ssh://deploy@netbird.example.com --stack {stack}`. Nothing was changed.") \
            from None
