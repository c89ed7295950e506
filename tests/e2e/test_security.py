"""Security review findings (#18), end to end against real Keycloak containers:

- while `up` and every kind of rotation run (as `make up` and `make rotate` run them), no
  process's argv or environment holds a secret of the stack, and neither does `docker inspect`;
- in host mode Keycloak's HTTP and management ports answer on its bind address only, and it
  believes X-Forwarded-For only from its trusted proxies (a host of its own, in a network
  namespace this test creates, plays the client that is not a proxy).
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.e2e import harness

PASSPHRASE_KEYS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


class Driver:
    """The project's commands in processes of their own, the state passphrase in a file."""

    def __init__(self, project: harness.Project, out: Path, stack: str):
        self.project, self.out, self.name = project, out, stack
        out.mkdir(parents=True, exist_ok=True)
        passphrase = out / "passphrase"
        passphrase.write_text(os.environ["PULUMI_CONFIG_PASSPHRASE"])
        passphrase.chmod(0o600)
        self.env = {k: v for k, v in os.environ.items() if k not in PASSPHRASE_KEYS}
        self.env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase)

    def run(self, module: str, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", f"netbird_keycloak.{module}", *args,
                               "--stack", self.name, "--work-dir", str(self.project.path),
                               "--out", str(self.out)],
                              capture_output=True, text=True, timeout=600, env=self.env)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout + done.stderr

    def stack(self):
        return harness.stack_driver.open_stack(self.name, self.project.path, program=None)

    def secrets(self) -> dict[str, str]:
        stack = self.stack()
        found = {key: harness.secret(stack, key) for key in (
            "keycloak:adminClientSecret", "netbird:userPassword")}
        env = (self.out / self.name / "setup.env").read_text()
        found["backend secret"] = next(line.split("=", 1)[1].strip("'\"") for line in
                                       env.splitlines()
                                       if line.startswith("NETBIRD_IDP_MGMT_CLIENT_SECRET="))
        return found


def test_no_secret_in_any_process_or_container_while_up_and_rotations_run(tmp_path):
    container = f"{harness.TEST_PREFIX}-sec"
    project = harness.Project(tmp_path / "project")
    (project.path / "stacks" / "Pulumi.sec.yaml").write_text(yaml.safe_dump({"config": {
        "netbird:domain": "netbird.sec.test", "netbird:protectRealm": "false",
        "keycloak:image": harness.KEYCLOAK_IMAGE, "keycloak:networkMode": "host",
        "keycloak:httpPort": str(harness.free_port()),
        "keycloak:managementPort": str(harness.free_port()),
        "keycloak:containerName": container, "keycloak:volumeName": f"{container}-data"}}))
    driver = Driver(project, tmp_path / "out", "sec")
    sampler = harness.Sampler()
    # The sampler does see argv and environments: a process that carries a marker is found.
    marker = secrets.token_hex(16)
    sampler.start()
    subprocess.run(["sh", "-c", "sleep 0.5", marker], check=True,
                   env={"PATH": os.environ["PATH"], "MARKER": marker})
    try:
        driver.run("stack", "up")
        values = {"bootstrap secret": harness.bootstrap_secret(container), **driver.secrets()}
        for what, key in (("backend-secret", "backend secret"),
                          ("admin-client-secret", "keycloak:adminClientSecret"),
                          ("user-password", "netbird:userPassword")):
            driver.run("rotate", "--what", what)
            values[f"{key} after rotation"] = driver.secrets()[key]
            assert values[f"{key} after rotation"] != values[key]
    finally:
        sampler.stop()
        try:
            driver.run("stack", "destroy")
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
            subprocess.run(["docker", "volume", "rm", "-f", f"{container}-data"],
                           capture_output=True)
    seen_marker = " ".join(sampler.holding({"marker": marker}))
    assert "in cmdline" in seen_marker and "in environ" in seen_marker, "the sampler is blind"
    assert sampler.rounds > 100
    found = sampler.holding(values)
    assert found == [], "\n".join(found)
    passphrase = os.environ["PULUMI_CONFIG_PASSPHRASE"].encode()
    assert not [where for data, where in sampler.seen.items()
                if passphrase in data and where.startswith("cmdline")]
    harness.record_hardening("no secret in argv, environments or docker inspect")


# --- Host mode: reachable on the bind address only; X-Forwarded-For believed from proxies only


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)


class OtherHost:
    """A network namespace joined to this machine by a veth pair: this machine has the address
    `here` on it (and `also_here` on a second pair), the namespace's client `there`."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.ns, self.links = f"nk-{tag}", [f"nkh{tag}", f"nkj{tag}"]
        net = 200 + secrets.randbelow(50)
        self.here, self.also_here = f"10.{net}.1.1", f"10.{net}.2.1"
        self.there, self.there_too = f"10.{net}.1.2", f"10.{net}.2.2"

    def __enter__(self) -> "OtherHost":
        run("ip", "netns", "add", self.ns)
        for link, mine, theirs in zip(self.links, (self.here, self.also_here),
                                      (self.there, self.there_too)):
            run("ip", "link", "add", link, "type", "veth", "peer", "name", f"{link}n")
            run("ip", "link", "set", f"{link}n", "netns", self.ns)
            run("ip", "addr", "add", f"{mine}/24", "dev", link)
            run("ip", "link", "set", link, "up")
            run("ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{theirs}/24", "dev",
                f"{link}n")
            run("ip", "netns", "exec", self.ns, "ip", "link", "set", f"{link}n", "up")
        return self

    def __exit__(self, *_) -> None:
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def status(self, url: str, *curl: str) -> str:
        """The HTTP status the other host gets, or '000' when nothing answers."""
        done = subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-s", "-m", "5", "-o",
                               "/dev/null", "-w", "%{http_code}", *curl, url],
                              capture_output=True, text=True, timeout=30)
        return done.stdout.strip() or "000"

    def wait_reachable(self, url: str) -> None:
        deadline = time.monotonic() + 20
        while self.status(url) == "000" and time.monotonic() < deadline:
            time.sleep(0.5)  # a new veth link takes a moment to carry traffic


@pytest.fixture(scope="module")
def other_host():
    if os.geteuid() != 0 or not Path("/usr/sbin/ip").exists() and not Path("/sbin/ip").exists():
        pytest.fail("this test needs root and iproute2's `ip` to make a network namespace",
                    pytrace=False)
    with OtherHost() as host:
        yield host


@pytest.fixture(scope="module")
def bound(other_host, tmp_path_factory):
    """A production Keycloak (Postgres, start --optimized) in host mode, bound to this
    machine's address on the first link; its only trusted proxy is that address itself."""
    container = f"{harness.TEST_PREFIX}-bound"
    ports = {"http": harness.free_port(), "management": harness.free_port()}
    project = harness.Project(tmp_path_factory.mktemp("bound"))
    stack = project.stack("bound", {
        "netbird:domain": "netbird.bound.test", "netbird:protectRealm": "false",
        "keycloak:mode": "production", "keycloak:url": "https://auth.bound.test",
        "keycloak:database": "postgres", "keycloak:optimized": "true",
        "keycloak:image": harness.OPTIMIZED_IMAGE, "keycloak:postgresImage": harness.POSTGRES_IMAGE,
        "keycloak:networkMode": "host", "keycloak:bindAddress": other_host.here,
        "keycloak:proxyTrustedAddresses": json.dumps([other_host.here]),
        "keycloak:httpPort": str(ports["http"]), "keycloak:managementPort": str(ports["management"]),
        "keycloak:databasePort": str(harness.free_port()),
        "keycloak:containerName": container, "keycloak:volumeName": f"{container}-data",
        "keycloak:databaseVolumeName": f"{container}-pg"})
    try:
        stack.up(color="never")
        yield stack, ports
    finally:
        stack.destroy(color="never")
        subprocess.run(["docker", "rm", "-f", container, f"{container}-postgres"],
                       capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{container}-data", f"{container}-pg"],
                       capture_output=True)


def test_keycloak_answers_on_its_bind_address_only(other_host, bound):
    _, ports = bound
    ready = f"http://{other_host.here}:{ports['management']}/health/ready"
    other_host.wait_reachable(ready)
    assert other_host.status(ready) == "200"
    assert other_host.status(f"http://{other_host.here}:{ports['http']}/realms/master") == "200"
    # This machine's other address: nothing answers on either port.
    for port in ports.values():
        assert other_host.status(f"http://{other_host.also_here}:{port}/") == "000"
        with socket.socket() as probe:  # nor on loopback
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    # The check can fail: a server on every address is reached at that other address.
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), NoContent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert other_host.status(f"http://{other_host.also_here}:{server.server_port}/") == "204"
    finally:
        server.shutdown()
        server.server_close()
    harness.record_hardening("host mode: only the bind address answers")


class NoContent(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_) -> None:
        pass


def test_forwarded_for_is_believed_from_trusted_proxies_only(other_host, bound):
    stack, ports = bound
    base = f"http://{other_host.here}:{ports['http']}"
    outputs = {k: v.value for k, v in stack.outputs().items()}
    token = f"{base}/realms/netbird/protocol/openid-connect/token"
    form = urllib.parse.urlencode({"grant_type": "password", "client_id": outputs["client_id"],
                                   "username": outputs["user_name"], "password": "wrong-password"})
    # From the other host (not a proxy), then from the trusted proxy's own address.
    assert other_host.status(token, "-X", "POST", "-H", "X-Forwarded-For: 203.0.113.7",
                             "-d", form) in ("400", "401")
    status, _ = harness.http("POST", token, form=dict(urllib.parse.parse_qsl(form)),
                             headers={"X-Forwarded-For": "198.51.100.9"})
    assert status in (400, 401)
    admin = harness.KeycloakAdmin(base, client_id="netbird-keycloak-admin",
                                  client_secret=harness.secret(stack, "keycloak:adminClientSecret"))
    addresses = {e["ipAddress"] for e in admin.get("/netbird/events?type=LOGIN_ERROR")}
    assert other_host.there in addresses and "203.0.113.7" not in addresses
    assert "198.51.100.9" in addresses  # a trusted proxy's header is believed
    harness.record_hardening("X-Forwarded-For believed from trusted proxies only")
