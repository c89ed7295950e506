"""The loops users run (#29), end to end on the real Docker engine, a real Keycloak 26.7.3 and the
real plugins:

- `make down` then `make up` keeps Keycloak's data and opens it again, three times in a row, one
  of them typed as plain `pulumi destroy` and `pulumi up`: a user made behind Pulumi's back is
  still there, the first user's password, the backend secret and the realm's keys are unchanged,
  and `make verify` passes;
- `make down PURGE=1` removes the data, and the next `up` starts a fresh Keycloak;
- three `make new` customers, then `make fleet ARGS="up --all"`, deploy beside a deployed dev
  stack;
- a unit-test run leaves a running Keycloak of the same stack name alone (the vanished
  container).

The cycles run in dev-file mode and in production mode on Postgres, each on a stack, containers
and volumes of its own, in a project folder of its own. The `make` targets are aliases of the
project's command (`netbird-keycloak up|destroy|verify --stack …`): the tests run that command
on their folder, as the targets do on the checkout's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from tests import safety_report
from tests.e2e import harness

REALM = "netbird"


class Cycle:
    """One stack of its own project folder, driven as its operator would."""

    def __init__(self, project: harness.Project, mode: str):
        self.project, self.mode = project, mode
        self.name = f"cycle-{mode}"
        self.container = f"{harness.TEST_PREFIX}-{self.name}"
        self.config = harness.container_stack(mode, self.container)
        self.url = f"http://127.0.0.1:{self.config['keycloak:httpPort']}"
        self.data = self.config.get("keycloak:databaseVolumeName") or f"{self.container}-data"
        self.kept = f"{self.container}-secrets"
        project.stack(self.name, self.config)
        self.timings: dict[str, list[float]] = {"down": [], "up": []}

    def command(self, command: str, *args: str) -> str:
        """`netbird-keycloak COMMAND` (what `make up`, `make down` run); its output."""
        started = time.monotonic()
        code, out = harness.run_script(command, *args, project=self.project, stack=self.name)
        assert code == 0, out[-4000:]
        if command in ("up", "destroy"):
            self.timings["up" if command == "up" else "down"].append(time.monotonic() - started)
        return out

    def typed(self, command: str) -> str:
        """`pulumi COMMAND` typed in the project folder, no driver."""
        run = self.project.typed(f"pulumi {command} --yes --non-interactive --stack {self.name}")
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
        return run.stdout + run.stderr

    def verify(self) -> str:
        """`make verify`: NetBird's checks against the live Keycloak, with the kept password."""
        done = subprocess.run(
            [sys.executable, "-m", "netbird_keycloak.cli", "verify", "--stack", self.name,
             "--work-dir", str(self.project.path)],
            capture_output=True, text=True, timeout=300, cwd=harness.ROOT,
            stdin=subprocess.DEVNULL)
        assert done.returncode == 0 and " 0 failed" in done.stdout, done.stdout + done.stderr
        return done.stdout

    def outputs(self) -> dict:
        run = self.project.typed(f"pulumi stack output --json --show-secrets --stack {self.name}")
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def admin(self) -> harness.KeycloakAdmin:
        stack = self.project.open(self.name)
        return harness.KeycloakAdmin(self.url, client_id="netbird-keycloak-admin",
                                     client_secret=harness.secret(stack,
                                                                  "keycloak:adminClientSecret"))

    def users(self, name: str) -> list:
        return self.admin().get(f"/{REALM}/users?username={name}&exact=true")

    def signing_keys(self) -> set[str]:
        status, certs = harness.http("GET",
                                     f"{self.url}/realms/{REALM}/protocol/openid-connect/certs")
        assert status == 200, certs
        return {key["kid"] for key in certs["keys"]}

    def seen(self) -> dict:
        """What must outlive a down and up: the kept secrets, the clients' and the realm's."""
        outputs = self.outputs()
        return {"user_password": outputs["user_password"],
                "backend_client_secret": outputs["backend_client_secret"],
                "signing keys": self.signing_keys()}

    def volumes(self) -> set[str]:
        listed = subprocess.run(["docker", "volume", "ls", "--format", "{{.Name}}"],
                                capture_output=True, text=True, check=True).stdout.split()
        return {name for name in listed if name in (self.data, self.kept)}

    def assert_reopened(self, before: dict, marker: str) -> None:
        assert [u["username"] for u in self.users(marker)] == [marker]
        assert self.seen() == before
        status, token = harness.user_token(self.outputs(), before["user_password"])
        assert status == 200, token
        self.verify()
        run = self.project.typed(f"pulumi preview --expect-no-changes --non-interactive "
                                 f"--stack {self.name}")
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]


@pytest.fixture(scope="module", params=["dev-file", "postgres"])
def cycle(request, tmp_path_factory):
    c = Cycle(harness.Project(tmp_path_factory.mktemp(f"cycle-{request.param}")),
              request.param)
    c.command("up")
    yield c
    harness.run_script("destroy", "--purge", project=c.project, stack=c.name)
    subprocess.run(["docker", "rm", "-f", c.container, c.kept, f"{c.container}-postgres"],
                   capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", c.data, c.kept], capture_output=True)
    if c.timings["down"]:
        cycles = safety_report.record("down-up") or {}
        cycles[c.mode] = {step: [round(s, 1) for s in seconds]
                          for step, seconds in c.timings.items()}
        safety_report.save("down-up", cycles)


def test_down_then_up_opens_the_kept_data_again(cycle):
    before = cycle.seen()
    assert cycle.admin()("POST", f"/{REALM}/users",
                         {"username": "marker-1", "enabled": True})[0] == 201
    down = cycle.command("destroy")
    # It says what it kept and how to remove it; the containers are gone, the data is not.
    assert f"kept Keycloak's data (volume {cycle.data}" in down, down[-3000:]
    assert f"docker volume rm {cycle.data} {cycle.kept}" in down
    assert cycle.volumes() == {cycle.data, cycle.kept}
    assert subprocess.run(["docker", "inspect", cycle.container],
                          capture_output=True).returncode != 0
    # Another stack given the same container name (another project's, or a copied stack file):
    # that data is not its to open. Refused, naming both stacks, before any resource.
    cycle.project.stack("intruder", cycle.config)
    code, out = harness.run_script("up", project=cycle.project, stack="intruder")
    assert code != 0 and (f"holds the secrets of stack netbird-keycloak/{cycle.name}, not of "
                          "netbird-keycloak/intruder") in out, out[-3000:]
    assert subprocess.run(["docker", "inspect", cycle.container],
                          capture_output=True).returncode != 0  # nothing was started
    up = cycle.command("up")
    assert "kept in Keycloak's data by the stack's destroy" in up
    cycle.assert_reopened(before, "marker-1")


def test_the_cycle_holds_three_times_in_a_row_also_as_plain_pulumi(cycle):
    """The second cycle is typed (plain `pulumi destroy`, plain `pulumi up`), the third is the
    project's command again: each ends where the first did."""
    before = cycle.seen()
    down = cycle.typed("destroy")
    assert f"kept Keycloak's data (volume {cycle.data}" in down, down[-3000:]
    cycle.typed("up")
    cycle.assert_reopened(before, "marker-1")
    cycle.command("destroy")
    cycle.command("up")
    cycle.assert_reopened(before, "marker-1")


def test_down_with_purge_then_up_starts_a_fresh_keycloak(cycle):
    before = cycle.seen()
    out = cycle.command("destroy", "--purge")
    assert f"removed volumes {cycle.data}, {cycle.kept}" in out, out[-3000:]
    assert cycle.volumes() == set()
    cycle.command("up")
    assert cycle.users("marker-1") == []
    now = cycle.seen()
    assert now["user_password"] != before["user_password"]
    assert now["signing keys"].isdisjoint(before["signing keys"])
    cycle.verify()


def test_three_new_customers_deploy_beside_the_dev_stack(tmp_path_factory):
    """The README's customer loop: three `make new`, then `make fleet ARGS="up --all --parallel
    4"` next to a deployed dev stack. `fleet new` picks free, unclaimed ports and names, and
    runs Keycloak as the dev stack does on this engine (its image and network mode)."""
    project = harness.Project(tmp_path_factory.mktemp("customers"))
    dev = {**harness.container_stack("dev-file", f"{harness.TEST_PREFIX}-fleet-dev")}
    project.stack("dev", dev)
    customers = [f"e2e-{letter}" for letter in "abc"]  # containers keycloak-e2e-a, …
    fleet = [sys.executable, "-m", "netbird_keycloak.fleet"]
    where = ["--work-dir", str(project.path)]
    try:
        code, out = harness.run_script("up", project=project, stack="dev")
        assert code == 0, out[-3000:]
        ports = set()
        for name in customers:
            new = subprocess.run([*fleet, "new", name, "--domain", f"netbird.{name}.test", *where],
                                 capture_output=True, text=True, timeout=120, cwd=harness.ROOT)
            assert new.returncode == 0, new.stdout + new.stderr
            assert "chose keycloak:httpPort" in new.stdout and "from stack dev" in new.stdout
            config = yaml.safe_load((project.path / "stacks" / f"Pulumi.{name}.yaml")
                                    .read_text())["config"]
            ports |= {config["keycloak:httpPort"], config["keycloak:managementPort"]}
        assert len(ports) == 6 and not ports & {dev["keycloak:httpPort"],
                                                 dev["keycloak:managementPort"]}
        up = subprocess.run([*fleet, "up", "--all", "--parallel", "4", *where,
                             "--out", str(project.path / "out")],
                            capture_output=True, text=True, timeout=1200, cwd=harness.ROOT)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
        for name in ["dev", *customers]:
            done = subprocess.run([sys.executable, "-m", "netbird_keycloak.cli", "verify",
                                   "--stack", name, *where], capture_output=True, text=True,
                                  timeout=300, cwd=harness.ROOT, stdin=subprocess.DEVNULL)
            assert done.returncode == 0 and "4 passed, 0 failed" in done.stdout, \
                name + done.stdout + done.stderr
    finally:
        harness.run_script("destroy", "--purge", project=project, stack="dev")
        # Customer stacks keep netbird:protectRealm's default (true), so destroy refuses them:
        # their containers and volumes go by name, with this session's backend.
        for name in customers:
            container = f"keycloak-{name}"
            subprocess.run(["docker", "rm", "-f", container, f"{container}-secrets"],
                           capture_output=True)
            subprocess.run(["docker", "volume", "rm", "-f", f"{container}-data",
                            f"{container}-secrets"], capture_output=True)


def test_a_unit_test_run_leaves_a_running_keycloak_of_its_stack_alone():
    """The vanished container: the unit tests run the program under mocks, with a made-up state,
    for stack names an operator uses (dev). Their program asked the real Docker engine for the
    stack's containers, took the real one (this stack's label, an id the made-up state does not
    record) for one an interrupted up left unrecorded, and removed it: a dev Keycloak vanished
    seconds after a `make up`, while unit tests ran. Here a container of a stack stands in for
    the running dev Keycloak, and a unit-test program run of that stack must leave it alone."""
    stack = "e2e-canary"
    container = f"keycloak-{stack}"
    label = "netbird-keycloak.stack=netbird-keycloak/" + stack
    subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    subprocess.run(["docker", "create", "--name", container, "--label", label,
                    harness.KEYCLOAK_IMAGE], capture_output=True, check=True, timeout=60)
    try:
        program = (
            "from tests.unit.mock_pulumi import run_program\n"
            "from tests.unit.test_adoption import BASE, SECRETS, state_resource\n"
            f"run = run_program(BASE, SECRETS, stack={stack!r}, recorded=[\n"
            "    state_resource('keycloak-container', 'an-id-the-engine-does-not-have')])\n"
            "assert run.error is None, run.error\n")
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                              timeout=300, cwd=harness.ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
        assert subprocess.run(["docker", "inspect", container],
                              capture_output=True).returncode == 0, \
            "a unit-test run removed a container of the stack it ran"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
