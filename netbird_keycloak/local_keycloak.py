"""A Keycloak on this machine for tests and benchmarks: the Maven Central distribution started
natively with `kc.sh start-dev` (no Docker)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from netbird_keycloak.keycloak_admin import http

CACHE = Path(os.environ.get("NETBIRD_KEYCLOAK_CACHE", Path.home() / ".cache/netbird-keycloak"))
KEYCLOAK_VERSION = "26.7.3"


class NativeKeycloak:
    """Keycloak from the Maven Central distribution, started with `kc.sh start-dev` (no Docker)."""

    def __init__(self, http_port: int, management_port: int, log: Path,
                 database: Optional[Path] = None, admin_password: Optional[str] = None):
        """`database`: a folder for an H2 file database that outlives a restart (default: in
        memory). A restart on the same folder passes the same `admin_password`."""
        self.url = f"http://127.0.0.1:{http_port}"
        self.health = f"http://127.0.0.1:{management_port}/health/ready"
        self.admin_user = "kcadmin"
        self.admin_password = admin_password or secrets.token_urlsafe(18)
        self.log = log
        for port in (http_port, management_port):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise RuntimeError(f"port {port} is in use (an earlier Keycloak still "
                                       "running?); stop it or pick other ports")
        env = dict(os.environ, KC_BOOTSTRAP_ADMIN_USERNAME=self.admin_user,
                   KC_BOOTSTRAP_ADMIN_PASSWORD=self.admin_password)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(CACHE / f"keycloak-{KEYCLOAK_VERSION}/bin/kc.sh"), "start-dev",
             f"--http-port={http_port}", f"--http-management-port={management_port}",
             "--health-enabled=true",
             *(["--db=dev-file",
                f"--db-url=jdbc:h2:file:{database}/keycloakdb;NON_KEYWORDS=VALUE"]
               if database else ["--db=dev-mem"])],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.ready_after: Optional[float] = None

    def wait_ready(self, timeout: float = 300) -> "NativeKeycloak":
        while self.ready_after is None:
            if self.process.poll() is not None:
                raise AssertionError(f"native Keycloak exited ({self.process.returncode}); "
                                     f"see {self.log}")
            try:
                if http("GET", self.health)[0] == 200:
                    self.ready_after = time.monotonic() - self.started
                    break
            except OSError:
                pass
            if time.monotonic() - self.started > timeout:
                raise AssertionError(f"native Keycloak not ready in {timeout} s; see {self.log}")
            time.sleep(1)
        return self

    def stop(self) -> None:
        stop_group(self.process)


def stop_group(process: subprocess.Popen, grace: float = 30) -> None:
    """Stops a server started in a process group of its own: SIGTERM, SIGKILL after `grace`."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
