"""A rotation killed (SIGKILL to `make rotate` and everything it started) after each of its
steps, then run again: it converges, the password the state keeps is the one Keycloak holds, the
old one no longer logs in, and a password the killed run sent works only if it is the kept one.

The steps of `rotate --what user-password` (netbird_keycloak/rotate.py, the program's
UserPassword): the rotation stamp is written to the stack file; `up` generates the new password
into the state; it sends it to Keycloak; the state records that Keycloak holds it. A proxy in
front of a real (native) Keycloak kills the rotation at the exact moments between those steps:
before the new password reaches Keycloak, and after Keycloak took it but before its answer
reaches Pulumi.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

import yaml

from tests.e2e import harness

STACK = "rotkill"


class KillingProxy:
    """Passes requests to Keycloak; on the chosen request it kills the rotation either before
    forwarding it (`before`) or after Keycloak answered it (`after`), and hangs up."""

    def __init__(self, upstream: str):
        self.upstream_port = int(upstream.rsplit(":", 1)[1])
        self.victim: Optional[subprocess.Popen] = None
        self.when: Optional[str] = None  # "before" or "after"
        self.sent: list[str] = []  # the passwords of the intercepted requests
        proxy = self

        class Handler(harness.QuietHandler):
            def _forward(self):
                body = harness.request_body(self)
                chosen = self.command == "PUT" and self.path.endswith("/reset-password") and \
                    proxy.when is not None and proxy.victim is not None
                if chosen:
                    proxy.sent.append(json.loads(body)["value"])
                    if proxy.when == "before":
                        return proxy.kill()
                answer, payload = harness.pass_on(self, proxy.upstream_port, body)
                if chosen:  # Keycloak holds the new password; Pulumi never hears it
                    return proxy.kill()
                harness.relay(self, answer, payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", harness.free_port()),
                                                      Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def kill(self) -> None:
        os.killpg(self.victim.pid, signal.SIGKILL)
        self.when = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def test_user_password_rotation_killed_after_each_step_then_run_again(project, native_keycloak,
                                                                      tmp_path):
    keycloak = native_keycloak.wait_ready()
    proxy = KillingProxy(keycloak.url)
    project.on_keycloak(STACK, keycloak, {"keycloak:url": proxy.url})
    out = tmp_path / "out"
    stack_file = project.path / "stacks" / f"Pulumi.{STACK}.yaml"

    def command(module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", f"netbird_keycloak.{module}", *args, "--stack", STACK,
                "--work-dir", str(project.path), "--out", str(out)]

    def run(module: str, *args: str) -> str:
        done = subprocess.run(command(module, *args), capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout

    def rotation() -> subprocess.Popen:
        return subprocess.Popen(command("rotate", "--what", "user-password"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def kept() -> str:
        return harness.secret(harness.stack_driver.open_stack(STACK, project.path),
                              "netbird:userPassword")

    def rotated() -> Optional[str]:
        """The rotation stamp in the stack file (read while `rotate` may be rewriting it)."""
        text = stack_file.read_text()
        return ((yaml.safe_load(text) or {}).get("config") or {}).get(
            "netbird:userPasswordRotated", "being written" if not text.strip() else None)

    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    realm = f"{STACK}-netbird"

    def logs_in(password: str) -> bool:
        outputs = {k: v.value for k, v in
                   harness.stack_driver.open_stack(STACK, project.path).outputs().items()}
        works = harness.user_token(outputs, password)[0] == 200
        if not works:  # brute-force detection counts it: forgotten, so the next check is fair
            user, = admin.get(f"/{realm}/users?username=netbird&exact=true")
            admin("DELETE", f"/{realm}/attack-detection/brute-force/users/{user['id']}")
        return works

    try:
        run("stack", "up")
        for step in ("the stamp is written", "the new password is kept, Keycloak not told",
                     "Keycloak holds it, the state does not know"):
            old, stamp = kept(), rotated()
            proxy.sent.clear()
            proxy.when = {"the stamp is written": None,
                          "the new password is kept, Keycloak not told": "before",
                          "Keycloak holds it, the state does not know": "after"}[step]
            killed = proxy.victim = rotation()
            if proxy.when is None:  # killed the moment the stamp is in the stack file
                deadline = time.monotonic() + 120
                while rotated() == stamp:
                    assert time.monotonic() < deadline and killed.poll() is None, step
                    time.sleep(0.01)
                os.killpg(killed.pid, signal.SIGKILL)
            assert killed.wait(timeout=300) == -signal.SIGKILL, step
            proxy.victim = None
            # The lock the killed run left, if it got that far (`make state-unlock`).
            subprocess.run(command("stack", "unlock"), capture_output=True, timeout=120)
            run("rotate", "--what", "user-password")
            now = kept()
            assert now != old, step
            assert logs_in(now), step
            assert not logs_in(old), step
            # A password the killed run sent works only if it is the one the state keeps: no
            # credential is left working that nobody has.
            for pending in proxy.sent:
                assert logs_in(pending) == (pending == now), step
            assert harness.changes(harness.stack_driver.open_stack(STACK, project.path)
                                   .preview(color="never")) == {}, step
    finally:
        proxy.when = None
        subprocess.run(command("stack", "destroy"), capture_output=True, timeout=600)
