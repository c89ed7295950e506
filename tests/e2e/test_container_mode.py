"""Container mode, end to end: `up` of a fresh stack starts Keycloak in Docker and creates every
object; then NetBird's logins are exercised over HTTP, idempotence, drift and destroy.

The tests in this module run in order on one stack (up first, destroy last).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from components.pulumi_service_account import DYNAMIC_PROVIDER
from tests.e2e import harness
from tests.e2e.conftest import docker_names

CONFIG = {
    "netbird:domain": "netbird.e2e.test",
    "netbird:protectRealm": "false",
    "keycloak:image": harness.KEYCLOAK_IMAGE,
    "keycloak:networkMode": "host",
    "keycloak:httpPort": "28080",
    "keycloak:managementPort": "29000",
    "keycloak:containerName": "keycloak-e2e",
    "keycloak:volumeName": "keycloak-e2e-data",
}


class Deployed:
    pass


@pytest.fixture(scope="module")
def deployed(project, native_keycloak, tmp_path_factory):
    # native_keycloak is requested only so that it boots in parallel with this container.
    d = Deployed()
    d.containers_before = docker_names("container")
    d.volumes_before = docker_names("volume")
    d.stack = project.stack("e2e", CONFIG)
    d.stack_file = harness.stack_driver.stack_file(project.path, "e2e")
    d.stack_file_before = d.stack_file.read_bytes()
    d.log = []  # everything the engine printed, scanned for secrets at the end
    # The program alone, as a plain `pulumi up` runs it: no secret set, no driver around it.
    d.up = d.stack.up(color="never", on_output=d.log.append)
    d.user_password = harness.secret(d.stack, "netbird:userPassword")
    d.admin_secret = harness.secret(d.stack, "keycloak:adminClientSecret")
    d.bootstrap_secret = harness.secret(d.stack, "keycloak:adminPassword")
    d.outputs = {k: v.value for k, v in d.stack.outputs().items()}
    d.secret_outputs = {k for k, v in d.stack.outputs().items() if v.secret}
    d.out_dir = tmp_path_factory.mktemp("out")
    yield d
    if d.stack.export_stack().deployment.get("resources"):
        d.stack.destroy(color="never")
    subprocess.run(["docker", "volume", "rm", "-f", "keycloak-e2e-data"], capture_output=True)


@pytest.fixture
def admin(deployed):
    return harness.KeycloakAdmin(deployed.outputs["keycloak_url"],
                                 client_id=deployed.outputs["admin_client_id"],
                                 client_secret=deployed.admin_secret)


def test_up_creates_healthy_container_and_every_object(deployed, admin):
    # 12 Keycloak and Docker objects (with the realm's events), the service account, the master
    # realm's defences, 3 stashes of generated secrets, their copy beside the data (a volume and
    # the idle container writing it), 2 providers, 4 components and the stack itself.
    assert harness.changes(deployed.up) == {"create": 26}
    state = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}",
                            "keycloak-e2e"], capture_output=True, text=True, check=True)
    assert state.stdout.strip() == "healthy"
    assert admin.get("/netbird")["enabled"] is True
    users = admin.get("/netbird/users?username=netbird&exact=true")
    assert [u["emailVerified"] for u in users] == [True]
    client, = admin.get("/netbird/clients?clientId=netbird-client")
    assert client["publicClient"] is True
    assert client["attributes"]["oauth2.device.authorization.grant.enabled"] == "true"
    assert sorted(client["redirectUris"]) == ["http://localhost:53000",
                                              "https://netbird.e2e.test/*"]
    bound = {s["name"] for s in admin.get(f"/netbird/clients/{client['id']}/default-client-scopes")}
    assert bound == {"basic", "acr", "profile", "email", "roles", "web-origins",
                     "netbird-client-audience"}
    backend, = admin.get("/netbird/clients?clientId=netbird-backend")
    assert backend["publicClient"] is False and backend["serviceAccountsEnabled"] is True
    assert deployed.secret_outputs == {"backend_client_secret", "user_password"}
    # Keycloak needs tens of seconds to boot; the realm was created only once it reported ready.
    harness.record_fault("Keycloak slow to start: up waits for its health check (at most 300 s)")


def test_first_up_alone_hands_off_and_leaves_the_stack_file_as_it_was(deployed, admin):
    """No driver: the program generated its secrets into the state, retired Keycloak's
    temporary admin for its service account, and wrote nothing into the stack file."""
    assert deployed.stack_file.read_bytes() == deployed.stack_file_before
    assert harness.bootstrap_secret("keycloak-e2e") == deployed.bootstrap_secret
    # Nothing `docker inspect` shows (environment, command, labels) holds a secret.
    inspected = subprocess.run(["docker", "inspect", "keycloak-e2e"], capture_output=True,
                               text=True, check=True).stdout
    assert not [s for s in (deployed.bootstrap_secret, deployed.admin_secret,
                            deployed.user_password) if s in inspected]
    status, _ = harness.admin_login(deployed.outputs["keycloak_url"],
                                    client_id="netbird-keycloak-bootstrap",
                                    client_secret=deployed.bootstrap_secret)
    assert status in (400, 401)  # the temporary admin is gone: its secret opens nothing
    clients = admin.get("/master/clients")
    assert not [c for c in clients if (c.get("attributes") or {}).get("is_temporary_admin")]
    users = admin.get("/master/users?briefRepresentation=false")
    assert not [u for u in users if (u.get("attributes") or {}).get("is_temporary_admin")]
    # Secrets the program made are long, different and secret outputs where exported.
    assert len({deployed.user_password, deployed.admin_secret, deployed.bootstrap_secret}) == 3
    assert "user_password" in deployed.secret_outputs


def test_discovery_issuer_equals_stack_output(deployed):
    check, doc = harness.verify.check_discovery(deployed.outputs)
    assert check.ok, check.line()
    assert doc["issuer"] == deployed.outputs["issuer_url"]


def test_user_access_token_has_audience_sub_and_azp(deployed):
    status, body = harness.user_token(deployed.outputs, deployed.user_password)
    assert status == 200, body
    c = harness.verify.jwt_claims(body["access_token"])
    aud = c["aud"] if isinstance(c["aud"], list) else [c["aud"]]
    assert "netbird-client" in aud
    assert c["sub"] and c["azp"] == "netbird-client"


def test_supported_scopes_from_setup_env_are_accepted(deployed):
    scopes = "openid profile email offline_access netbird-client-audience"
    status, body = harness.user_token(deployed.outputs, deployed.user_password, scopes)
    assert status == 200, body


def test_device_authorization_accepts_netbird_client(deployed):
    _, doc = harness.verify.check_discovery(deployed.outputs)
    check = harness.verify.check_device_grant(deployed.outputs, doc)
    assert check.ok, check.line()


def test_backend_client_can_count_users(deployed):
    _, doc = harness.verify.check_discovery(deployed.outputs)
    check = harness.verify.check_backend(deployed.outputs, doc)
    assert check.ok, check.line()
    assert "-> 1 users" in check.detail


def test_setup_env_is_private_sources_in_bash_and_matches_live_endpoints(deployed):
    path = harness.stack_driver.write_env(deployed.stack, deployed.out_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = ["NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT", "NETBIRD_IDP_MGMT_EXTRA_ADMIN_ENDPOINT",
            "NETBIRD_IDP_MGMT_CLIENT_ID", "NETBIRD_IDP_MGMT_CLIENT_SECRET", "NETBIRD_AUTH_AUDIENCE",
            "NETBIRD_AUTH_CLIENT_ID", "NETBIRD_AUTH_SUPPORTED_SCOPES"]
    script = f"set -eu; source {path}; " + "".join(f'printf "%s\\0" "${k}"; ' for k in keys)
    run = subprocess.run(["bash", "-c", script], capture_output=True, check=True)
    env = dict(zip(keys, run.stdout.decode().split("\0")))
    # Values from the file itself, not from the outputs, must work against the live Keycloak.
    status, doc = harness.http("GET", env["NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT"])
    assert status == 200 and doc["issuer"] == deployed.outputs["issuer_url"]
    status, token = harness.http("POST", doc["token_endpoint"], form={
        "grant_type": "client_credentials", "client_id": env["NETBIRD_IDP_MGMT_CLIENT_ID"],
        "client_secret": env["NETBIRD_IDP_MGMT_CLIENT_SECRET"]})
    assert status == 200
    status, count = harness.http("GET", env["NETBIRD_IDP_MGMT_EXTRA_ADMIN_ENDPOINT"]
                                 + "/users/count", token=token["access_token"])
    assert (status, count) == (200, 1)
    assert env["NETBIRD_AUTH_SUPPORTED_SCOPES"].split()[-1] == deployed.outputs["audience_scope"]


def test_second_up_changes_nothing(deployed):
    again = deployed.stack.up(color="never", on_output=deployed.log.append)
    assert harness.changes(again) == {}


def test_preview_of_one_more_pkce_port_shows_exactly_that_change(deployed):
    stack = deployed.stack
    events = []
    stack.set_config("netbird:pkcePorts", harness.stack_driver.auto.ConfigValue("[53000, 54000]"))
    try:
        preview = stack.preview(color="never", diff=True, on_event=events.append,
                                on_output=deployed.log.append)
    finally:
        stack.remove_config("netbird:pkcePorts")
    # Not the hand-off's provider: it "updates" on any config change (DYNAMIC_PROVIDER).
    steps = [e.resource_pre_event.metadata for e in events
             if e.resource_pre_event and e.resource_pre_event.metadata.op.value != "same"
             and e.resource_pre_event.metadata.type != DYNAMIC_PROVIDER]
    assert [(s.urn.split("::")[-1], s.op.value, s.diffs) for s in steps] == [
        ("netbird-client", "update", ["validRedirectUris"])]
    assert harness.changes(preview) == {"update": 1}


def test_deleted_audience_mapper_is_restored_by_up_with_refresh(deployed, admin):
    scope, = [s for s in admin.get("/netbird/client-scopes")
              if s["name"] == "netbird-client-audience"]
    mapper, = scope["protocolMappers"]
    status, _ = admin("DELETE", f"/netbird/client-scopes/{scope['id']}/protocol-mappers/models/"
                                f"{mapper['id']}")
    assert status == 204
    status, body = harness.user_token(deployed.outputs, deployed.user_password)
    assert "netbird-client" not in harness.verify.jwt_claims(body["access_token"])["aud"]  # the drift is real

    result = deployed.stack.up(color="never", refresh=True, on_output=deployed.log.append)
    assert harness.changes(result) == {"create": 1}
    status, body = harness.user_token(deployed.outputs, deployed.user_password)
    aud = harness.verify.jwt_claims(body["access_token"])["aud"]
    assert "netbird-client" in (aud if isinstance(aud, list) else [aud])


def test_replaced_container_keeps_users_and_the_backend_secret(deployed):
    before = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", "keycloak-e2e"],
                            capture_output=True, text=True, check=True).stdout.strip()
    deployed.stack.set_config("keycloak:memoryMb",
                              harness.stack_driver.auto.ConfigValue("1536"))
    try:
        result = deployed.stack.up(color="never", on_output=deployed.log.append)
    finally:
        deployed.stack.remove_config("keycloak:memoryMb")
    assert harness.changes(result) == {"replace": 1}  # the container, and nothing in Keycloak
    after = subprocess.run(["docker", "inspect", "-f", "{{.Id}} {{.HostConfig.Memory}}",
                            "keycloak-e2e"], capture_output=True, text=True, check=True)
    container_id, memory = after.stdout.split()
    assert container_id != before and int(memory) == 1536 * 2**20
    outputs = {k: v.value for k, v in deployed.stack.outputs().items()}
    assert outputs["backend_client_secret"] == deployed.outputs["backend_client_secret"]
    status, body = harness.user_token(outputs, deployed.user_password)
    assert status == 200, body  # the user, kept on the data volume, still logs in
    assert "netbird-client" in harness.verify.jwt_claims(body["access_token"])["aud"]


def test_destroy_removes_what_the_stack_created_and_nothing_else(deployed):
    deployed.stack.destroy(color="never", on_output=deployed.log.append)
    assert not deployed.stack.export_stack().deployment.get("resources")
    containers = docker_names("container")
    assert "keycloak-e2e" not in containers
    assert deployed.containers_before <= containers  # nothing else was removed
    # The data volume outlives the stack on purpose (retain_on_delete): users are never lost.
    assert "keycloak-e2e-data" in docker_names("volume")
    assert deployed.volumes_before <= docker_names("volume")


def test_no_secret_in_plain_text_in_state_output_logs_or_repository(deployed, pulumi_session):
    secrets = {
        "bootstrap secret": deployed.bootstrap_secret,
        "admin client secret": deployed.admin_secret,
        "user password": deployed.user_password,
        "backend client secret": deployed.outputs["backend_client_secret"],
        "state passphrase": os.environ["PULUMI_CONFIG_PASSPHRASE"],
    }
    places = {f"state file {p.name}": p.read_text(errors="replace")
              for p in pulumi_session.rglob("*") if p.is_file()}
    places["engine output of up, preview --diff, refresh and destroy"] = "".join(deployed.log)
    stacks = Path(deployed.stack.workspace.work_dir) / "stacks"
    places.update({f"stack file {p.name}": p.read_text() for p in stacks.glob("*.yaml")})
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=harness.ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        path = harness.ROOT / name
        if path.is_file() and path.stat().st_size < 2_000_000:
            places[f"repository file {name}"] = path.read_text(errors="replace")
    leaks = [f"{what} in {where}" for what, value in secrets.items()
             for where, text in places.items() if value and value in text]
    harness.safety_report.save("secret-scan", {"places": len(places), "leaks": leaks})
    assert leaks == []
    assert len(places) > 20  # the scan really read the state, the output and the repository
    # The one file that must hold the backend secret is private.
    env_file = deployed.out_dir / "e2e" / "setup.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
