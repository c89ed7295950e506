"""A rotation killed (SIGKILL to `make rotate` and everything it started) after each of its
steps, then run again: it converges, the secret the state keeps is the one Keycloak holds, the
old one no longer works, and a secret the killed run sent works only if it is the kept one.

The steps of `rotate --what user-password|admin-client-secret` (netbird_keycloak/rotate.py; in
the program UserPassword, PulumiServiceAccount): the rotation stamp is written to the stack
file; `up` generates the new secret into the state; it sends it to Keycloak; the state records
that Keycloak holds it. A proxy in front of a real Keycloak kills the rotation at the exact
moments between those steps: before the new secret reaches Keycloak, and after Keycloak took it
but before its answer reaches Pulumi.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import yaml

from components.stack_secrets import ROTATED_BY
from tests.e2e import harness

STAMP, BEFORE, AFTER = (("the stamp is written", None),
                        ("the new secret is kept, Keycloak not told", "before"),
                        ("Keycloak holds it, the state does not know", "after"))


@dataclass
class Rotation:
    """One kind of rotation of one stack of the test project."""

    project: harness.Project
    stack: str
    out: Path
    what: str  # rotate --what
    key: str  # the secret it rotates (components/stack_secrets.py)
    proxy: harness.SignallingProxy
    works: Callable[[str], bool]  # whether Keycloak takes this secret

    def command(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", f"netbird_keycloak.{module}", *args, "--stack", self.stack,
                "--work-dir", str(self.project.path), "--out", str(self.out)]

    def run(self, module: str, *args: str, step: str = "") -> str:
        done = subprocess.run(self.command(module, *args), capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{step}: {(done.stdout + done.stderr)[-3000:]}"
        return done.stdout

    def kept(self) -> str:
        return harness.secret(harness.stack_driver.open_stack(self.stack, self.project.path, program=None),
                              self.key)

    def stamp(self) -> Optional[str]:
        """The rotation stamp in the stack file (read while `rotate` may be rewriting it)."""
        text = (self.project.path / "stacks" / f"Pulumi.{self.stack}.yaml").read_text()
        return ((yaml.safe_load(text) or {}).get("config") or {}).get(
            ROTATED_BY[self.key], "being written" if not text.strip() else None)

    def killed_after_each_step_then_run_again(self, steps=(STAMP, BEFORE, AFTER)) -> None:
        for step, when in steps:
            old, stamp = self.kept(), self.stamp()
            self.proxy.sent.clear()
            self.proxy.when = when
            killed = self.proxy.victim = subprocess.Popen(
                self.command("rotate", "--what", self.what), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            if when is None:  # killed the moment the stamp is in the stack file
                deadline = time.monotonic() + 120
                while self.stamp() == stamp:
                    assert time.monotonic() < deadline and killed.poll() is None, step
                    time.sleep(0.01)
                harness.kill_tree(killed.pid)
            assert killed.wait(timeout=300) == -signal.SIGKILL, step
            self.proxy.victim = None
            # The lock the killed run left, if it got that far (`make state-unlock`).
            subprocess.run(self.command("stack", "unlock"), capture_output=True, timeout=120)
            self.run("rotate", "--what", self.what, step=step)
            now = self.kept()
            assert now != old, step
            assert self.works(now), step
            assert not self.works(old), step
            # The secret the killed run generated is the one finished, never a third one
            # (Keycloak may hold it); anything else it sent works only if it is the kept one.
            if self.proxy.sent:
                assert now == self.proxy.sent[0], step
            for pending in self.proxy.sent:
                assert self.works(pending) == (pending == now), step
            again = harness.stack_driver.open_stack(self.stack, self.project.path, program=None)
            assert harness.changes(again.preview(color="never")) == {}, step


def test_user_password_rotation_killed_after_each_step_then_run_again(project, native_keycloak,
                                                                      tmp_path):
    keycloak = native_keycloak.wait_ready()

    def new_password(method: str, path: str, body: bytes) -> Optional[str]:
        return json.loads(body)["value"] \
            if method == "PUT" and path.endswith("/reset-password") else None

    proxy = harness.SignallingProxy(int(keycloak.url.rsplit(":", 1)[1]), new_password)
    stack = "rotkill"
    project.on_keycloak(stack, keycloak, {"keycloak:url": proxy.url})
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    realm = f"{stack}-netbird"

    def logs_in(password: str) -> bool:
        outputs = {k: v.value for k, v in
                   harness.stack_driver.open_stack(stack, project.path, program=None).outputs().items()}
        works = harness.user_token(outputs, password)[0] == 200
        if not works:  # brute-force detection counts it: forgotten, so the next check is fair
            user, = admin.get(f"/{realm}/users?username=netbird&exact=true")
            admin("DELETE", f"/{realm}/attack-detection/brute-force/users/{user['id']}")
        return works

    rotation = Rotation(project, stack, tmp_path / "out", "user-password",
                        "netbird:userPassword", proxy, logs_in)
    try:
        rotation.run("stack", "up")
        # The first rotation creates the resource that sets the password (a stack registers it
        # from its first rotation on, components/user_password.py); the next ones update it.
        rotation.killed_after_each_step_then_run_again((AFTER, BEFORE, AFTER, STAMP))
        harness.record_hardening("user password rotation killed after each step converges")
    finally:
        proxy.when = None
        subprocess.run(rotation.command("stack", "destroy"), capture_output=True, timeout=600)
        proxy.close()


def test_admin_client_secret_rotation_killed_after_each_step_then_run_again(project, tmp_path):
    """On a Keycloak container the stack deploys; the engine is reached over tcp:// so that
    Pulumi logs in through `keycloak:url`, the proxy (harness.EngineOverTcp)."""
    engine = harness.EngineOverTcp()
    http_port = harness.free_port()
    container = f"{harness.TEST_PREFIX}-rotkill-admin"

    def new_secret(method: str, path: str, body: bytes) -> Optional[str]:
        chosen = method == "PUT" and re.search(r"/admin/realms/master/clients/[^/?]+$", path)
        return json.loads(body).get("secret") if chosen else None

    proxy = harness.SignallingProxy(http_port, new_secret)
    stack = "rotkill-admin"
    project.stack(stack, {
        "netbird:domain": "netbird.rotkill-admin.test", "netbird:protectRealm": "false",
        "keycloak:image": harness.KEYCLOAK_IMAGE, "keycloak:networkMode": "host",
        "keycloak:httpPort": str(http_port), "keycloak:managementPort": str(harness.free_port()),
        "keycloak:containerName": container, "keycloak:volumeName": f"{container}-data",
        "docker:host": engine.url, "keycloak:url": proxy.url})

    def logs_in(secret: str) -> bool:
        return harness.admin_login(f"http://127.0.0.1:{http_port}",
                                   client_id="netbird-keycloak-admin",
                                   client_secret=secret)[0] == 200

    rotation = Rotation(project, stack, tmp_path / "out", "admin-client-secret",
                        "keycloak:adminClientSecret", proxy, logs_in)
    try:
        rotation.run("stack", "up")
        rotation.killed_after_each_step_then_run_again()
        harness.record_hardening("admin client secret rotation killed after each step "
                                 "converges")
    finally:
        proxy.when = None
        subprocess.run(rotation.command("stack", "destroy"), capture_output=True, timeout=600)
        proxy.close()
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{container}-data"],
                       capture_output=True)
        engine.close()
