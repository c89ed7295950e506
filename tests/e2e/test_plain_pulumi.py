"""`pulumi up` is the whole product: a new stack whose file holds only its domain, image and
ports, deployed with the CLI typed in a shell after `eval "$(make -s pulumi-env)"` (no driver):
the program generates its secrets into the state, hands off from Keycloak's temporary bootstrap
admin to its service account, and leaves the stack file as it was. Then a destroy, the stack's
state lost, and an `up` on the kept data volume: refused with the volume named and the ways
out, and each way out works.

The tests run in order on one stack; the last, an up killed during the hand-off, has its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests.e2e import harness

STACK = "plain"
CONTAINER = f"{harness.TEST_PREFIX}-plain"
VOLUME = f"{CONTAINER}-data"
HTTP_PORT = harness.free_port()
CONFIG = {
    "netbird:domain": "netbird.plain.test",
    "keycloak:image": harness.KEYCLOAK_IMAGE,
    # This machine's engine has no bridge; host networking is what the dev stack uses too.
    "keycloak:networkMode": "host",
    "keycloak:httpPort": str(HTTP_PORT),
    "keycloak:managementPort": str(harness.free_port()),
    "keycloak:containerName": CONTAINER,
    "keycloak:volumeName": VOLUME,
}
URL = f"http://127.0.0.1:{HTTP_PORT}"


class Plain:
    def __init__(self, project: harness.Project):
        self.project = project
        self.file = project.path / "stacks" / f"Pulumi.{STACK}.yaml"

    def typed(self, command: str, timeout: float = 600,
              stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        return self.project.typed(command, timeout, stdin)

    def ok(self, command: str) -> str:
        run = self.typed(command)
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
        return run.stdout

    def set_secret(self, key: str, value: str, stack: str = STACK) -> None:
        """`pulumi config set --secret`, the value typed on stdin as Pulumi reads it."""
        run = self.typed(f"pulumi config set --secret {key} --stack {stack}", timeout=120,
                         stdin=value)
        assert run.returncode == 0, run.stderr

    def outputs(self) -> dict:
        return json.loads(self.ok(f"pulumi stack output --json --show-secrets --stack {STACK}"))

    def script(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(harness.ROOT / ".venv/bin/python"), *args, "--stack", STACK,
                               "--work-dir", str(self.project.path)],
                              capture_output=True, text=True, timeout=300,
                              cwd=self.project.path)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    p = Plain(harness.Project(tmp_path_factory.mktemp("plain")))
    p.file.write_text("# only what a person chose\n" + yaml.safe_dump({"config": CONFIG}))
    p.ok(f"pulumi stack init {STACK} --non-interactive")
    p.before = p.file.read_bytes()  # with the salt `stack init` wrote: nothing changes it now
    p.up = p.ok(f"pulumi up --yes --non-interactive --stack {STACK} "
                f"--policy-pack {harness.ROOT / 'policy'}")
    yield p
    p.typed(f"pulumi config set netbird:protectRealm false --stack {STACK}")
    p.typed(f"pulumi up --yes --non-interactive --stack {STACK}")
    p.typed(f"pulumi destroy --yes --non-interactive --stack {STACK}")
    subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", VOLUME], capture_output=True)


def assert_no_temporary_admin(project: harness.Project, stack_name: str, url: str) -> None:
    """Pulumi logs in with the stack's service account, and the master realm holds no temporary
    admin, user or service account."""
    stack = harness.stack_driver.open_stack(stack_name, project.path, program=None)
    admin = harness.KeycloakAdmin(url, client_id="netbird-keycloak-admin",
                                  client_secret=harness.secret(stack,
                                                               "keycloak:adminClientSecret"))
    for kind in ("users", "clients"):
        found = admin.get(f"/master/{kind}?briefRepresentation=false")
        assert not [x for x in found if (x.get("attributes") or {}).get("is_temporary_admin")]


def test_plain_up_deploys_a_stack_that_holds_only_a_domain(plain):
    assert "netbird-keycloak-guardrails" in plain.up  # the policy pack ran
    assert plain.file.read_bytes() == plain.before  # not one byte written by `up`
    outputs = plain.outputs()
    assert outputs["issuer_url"] == f"http://localhost:{HTTP_PORT}/realms/netbird"
    assert len(outputs["user_password"]) == 32


def test_no_temporary_admin_is_left_and_its_secret_opens_nothing(plain):
    bootstrap = harness.bootstrap_secret(CONTAINER)
    status, body = harness.admin_login(URL, client_id="netbird-keycloak-bootstrap",
                                       client_secret=bootstrap)
    assert status in (400, 401) and "access_token" not in str(body)
    assert_no_temporary_admin(plain.project, STACK, URL)


def test_plain_preview_shows_no_changes(plain):
    out = plain.ok(f"pulumi preview --expect-no-changes --non-interactive --stack {STACK} "
                   f"--policy-pack {harness.ROOT / 'policy'}")
    assert "unchanged" in out
    assert plain.file.read_bytes() == plain.before


def test_make_env_and_make_verify_pass(plain):
    env = plain.script("-m", "netbird_keycloak.stack", "env",
                       "--out", str(plain.project.path / "out"))
    assert env.returncode == 0, env.stdout + env.stderr
    assert (plain.project.path / "out" / STACK / "setup.env").exists()
    verify = plain.script("-m", "netbird_keycloak.verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "4 passed, 0 failed" in verify.stdout  # the user token too: the kept password


def test_up_after_the_state_was_lost_names_the_kept_volume_and_changes_nothing(plain):
    """`destroy` keeps the data volume (users are never lost) and the copy of the secrets that
    open it (tests/e2e/test_down_up.py). With both the stack's state and that copy gone (a new
    stack of the same name after losing the backend, and the copy's volume removed) the
    generated secrets are new: the up is refused, naming the ways out."""
    old_secret = harness.secret(harness.stack_driver.open_stack(STACK, plain.project.path, program=None),
                                "keycloak:adminClientSecret")
    plain.ok(f"pulumi config set netbird:protectRealm false --stack {STACK}")
    plain.ok(f"pulumi up --yes --non-interactive --stack {STACK}")
    plain.ok(f"pulumi destroy --yes --non-interactive --stack {STACK}")
    plain.ok(f"pulumi stack rm --yes --preserve-config --non-interactive --stack {STACK}")
    plain.ok(f"pulumi stack init {STACK} --non-interactive")
    subprocess.run(["docker", "volume", "rm", f"{CONTAINER}-secrets"], capture_output=True,
                   check=True)
    up = plain.typed(f"pulumi up --yes --non-interactive --stack {STACK}")
    assert up.returncode != 0
    said = up.stdout + up.stderr
    assert f"the data volume {VOLUME}" in said, said[-3000:]
    assert "pulumi config set --secret keycloak:adminClientSecret" in said
    assert f"docker volume rm {VOLUME}" in said
    # Nothing in Keycloak changed: the old service account still logs in.
    assert harness.admin_login(URL, client_id="netbird-keycloak-admin",
                               client_secret=old_secret)[0] == 200
    # The first way out: the old secret, from a backup of the old stack.
    plain.set_secret("keycloak:adminClientSecret", old_secret)
    plain.ok(f"pulumi up --yes --non-interactive --stack {STACK}")
    plain.ok(f"pulumi preview --expect-no-changes --non-interactive --stack {STACK}")


def test_the_other_way_out_starts_afresh_on_a_new_volume(plain):
    plain.ok(f"pulumi destroy --yes --non-interactive --stack {STACK}")
    plain.ok(f"pulumi config rm keycloak:adminClientSecret --stack {STACK}")
    plain.ok(f"pulumi stack rm --yes --preserve-config --non-interactive --stack {STACK}")
    subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True)
    subprocess.run(["docker", "volume", "rm", VOLUME], capture_output=True, check=True)
    plain.ok(f"pulumi stack init {STACK} --non-interactive")
    plain.ok(f"pulumi up --yes --non-interactive --stack {STACK}")
    assert len(plain.outputs()["user_password"]) == 32
    assert os.environ.get("PULUMI_BACKEND_URL")  # the session's own backend, not the project's
    assert not Path(harness.ROOT / ".pulumi-state" / ".pulumi" / "stacks" / "netbird-keycloak"
                    / f"{STACK}.json").exists()


def own_stack(tmp_path_factory, name: str) -> tuple[Plain, str, str]:
    """A stack of its own (project, container, volume, ports), initialised: (it, its container,
    Keycloak's URL)."""
    container, port = f"{harness.TEST_PREFIX}-{name}", harness.free_port()
    p = Plain(harness.Project(tmp_path_factory.mktemp(name)))
    p.file = p.project.path / "stacks" / f"Pulumi.{name}.yaml"
    p.file.write_text(yaml.safe_dump({"config": {
        **CONFIG, "netbird:protectRealm": "false", "keycloak:httpPort": str(port),
        "keycloak:managementPort": str(harness.free_port()),
        "keycloak:containerName": container, "keycloak:volumeName": f"{container}-data"}}))
    p.ok(f"pulumi stack init {name} --non-interactive")
    return p, container, f"http://127.0.0.1:{port}"


def test_an_up_killed_during_the_hand_off_is_finished_by_the_next_plain_up(tmp_path_factory):
    """SIGKILL to `pulumi up` (CLI, language host, providers) once Keycloak has the permanent
    client and before the run could record the hand-off; `pulumi cancel` (the lock a killed run
    leaves), then a plain `pulumi up`: it converges, no temporary admin is left, Pulumi logs in."""
    name = "killed"
    p, container, url = own_stack(tmp_path_factory, name)
    up = subprocess.Popen(
        ["bash", "-c", f'eval "$(make -s -C {harness.ROOT} pulumi-env)" && exec pulumi up '
                       f"--yes --non-interactive --stack {name}"],
        cwd=p.project.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        bootstrap = None
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and up.poll() is None:
            if bootstrap is None:
                try:
                    bootstrap = harness.bootstrap_secret(container)
                except subprocess.CalledProcessError:
                    pass  # no container yet
            else:
                status, token = harness.admin_login(url, client_id="netbird-keycloak-bootstrap",
                                                    client_secret=bootstrap)
                made = status == 200 and harness.http(
                    "GET", f"{url}/admin/realms/master/clients?clientId=netbird-keycloak-admin",
                    token=token["access_token"])[1]
                if made or status in (400, 401):  # created, or the hand-off already went past
                    break
            time.sleep(0.05)
        assert up.poll() is None, "the up ended before the hand-off could be interrupted"
        harness.kill_tree(up.pid)
        up.wait()
        p.typed(f"pulumi cancel --yes --non-interactive --stack {name}")
        p.ok(f"pulumi up --yes --non-interactive --stack {name}")
        p.ok(f"pulumi preview --expect-no-changes --non-interactive --stack {name}")
        assert_no_temporary_admin(p.project, name, url)
    finally:
        if up.poll() is None:
            harness.kill_tree(up.pid)
        p.typed(f"pulumi cancel --yes --non-interactive --stack {name}")
        p.typed(f"pulumi destroy --yes --non-interactive --stack {name}")
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{container}-data"], capture_output=True)


def test_secrets_an_older_stack_file_holds_keep_working_and_move_out(tmp_path_factory):
    """A stack from before the program kept its secrets holds them in its stack file (chosen
    values). It deploys with them; then the documented move: `pulumi config rm` each, one more
    `up`. The state keeps every value: nothing changes, Pulumi and the user still log in, and
    the stack file holds no secret any more."""
    name = "older"
    p, container, url = own_stack(tmp_path_factory, name)
    held = {"keycloak:adminClientSecret": "Older-Client-Secret-4f7Kq9Zx2Lm8Vb",
            "keycloak:adminPassword": "Older-Bootstrap-Secret-7Hn3Wq5Rt1Yp",
            "netbird:userPassword": "Older-User-Password-2Jd6Ks8Fg4"}
    try:
        for key, value in held.items():  # as an older version wrote them: encrypted, in the file
            p.set_secret(key, value, name)
        p.ok(f"pulumi up --yes --non-interactive --stack {name}")
        assert p.ok(f"pulumi stack output user_password --show-secrets --stack {name}").strip() \
            == held["netbird:userPassword"]
        for key in held:
            p.ok(f"pulumi config rm {key} --stack {name}")
        assert not [k for k in yaml.safe_load(p.file.read_text())["config"] if k in held]
        p.ok(f"pulumi up --yes --non-interactive --stack {name}")
        p.ok(f"pulumi preview --expect-no-changes --non-interactive --stack {name}")
        assert harness.admin_login(url, client_id="netbird-keycloak-admin",
                                   client_secret=held["keycloak:adminClientSecret"])[0] == 200
        outputs = json.loads(p.ok(f"pulumi stack output --json --show-secrets --stack {name}"))
        assert outputs["user_password"] == held["netbird:userPassword"]
        assert harness.user_token(outputs, held["netbird:userPassword"])[0] == 200
    finally:
        p.typed(f"pulumi destroy --yes --non-interactive --stack {name}")
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{container}-data"], capture_output=True)
