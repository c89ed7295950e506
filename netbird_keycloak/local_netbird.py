"""A NetBird on this machine for the tests: NetBird's combined server (`netbird-server`:
management, signal, relay and the embedded identity provider in one process, what NetBird's
getting-started.sh installs), built by `scripts/bootstrap.sh netbird` from its source snapshot
and started on loopback the way NetBird's own e2e harness starts it (sqlite store,
NB_SETUP_PAT_ENABLED, geolocation off)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from netbird_keycloak import ROOT
from netbird_keycloak.browser_login import login_through_netbird
from netbird_keycloak.keycloak_admin import http
from netbird_keycloak.local_keycloak import CACHE, stop_group
from netbird_keycloak.netbird_api import request

# The version the bootstrap builds, declared there once.
NETBIRD_VERSION = re.search(r"^NETBIRD_VERSION=(\S+)$",
                            (ROOT / "scripts/bootstrap.sh").read_text(), re.MULTILINE)[1]
SERVER = CACHE / f"netbird-{NETBIRD_VERSION}" / "netbird-server"

CONFIG = """\
server:
  listenAddress: "127.0.0.1:{port}"
  exposedAddress: "{url}"
  metricsPort: {metrics}
  healthcheckAddress: "127.0.0.1:{health}"
  stunPorts: [{stun}]
  logLevel: "info"
  logFile: "console"
  authSecret: "{auth_secret}"
  dataDir: "{data}"
  disableAnonymousMetrics: true
  disableGeoliteUpdate: true
  auth:
    issuer: "{url}/oauth2"
    localAuthDisabled: false
    signKeyRefreshEnabled: false
    dashboardRedirectURIs: ["{url}/nb-auth"]
    cliRedirectURIs: ["http://localhost:53000/"]
  store:
    engine: "sqlite"
"""


OWNER_EMAIL = "owner@netbird.e2e.test"

# The combined server also serves gRPC on management's legacy port, on every address, unless it
# listens on that port itself: so it does, on loopback. One such server runs at a time.
LEGACY_PORT = 33073


def leftover_servers() -> list[int]:
    """Pids of netbird-server processes of ours that an interrupted run left."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes().startswith(str(SERVER).encode()):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NetBirdServer:
    """`url` is NetBird's management URL (and its issuer's base); `owner_token` the personal
    access token of the owner that `setup()` creates."""

    def __init__(self, folder: Path):
        if not SERVER.exists():
            raise AssertionError(f"no NetBird server at {SERVER}: run `bash scripts/bootstrap.sh "
                                 "netbird`")
        self.folder = folder
        (folder / "data").mkdir(parents=True, exist_ok=True)
        port = LEGACY_PORT
        self.url = f"http://127.0.0.1:{port}"
        config = folder / "config.yaml"
        config.write_text(CONFIG.format(
            port=port, url=self.url, metrics=_free_port(), health=_free_port(), stun=_free_port(),
            auth_secret=secrets.token_urlsafe(24), data=folder / "data"))
        config.chmod(0o600)
        self.log = folder / "netbird-server.log"
        self.process = subprocess.Popen(
            [str(SERVER), "--config", str(config)],
            env={**os.environ, "NB_SETUP_PAT_ENABLED": "true", "NB_DISABLE_GEOLOCATION": "true"},
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.owner_token: Optional[str] = None

    def wait_ready(self, timeout: float = 120) -> "NetBirdServer":
        deadline = time.monotonic() + timeout
        while http("GET", f"{self.url}/api/instance", timeout=5)[0] != 200:
            if self.process.poll() is not None:
                raise AssertionError(f"netbird-server exited ({self.process.returncode}); see "
                                     f"{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"netbird-server not ready in {timeout} s; see {self.log}")
            time.sleep(0.5)
        return self

    def setup(self) -> "NetBirdServer":
        """NetBird's first setup as an operator does it: the owner (POST /api/setup, what the
        dashboard's first page sends), the owner's first login, then a personal access token
        made with that login (the dashboard's Team → Users → tokens).

        Not `create_pat` in the setup call: NetBird 0.77.1 then makes the account without the
        single-account domain, and every user who later logs in through a connector gets an
        account of their own instead of joining this one."""
        password = secrets.token_urlsafe(18)
        status, answer = http("POST", f"{self.url}/api/setup", body={
            "email": OWNER_EMAIL, "password": password, "name": "Owner"})
        assert status == 200, (status, answer)
        jwt = login_through_netbird(self.url, "local", OWNER_EMAIL, password)["access_token"]
        status, owner = http("GET", f"{self.url}/api/users/current", token=jwt)
        assert status == 200, (status, owner)
        status, made = http("POST", f"{self.url}/api/users/{owner['id']}/tokens", token=jwt,
                            body={"name": "netbird-keycloak e2e", "expires_in": 1})
        assert status == 200 and made.get("plain_token"), (status, made)
        self.owner_token = made["plain_token"]
        return self

    def api(self, method: str, path: str, body=None) -> tuple[int, object]:
        return request(self.url, self.owner_token, method, path, body)

    def stop(self) -> None:
        stop_group(self.process)
