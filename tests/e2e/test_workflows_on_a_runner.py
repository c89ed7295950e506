"""The workflows as GitHub's hosted runners run them (tests/e2e/runner.py: their own `run:`
steps, in order, on an empty machine of the runner's kind, with nothing of this machine's
toolchain, caches or source snapshots): a pull request that adds a customer's stack gets that
stack's Markdown preview, and a push of it deploys the stack, then deploys it again with no
change. The stack is a realm on an existing (native, real) Keycloak, as the workflows' header
says a runner must reach; the state backend and passphrase are the test run's, given as the
environments' secrets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e import harness, runner

WORKFLOWS = harness.ROOT / ".github" / "workflows"
REPOSITORY = "acme/netbird-keycloak"
# The bootstrap's CLI folder: the CLI and language host the official release holds.
CLI_FOLDER = Path(os.environ.get("PULUMI_CLI_ROOT") or
                  harness.CACHE / f"pulumi-v{(harness.ROOT / '.pulumi-version').read_text().strip()}"
                  ) / "bin"
PLUGINS = harness.ROOT / ".pulumi-home" / "plugins"
NOT_HERE = {"Comment on the pull request": "it posts preview.md through GitHub's API, which this "
                                           "machine cannot reach; the test reads preview.md"}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True,
                          text=True, timeout=120).stdout.strip()


def repository_of_this_tree(origin: Path) -> str:
    """A repository holding this working tree as its one commit (tracked and new files, as a
    push of them would); returns the commit."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=harness.ROOT, check=True, capture_output=True, timeout=60
                           ).stdout.decode().split("\0")
    for name in filter(None, files):
        source = harness.ROOT / name
        if source.is_file() and not source.is_symlink():
            (origin / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, origin / name)
    git(origin, "init", "--quiet", "--initial-branch", "main")
    git(origin, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "add", "--all")
    git(origin, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "--quiet",
        "-m", "base")
    return git(origin, "rev-parse", "HEAD")


def add_customer_stack(origin: Path, name: str, keycloak) -> str:
    """What an operator's pull request adds: the customer's stack file, its admin password a
    secret encrypted with the team's passphrase (as `pulumi config set --secret` writes it)."""
    (origin / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": {
        "netbird:domain": f"netbird.{name}.test", "netbird:realm": f"{name}-netbird",
        "netbird:protectRealm": "false", "keycloak:deploy": "false",
        "keycloak:url": keycloak.url, "keycloak:adminUser": keycloak.admin_user}}))
    stack = harness.stack_driver.open_stack(name, origin, program=None)
    harness.stack_driver.set_secret(stack, "keycloak:adminPassword", keycloak.admin_password)
    git(origin, "add", f"stacks/Pulumi.{name}.yaml")
    git(origin, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "--quiet",
        "-m", f"customer {name}")
    return git(origin, "rev-parse", "HEAD")


class Runners:
    """A new machine per job, as GitHub gives one; the pip download cache is shared by the
    jobs of this test only (a runner downloads the same locked files; sharing saves the
    repeated download, not an install step)."""

    def __init__(self, root: Path, origin: Path):
        self.root, self.origin, self.count = root, origin, 0
        self.pip_cache = root / "pip-cache"
        self.machines: list[runner.Machine] = []

    def new(self) -> runner.Machine:
        self.count += 1
        machine = runner.Machine(self.root / f"runner-{self.count}", self.origin, CLI_FOLDER,
                                 runner.runner_path(), self.pip_cache)
        self.machines.append(machine)
        return machine

    def log(self) -> str:
        return "\n".join(line for m in self.machines for line in m.log)[-6000:]


def plugins_as_installed(machine: runner.Machine):
    """`pulumi plugin install` (which the bootstrap's plugins step runs on a runner) downloads
    from Pulumi's servers, which this machine cannot reach: what it leaves, the plugin folders
    under the project's PULUMI_HOME, is laid out from the ones built here."""
    def lay_out() -> None:
        target = machine.workspace / ".pulumi-home" / "plugins"
        target.mkdir(parents=True)
        for folder in PLUGINS.glob("resource-*-v*"):
            if folder.is_dir() and not folder.name.endswith(".partial"):
                shutil.copytree(folder, target / folder.name, symlinks=True)
    return lay_out


def bootstrap_built_nothing(log: str) -> None:
    assert "building" not in log and "built from" not in log, log


def test_a_pull_request_is_previewed_and_a_push_deploys_on_a_runner(native_keycloak, tmp_path):
    keycloak = native_keycloak.wait_ready()
    name = f"ci-{os.getpid() % 10000}-{tmp_path.name[-4:].strip('_')}".lower()
    origin = tmp_path / "origin"
    origin.mkdir()
    base = repository_of_this_tree(origin)
    head = add_customer_stack(origin, name, keycloak)
    team = {"PULUMI_BACKEND_URL": os.environ["PULUMI_BACKEND_URL"],
            "PULUMI_CONFIG_PASSPHRASE": os.environ["PULUMI_CONFIG_PASSPHRASE"]}
    runners = Runners(tmp_path, origin)
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    try:
        # The pull request: its preview job.
        machine = runners.new()
        pull_request = runner.Context(
            github={"sha": head, "repository": REPOSITORY, "token": "test-token", "event": {
                "pull_request": {"number": 7, "base": {"sha": base},
                                 "head": {"repo": {"full_name": REPOSITORY}}}}},
            secrets=team)
        try:
            runner.run_job(WORKFLOWS / "preview.yml", "preview", machine, pull_request,
                           before={"Install the pinned SDKs and plugins":
                                   plugins_as_installed(machine)},
                           not_here=NOT_HERE)
        except runner.StepFailed as failed:
            pytest.fail(f"{failed}\n\nrunner log:\n{runners.log()}", pytrace=False)
        assert pull_request.steps["stacks"]["outputs"]["list"] == name
        bootstrap_built_nothing(runners.log())
        preview = (machine.workspace / "preview.md").read_text()
        assert preview.startswith(f"### Pulumi preview of `{name}`"), preview[:2000]
        assert "failed" not in preview, preview[:3000]
        assert "create" in preview and "keycloak:index/realm:Realm" in preview, preview[:3000]
        assert admin("GET", f"/{name}-netbird")[0] == 404  # a preview changes nothing

        # The push to main, twice: each time the stacks job, then one up job per stack.
        for attempt, wanted in ((1, "created"), (2, "unchanged")):
            push = runner.Context(github={"sha": head, "repository": REPOSITORY,
                                          "event": {"before": base}}, secrets=team)
            try:
                found = runner.run_job(WORKFLOWS / "fleet-up.yml", "stacks", runners.new(), push)
                matrix = json.loads(found["matrix"])
                assert matrix == [name], found
                for stack in matrix:
                    job = runner.Context(github=push.github, secrets=team,
                                         matrix={"stack": stack},
                                         needs={"stacks": {"outputs": found}})
                    machine = runners.new()
                    runner.run_job(WORKFLOWS / "fleet-up.yml", "up", machine, job,
                                   before={"Install the pinned SDKs and plugins":
                                           plugins_as_installed(machine)})
            except runner.StepFailed as failed:
                pytest.fail(f"push {attempt}: {failed}\n\nrunner log:\n{runners.log()}",
                            pytrace=False)
            summary = json.loads((machine.workspace / "out" / name / "up.summary.json")
                                 .read_text())
            assert summary["result"] == "succeeded", summary
            if wanted == "created":
                assert summary["changes"].get("create", 0) >= 6, summary
            else:
                assert summary["changes"] == {}, summary
            assert (machine.workspace / "out" / name / "up.log").exists()  # the artifact
            assert admin("GET", f"/{name}-netbird")[0] == 200
            bootstrap_built_nothing(runners.log())
    finally:
        admin("DELETE", f"/{name}-netbird")
