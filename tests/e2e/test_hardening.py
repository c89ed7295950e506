"""Hardened by default, end to end against a real Keycloak in Docker: the bootstrap admin retired
for a Pulumi service account, the realm's protections, and secret rotation.

The driver runs as a separate process per command, as `make up`, `make rotate` and `make
admin-user` run it. The tests run in order on one stack (first up first, destroy last).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
import yaml

from foundation.keycloak_admin import admin_login
from tests.e2e import harness

CONTAINER = f"{harness.TEST_PREFIX}-hard"
HTTP_PORT = harness.free_port()
CONFIG = {
    "netbird:domain": "netbird.hard.test",
    "netbird:protectRealm": "false",
    "keycloak:image": harness.KEYCLOAK_IMAGE,
    "keycloak:networkMode": "host",
    "keycloak:httpPort": str(HTTP_PORT),
    "keycloak:managementPort": str(harness.free_port()),
    "keycloak:containerName": CONTAINER,
    "keycloak:volumeName": f"{CONTAINER}-data",
}
URL = f"http://127.0.0.1:{HTTP_PORT}"


class Hardened:
    def __init__(self, project: harness.Project, out):
        self.project, self.out = project, out

    def script(self, name: str, *args: str) -> tuple[int, str]:
        module = f"netbird_keycloak.{name.removesuffix('.py')}"
        done = subprocess.run([sys.executable, "-m", module, *args, "--work-dir",
                               str(self.project.path), "--out", str(self.out)],
                              capture_output=True, text=True, timeout=600)
        return done.returncode, done.stdout + done.stderr

    def stack(self, command: str, *extra: str) -> tuple[int, str]:
        return self.script("stack.py", command, "--stack", "hard", *extra)

    def changes(self, command: str) -> dict:
        path = self.out / "hard" / f"{command}.json"
        code, output = self.stack(command, "--summary-json", str(path))
        assert code == 0, output[-3000:]
        return json.loads(path.read_text())["changes"]

    def config(self) -> dict[str, str]:
        stack = harness.stack_driver.open_stack("hard", self.project.path, program=None)
        return {k: v.value for k, v in stack.get_all_config().items()}

    def secret(self, key: str) -> str:
        return harness.secret(harness.stack_driver.open_stack("hard", self.project.path, program=None), key)

    def admin(self) -> harness.KeycloakAdmin:
        return harness.KeycloakAdmin(URL, client_id="netbird-keycloak-admin",
                                     client_secret=self.secret("keycloak:adminClientSecret"))

    def outputs(self) -> dict:
        stack = harness.stack_driver.open_stack("hard", self.project.path, program=None)
        return {k: v.value for k, v in stack.outputs().items()}


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    h = Hardened(harness.Project(tmp_path_factory.mktemp("hard")),
                 tmp_path_factory.mktemp("hard-out"))
    h.stack_file = h.project.path / "stacks" / "Pulumi.hard.yaml"
    h.stack_file.write_text(yaml.safe_dump({"config": CONFIG}))
    # Created as `pulumi stack init` does (its salt goes into the file), then never changed.
    harness.stack_driver.open_stack("hard", h.project.path, program=None)
    h.stack_file_before = h.stack_file.read_bytes()
    code, h.first_up = h.stack("up")
    assert code == 0, h.first_up[-3000:]
    yield h
    h.stack("destroy")
    subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", f"{CONTAINER}-data"], capture_output=True)


POLICY = "length(12) and notUsername(undefined) and passwordHistory(3)"


def token(outputs: dict, password: str) -> tuple[int, object]:
    return harness.user_token(outputs, password)


def refused(answer: tuple[int, object]) -> bool:
    """A password login Keycloak turned down (26.x answers 400 invalid_grant, older 401)."""
    status, body = answer
    return status in (400, 401) and "invalid_grant" in str(body)


def test_first_up_retires_the_bootstrap_admin_for_the_service_account(hard):
    assert hard.stack_file.read_bytes() == hard.stack_file_before
    admin = hard.admin()
    users = admin.get("/master/users?briefRepresentation=false")
    assert [u for u in users if (u.get("attributes") or {}).get("is_temporary_admin")] == []
    clients = admin.get("/master/clients")
    assert [c for c in clients if (c.get("attributes") or {}).get("is_temporary_admin")] == []
    assert "netbird-keycloak-bootstrap" not in {c["clientId"] for c in clients}
    client, = admin.get("/master/clients?clientId=netbird-keycloak-admin")
    assert client["serviceAccountsEnabled"] and not client["publicClient"]
    assert not (client["standardFlowEnabled"] or client["directAccessGrantsEnabled"])
    account = admin.get(f"/master/clients/{client['id']}/service-account-user")
    roles = admin.get(f"/master/users/{account['id']}/role-mappings/realm")
    assert "admin" in {r["name"] for r in roles}
    # The container still carries the bootstrap secret; it opens nothing any more.
    bootstrap = harness.bootstrap_secret(CONTAINER)
    status, body = admin_login(URL, client_id="netbird-keycloak-bootstrap",
                               client_secret=bootstrap)
    assert status in (400, 401) and "access_token" not in str(body)
    harness.record_hardening("no temporary admin after make up")


def test_second_up_and_preview_need_no_bootstrap_password(hard):
    # No secret in the stack file: only what the test chose (and Pulumi.yaml's project config).
    assert {k: v for k, v in hard.config().items() if not k.startswith("pulumi:")} == CONFIG
    assert hard.changes("up") == {}
    assert hard.changes("preview") == {}
    harness.record_hardening("later ups and previews without the bootstrap password")


def test_lifetimes_are_explicit_and_the_master_realm_is_defended(hard):
    admin = hard.admin()
    realm = admin.get("/netbird")
    assert (realm["accessTokenLifespan"], realm["ssoSessionIdleTimeout"],
            realm["ssoSessionMaxLifespan"], realm["offlineSessionIdleTimeout"]) == (
        300, 1800, 36000, 2592000)
    master = admin.get("/master")
    assert master["bruteForceProtected"] is True and master["permanentLockout"] is False
    assert (master["failureFactor"], master["waitIncrementSeconds"],
            master["maxFailureWaitSeconds"]) == (5, 60, 900)
    assert master["passwordPolicy"] == POLICY
    # Every admin login and change is in the master realm: kept as the NetBird realm's are.
    assert (master["eventsEnabled"], master["adminEventsEnabled"],
            master["eventsExpiration"]) == (True, True, realm["eventsExpiration"])
    harness.record_hardening("token and session lifetimes set; master realm brute-force "
                             "detection, password policy and kept events")


def test_drift_made_through_the_admin_api_is_repaired(hard):
    admin = hard.admin()
    status, _ = admin("PUT", "/netbird", {"bruteForceProtected": False, "sslRequired": "none",
                                          "passwordPolicy": "", "accessTokenLifespan": 86400})
    assert status == 204
    status, _ = admin("PUT", "/master", {"bruteForceProtected": False, "passwordPolicy": "",
                                         "eventsEnabled": False})
    assert status == 204
    code, output = hard.stack("up", "--refresh")
    assert code == 0, output[-3000:]
    realm = admin.get("/netbird")
    assert realm["bruteForceProtected"] is True and realm["sslRequired"] == "external"
    assert realm["passwordPolicy"] == POLICY and realm["accessTokenLifespan"] == 300
    master = admin.get("/master")
    assert master["bruteForceProtected"] is True and master["passwordPolicy"] == POLICY
    assert master["eventsEnabled"] is True
    harness.record_hardening("drift of the realm's protections repaired")


def test_brute_force_detection_locks_after_the_configured_failures(hard):
    outputs, password = hard.outputs(), hard.secret("netbird:userPassword")
    admin = hard.admin()
    user, = admin.get("/netbird/users?username=netbird&exact=true")
    status_path = f"/netbird/attack-detection/brute-force/users/{user['id']}"
    for attempt in range(1, 6):  # netbird:bruteForceFailures defaults to 5
        assert admin.get(status_path)["disabled"] is False, attempt
        assert refused(token(outputs, "Not-The-Password-1"))
        time.sleep(1.1)  # slower than Keycloak's quick-login check, so each failure counts
    deadline = time.monotonic() + 10  # Keycloak counts failures on a queue of its own
    while not (locked := admin.get(status_path))["disabled"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert locked["disabled"] is True and locked["numFailures"] == 5
    assert refused(token(outputs, password))  # the right password no longer opens it
    assert admin("DELETE", status_path)[0] == 204  # an admin unlocks it
    status, body = token(outputs, password)
    assert status == 200, body
    harness.record_hardening("brute-force detection locks after the configured failures")


def test_password_policy_refuses_weak_and_reused_passwords(hard):
    admin = hard.admin()
    user, = admin.get("/netbird/users?username=netbird&exact=true")
    reset = f"/netbird/users/{user['id']}/reset-password"
    status, body = admin("PUT", reset, {"type": "password", "value": "Short-1",
                                        "temporary": False})
    assert status == 400 and "invalidPasswordMinLength" in str(body)
    current = hard.secret("netbird:userPassword")
    status, body = admin("PUT", reset, {"type": "password", "value": current,
                                        "temporary": False})
    assert status == 400 and "invalidPasswordHistory" in str(body)
    harness.record_hardening("password policy refuses weak and reused passwords")


def test_login_and_admin_events_are_stored_with_an_expiry(hard):
    admin = hard.admin()
    config = admin.get("/netbird/events/config")
    assert config["eventsEnabled"] and config["adminEventsEnabled"]
    assert config["eventsExpiration"] == 30 * 86400
    assert admin.get("/netbird/events?type=LOGIN_ERROR")  # the failures above
    assert admin.get("/netbird/admin-events")
    harness.record_hardening("login and admin events stored with an expiry")


def test_rotate_backend_secret(hard):
    before = hard.outputs()
    code, output = hard.script("rotate.py", "--stack", "hard", "--what", "backend-secret")
    assert code == 0, output[-3000:]
    assert "restart management" in output
    after = hard.outputs()
    old, new = before["backend_client_secret"], after["backend_client_secret"]
    assert old != new and old not in output and new not in output
    env_file = hard.out / "hard" / "setup.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f'NETBIRD_IDP_MGMT_CLIENT_SECRET="{new}"' in env_file.read_text()
    issuer = after["issuer_url"]
    status, _ = harness.http("POST", f"{issuer}/protocol/openid-connect/token", form={
        "grant_type": "client_credentials", "client_id": "netbird-backend",
        "client_secret": old})
    assert status == 401
    doc = harness.http("GET", after["oidc_configuration_endpoint"])[1]
    check = harness.verify.check_backend(after, doc)  # GET users/count with the new secret
    assert check.ok, check.detail
    assert hard.changes("preview") == {}
    harness.record_hardening("backend secret rotated: old refused, new reads users")


def test_rotate_admin_client_secret(hard):
    old = hard.secret("keycloak:adminClientSecret")
    code, output = hard.script("rotate.py", "--stack", "hard", "--what", "admin-client-secret")
    assert code == 0, output[-3000:]
    new = hard.secret("keycloak:adminClientSecret")
    assert new != old and new not in output
    assert admin_login(URL, client_id="netbird-keycloak-admin", client_secret=old)[0] == 401
    assert admin_login(URL, client_id="netbird-keycloak-admin", client_secret=new)[0] == 200
    assert hard.changes("preview") == {}
    harness.record_hardening("admin client secret rotated: old refused, new logs in")


def test_rotate_user_password(hard):
    outputs, old = hard.outputs(), hard.secret("netbird:userPassword")
    code, output = hard.script("rotate.py", "--stack", "hard", "--what", "user-password")
    assert code == 0, output[-3000:]
    new = hard.secret("netbird:userPassword")
    assert new != old and new not in output
    assert refused(token(outputs, old))
    assert token(outputs, new)[0] == 200
    assert hard.changes("preview") == {}
    harness.record_hardening("user password rotated: old refused, new logs in")


def test_admin_user_gives_a_person_a_permanent_admin(hard):
    code, output = hard.script("admin_user.py", "--stack", "hard", "--name", "ops-e2e")
    assert code == 0, output
    path = hard.out / "hard" / "admin-user.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = next(line.split(": ", 1)[1] for line in path.read_text().splitlines()
                    if line.startswith("password: "))
    assert password not in output
    admin = hard.admin()
    user, = admin.get("/master/users?username=ops-e2e&exact=true&briefRepresentation=false")
    assert not (user.get("attributes") or {}).get("is_temporary_admin")
    assert "admin" in {r["name"] for r in admin.get(f"/master/users/{user['id']}/role-mappings"
                                                    "/realm")}
    # The password is right; Keycloak asks the person to choose their own first.
    status, body = admin_login(URL, user="ops-e2e", password=password)
    assert status == 400 and "not fully set up" in str(body)
    code, output = hard.script("admin_user.py", "--stack", "hard", "--name", "ops-e2e")
    assert code != 0 and "exists already" in output
    harness.record_hardening("a permanent admin for a person (make admin-user)")


def test_destroy_keeps_no_container(hard):
    assert hard.changes("destroy")
    assert subprocess.run(["docker", "inspect", CONTAINER], capture_output=True).returncode
    assert os.environ.get("PULUMI_BACKEND_URL")  # the session's own file backend
