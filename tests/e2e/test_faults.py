"""Faults: an unreachable Docker engine stops the deploy with a clear error before anything in
Keycloak or Docker changes; a Keycloak that stops in the middle of `up` leaves nothing that the
next `up` cannot finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Callable, Optional

import pytest

from tests.e2e import harness


def test_unreachable_docker_engine_fails_clearly_and_changes_nothing(project):
    stack = project.stack("no-engine", {
        "netbird:domain": "netbird.no-engine.test", "keycloak:networkMode": "host",
        "keycloak:image": harness.KEYCLOAK_IMAGE, "keycloak:url": "http://127.0.0.1:48080",
        "docker:host": "tcp://127.0.0.1:1",  # nothing listens there
    })
    code, message = harness.run_script("up", project=project,
                                       stack=stack.name)
    assert code == 1, message
    assert "cannot reach the Docker engine at tcp://127.0.0.1:1 (Connection refused)" in message
    assert "pulumi config set docker:host" in message and "--stack no-engine" in message
    created = [r["type"] for r in stack.export_stack().deployment.get("resources") or []
               if not r["type"].startswith(("pulumi:", "netbird:"))]
    assert created == []
    harness.record_fault("Docker engine unreachable: clear error, nothing changed")


class StoppingProxy(harness.LoopbackProxy):
    """Keycloak's front door for one test: passes requests through, and can stop Keycloak
    (SIGTERM, a clean shutdown) right after Keycloak answered a chosen request but before that
    answer reaches Pulumi. So the fault lands exactly in the worst place: the object exists in
    Keycloak, and everything after it is refused (this proxy stops listening too)."""

    def __init__(self, port: int, keycloak: harness.NativeKeycloak):
        self.keycloak = keycloak
        self.stop_after: Optional[Callable[[str, str, bytes], bool]] = None
        self.stopped_after = ""
        proxy = self

        class Handler(harness.QuietHandler):
            def _forward(self):
                body = harness.request_body(self)
                try:
                    answer, payload = harness.pass_on(
                        self, int(proxy.keycloak.url.rsplit(":", 1)[1]), body)
                except OSError:  # Keycloak is gone: hang up, as a stopped server would
                    self.close_connection = True
                    return
                trigger = proxy.stop_after
                if trigger and answer.status < 300 and trigger(self.command, self.path, body):
                    proxy.stop_after = None
                    proxy.stopped_after = f"{self.command} {self.path}"
                    proxy.keycloak.stop()
                    proxy.close()  # before answering: the read-back finds nobody listening
                harness.relay(self, answer, payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        super().__init__(Handler, port)


def _kc_object_counts(admin: harness.KeycloakAdmin, realm: str) -> dict[str, int]:
    clients = admin.get(f"/{realm}/clients")
    scopes = admin.get(f"/{realm}/client-scopes")
    audience = [s for s in scopes if s["name"] == "netbird-client-audience"]
    return {
        "realms": sum(r["realm"] == realm for r in admin.get("")),
        "users named netbird": len(admin.get(f"/{realm}/users?username=netbird&exact=true")),
        "netbird-client": sum(c["clientId"] == "netbird-client" for c in clients),
        "netbird-backend": sum(c["clientId"] == "netbird-backend" for c in clients),
        "audience scopes": len(audience),
        "audience mappers": sum(len(s.get("protocolMappers", [])) for s in audience),
    }


def test_keycloak_stopped_mid_up_then_next_up_converges(project, tmp_path):
    """Keycloak stops twice in the middle of `up`: right after creating the realm, then right
    after creating the backend client. Each failed `up` names the cause and what it did not
    apply; once Keycloak is back, `up` finishes the job: one of everything, no 409, and the
    user's token carries the audience."""
    database, log = tmp_path / "db", tmp_path / "keycloak.log"
    keycloak = harness.NativeKeycloak(*harness.FAULT_KEYCLOAK_PORTS, log,
                                      database=database).wait_ready()
    password = keycloak.admin_password
    proxy = StoppingProxy(18390, keycloak)
    stack = project.stack("stopped-mid-up", {
        "netbird:domain": "netbird.stopped.test", "netbird:realm": "stopped",
        "netbird:protectRealm": "false",
        "keycloak:deploy": "false", "keycloak:url": proxy.url,
        "keycloak:adminUser": keycloak.admin_user,
    })
    stack.set_config("keycloak:adminPassword",
                     harness.stack_driver.auto.ConfigValue(password, secret=True))

    def restart():
        nonlocal keycloak, proxy
        keycloak = harness.NativeKeycloak(*harness.FAULT_KEYCLOAK_PORTS, log, database=database,
                                          admin_password=password).wait_ready()
        proxy = StoppingProxy(18390, keycloak)

    def failed_up(stop_after) -> str:
        proxy.stop_after = stop_after
        code, out = harness.run_script("up", project=project,
                                       stack=stack.name)
        assert code == 1 and proxy.stopped_after, out[-3000:]
        return out

    try:
        report = failed_up(lambda method, path, body: method == "POST"
                           and path == "/admin/realms")
        failed = report.split("\nnot applied:\n")[1].splitlines()[0]
        assert failed.startswith("  failed keycloak:index/realm:Realm netbird-realm: "), report
        assert "127.0.0.1:18390" in failed and "connection refused" in failed.lower(), failed
        restart()
        report = failed_up(lambda method, path, body: method == "POST"
                           and path == "/admin/realms/stopped/clients"
                           and b'"netbird-backend"' in body)
        assert "create keycloak:openid/client:Client netbird-backend" not in report
        # `make up` took over the realm the first stopped up created but never recorded.
        assert "adopting netbird-realm (stopped)" in report, report[-3000:]
        restart()
        # Then a plain `pulumi up`, no driver: the program adopts what the second stopped up
        # created but never recorded.
        typed = project.typed(f"pulumi up --yes --non-interactive --stack {stack.name} "
                              f"--policy-pack {harness.ROOT / 'policy'}")
        out = typed.stdout + typed.stderr
        assert typed.returncode == 0, out[-3000:]
        assert "adopting netbird-backend-client (stopped/" in out, out[-3000:]
        admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, password)
        assert _kc_object_counts(admin, "stopped") == {
            "realms": 1, "users named netbird": 1, "netbird-client": 1, "netbird-backend": 1,
            "audience scopes": 1, "audience mappers": 1}
        assert "409 Conflict" not in out and "Conflict" not in out  # not a uuid holding "409"
        assert harness.changes(stack.preview(color="never")) == {}
        outputs = {k: v.value for k, v in stack.outputs().items()}
        checks = harness.verify.run_checks(
            outputs, harness.secret(stack, "netbird:userPassword"))
        assert all(c.ok for c in checks), [c.line() for c in checks]
        stack.destroy(color="never")
    finally:
        proxy.close()
        keycloak.stop()
    harness.record_fault("Keycloak stopped mid-up (twice): error names the cause and what was "
                         "not applied; next up converges, one of each object, no 409")


def test_ctrl_c_mid_up_says_so_leaves_no_lock_and_the_next_up_converges(project, native_keycloak,
                                                                        tmp_path):
    """Ctrl-C (SIGINT to the command's process group, as a terminal sends it) the moment Keycloak
    created the realm: `make up` exits 130 saying what happened, with the engine gone and the
    stack's lock released, so the operator's next `make up` (no `make unlock`) finishes it."""
    keycloak = native_keycloak.wait_ready()
    proxy = harness.SignallingProxy(
        int(keycloak.url.rsplit(":", 1)[1]),
        lambda method, path, body: "realm" if method == "POST" and path == "/admin/realms"
        else None, signal.SIGINT)
    stack = project.on_keycloak("ctrl-c", keycloak, {"keycloak:url": proxy.url})
    command = [sys.executable, "-m", "netbird_keycloak.cli", "up", "--stack", stack.name,
               "--work-dir", str(project.path), "--out", str(tmp_path / "out")]
    try:
        proxy.when = "after"
        proxy.victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True,
                                        preexec_fn=harness.ctrl_c_reaches)
        out, err = proxy.victim.communicate(timeout=600)
        assert proxy.sent, "the up ended before it created the realm: " + (out + err)[-3000:]
        assert proxy.victim.returncode == 130, (out + err)[-3000:]
        assert "interrupted" in err, err[-3000:]
        # Nothing of the interrupted run is left running: neither in its session nor the
        # plugins the engine started in groups of their own.
        assert subprocess.run(["pgrep", "-s", str(proxy.victim.pid)],
                              capture_output=True).returncode == 1
        assert harness.working_in(project.path) == []
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
        assert _kc_object_counts(admin, "ctrl-c-netbird") == {
            "realms": 1, "users named netbird": 1, "netbird-client": 1, "netbird-backend": 1,
            "audience scopes": 1, "audience mappers": 1}
        assert harness.changes(stack.preview(color="never")) == {}
    finally:
        subprocess.run(command[:3] + ["destroy"] + command[4:], capture_output=True,
                       timeout=600)
        proxy.close()
    harness.record_fault("Ctrl-C mid-up: exits 130 with the engine gone and no lock left; the "
                         "next up converges")


@pytest.mark.parametrize("after", [0.1, 0.4, 0.8])
def test_ctrl_c_early_in_up(project, native_keycloak, tmp_path, after):
    """Ctrl-C `after` seconds into `up` (the command importing the SDK; the CLI starting; the
    language host starting the program): exit 130 saying so, nothing left running, no lock
    left, and the next `up` (no `make unlock`) converges."""
    keycloak = native_keycloak.wait_ready()
    stack = project.on_keycloak(f"early-{int(after * 10)}", keycloak, {})
    command = [sys.executable, "-m", "netbird_keycloak.cli", "up", "--stack", stack.name,
               "--work-dir", str(project.path), "--out", str(tmp_path / "out")]
    try:
        victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, start_new_session=True,
                                  preexec_fn=harness.ctrl_c_reaches)
        time.sleep(after)
        os.killpg(victim.pid, signal.SIGINT)
        out, err = victim.communicate(timeout=120)
        assert victim.returncode == 130, (out + err)[-3000:]
        assert "interrupted" in err, err[-3000:]
        assert subprocess.run(["pgrep", "-s", str(victim.pid)],
                              capture_output=True).returncode == 1
        assert harness.working_in(project.path) == []
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
        assert _kc_object_counts(admin, stack.name + "-netbird") == {
            "realms": 1, "users named netbird": 1, "netbird-client": 1, "netbird-backend": 1,
            "audience scopes": 1, "audience mappers": 1}
    finally:
        subprocess.run(command[:3] + ["destroy"] + command[4:], capture_output=True,
                       timeout=600)


def test_a_run_that_hangs_is_stopped_by_its_timeout(project, pulumi_session):
    """A Keycloak that accepts connections and never answers: `up --timeout` interrupts Pulumi
    as Ctrl-C would, says so, and leaves no lock; without it the command would wait as long as
    the provider's own client does, on every call."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        stack = project.stack("hangs", {
            "netbird:domain": "netbird.hangs.test", "netbird:protectRealm": "false",
            "netbird:realm": "hangs-netbird", "keycloak:deploy": "false",
            "keycloak:url": f"http://127.0.0.1:{port}", "keycloak:adminUser": "kcadmin"})
        harness.stack_driver.set_secret(stack, "keycloak:adminPassword", "Hq7-Vn2-Xc9-Lp4-Zt8")
        started = time.monotonic()
        code, out = harness.run_script("up", "--timeout", "8", project=project, stack="hangs")
        took = time.monotonic() - started
    assert code == 1, out[-3000:]
    assert "stopped after 8 s (--timeout)" in out, out[-3000:]
    assert took < 120, took
    # The file backend's lock objects of this stack (none left: the next run needs no unlock).
    assert [p for p in (pulumi_session / ".pulumi" / "locks").rglob("*.json")
            if "/hangs/" in str(p)] == []
    harness.record_fault("a run that hangs is stopped by --timeout, its lock released")
