"""What the end-to-end tests share: the real toolchain (checked, never skipped), a throwaway
Pulumi project folder on a local file backend, a native Keycloak, and an Admin REST client."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import stack as stack_driver  # noqa: E402
import verify  # noqa: E402,F401 - re-exported for the tests

CACHE = Path(os.environ.get("NETBIRD_KEYCLOAK_CACHE", Path.home() / ".cache/netbird-keycloak"))
KEYCLOAK_VERSION = "26.7.3"
KEYCLOAK_IMAGE = f"netbird-keycloak/keycloak:{KEYCLOAK_VERSION}"


def missing_toolchain() -> list[str]:
    """Every reason the real end-to-end run cannot happen, each with the command that fixes it."""
    problems = []
    cli = Path(os.environ.get("PULUMI_CLI_ROOT", "")) / "bin" / "pulumi"
    if not os.access(cli, os.X_OK):
        problems.append(f"no Pulumi CLI at {cli}: run `make bootstrap`")
    home = Path(os.environ.get("PULUMI_HOME", ROOT / ".pulumi-home"))
    for plugin in ("resource-keycloak-v6.13.0/pulumi-resource-keycloak",
                   "resource-docker-v5.1.0/pulumi-resource-docker"):
        if not os.access(home / "plugins" / plugin, os.X_OK):
            problems.append(f"plugin {plugin} not in {home}/plugins: run `make bootstrap`")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        problems.append("no Docker engine answers `docker info`: run `make bootstrap`")
    elif subprocess.run(["docker", "image", "inspect", KEYCLOAK_IMAGE],
                        capture_output=True).returncode != 0:
        problems.append(f"no image {KEYCLOAK_IMAGE}: run `make keycloak-image`")
    if not (CACHE / f"keycloak-{KEYCLOAK_VERSION}" / "bin" / "kc.sh").exists():
        problems.append(f"no Keycloak distribution in {CACHE}: run `make bootstrap`")
    return problems


def http(method: str, url: str, form: Optional[dict] = None, body: Any = None,
         token: Optional[str] = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


class KeycloakAdmin:
    """A master-realm admin session, to look at and tamper with Keycloak behind Pulumi's back."""

    def __init__(self, base: str, user: str, password: str):
        self.base = base.rstrip("/")
        status, token = http("POST", f"{self.base}/realms/master/protocol/openid-connect/token",
                             form={"grant_type": "password", "client_id": "admin-cli",
                                   "username": user, "password": password})
        assert status == 200, f"admin login failed: {status} {token}"
        self.token = token["access_token"]

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return http(method, f"{self.base}/admin/realms{path}", body=body, token=self.token)

    def get(self, path: str) -> Any:
        status, body = self(path=path, method="GET")
        assert status == 200, f"GET {path}: {status} {body}"
        return body


def user_token(outputs: dict, password: str, scope: str = "openid") -> tuple[int, Any]:
    endpoint = f"{outputs['issuer_url']}/protocol/openid-connect/token"
    return http("POST", endpoint, form={"grant_type": "password", "client_id": outputs["client_id"],
                                        "username": outputs["user_name"], "password": password,
                                        "scope": scope})


class Project:
    """A folder holding Pulumi.yaml and stacks/, so tests never touch the repository's stacks."""

    def __init__(self, path: Path):
        self.path = path
        (path / "stacks").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")

    def stack(self, name: str, config: dict[str, str]):
        (self.path / "stacks" / f"Pulumi.{name}.yaml").write_text(
            yaml.safe_dump({"config": config}))
        return stack_driver.open_stack(name, self.path)


class NativeKeycloak:
    """Keycloak from the Maven Central distribution, started with `kc.sh start-dev` (no Docker)."""

    def __init__(self, http_port: int, management_port: int, log: Path):
        self.url = f"http://127.0.0.1:{http_port}"
        self.health = f"http://127.0.0.1:{management_port}/health/ready"
        self.admin_user = "kcadmin"
        self.admin_password = secrets.token_urlsafe(18)
        self.log = log
        env = dict(os.environ, KC_BOOTSTRAP_ADMIN_USERNAME=self.admin_user,
                   KC_BOOTSTRAP_ADMIN_PASSWORD=self.admin_password)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(CACHE / f"keycloak-{KEYCLOAK_VERSION}/bin/kc.sh"), "start-dev",
             f"--http-port={http_port}", f"--http-management-port={management_port}",
             "--health-enabled=true", "--db=dev-mem"],
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
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


def changes(result) -> dict[str, int]:
    """The resource operations of an up/preview other than `same`."""
    summary = getattr(result, "change_summary", None) or result.summary.resource_changes or {}
    return {op: n for op, n in summary.items() if op != "same" and n}
