"""The whole program under Pulumi mocks (unit tests: no engine, Keycloak or Docker).

They pin down the inputs of every resource NetBird depends on, the provider wiring, which
outputs are secret, and that bad settings stop the program before any resource exists.
"""

import json

import pulumi
import pytest

from components import wiring
from components.netbird_realm import AUDIENCE_MAPPER_NAME
from components.settings import RawValue, parse_settings
from tests.unit.mock_pulumi import is_secret_input, reveal, run_program

SECRETS = ["keycloak:adminPassword", "keycloak:adminClientSecret", "netbird:userPassword"]
BASE = {
    "netbird:domain": "netbird.example.com",
    "keycloak:adminPassword": "Xk3-vq9-Lm2-Pz7",
    "keycloak:adminClientSecret": "Cs4-Rt8-Yu2-Op6",
    "netbird:userPassword": "Ab9-Zx8-Cv7-Qw6",
}
REALM, CLIENT, SCOPE = ("keycloak:index/realm:Realm", "keycloak:openid/client:Client",
                        "keycloak:openid/clientScope:ClientScope")
MAPPER = "keycloak:openid/audienceProtocolMapper:AudienceProtocolMapper"
DEFAULT_SCOPES = "keycloak:openid/clientDefaultScopes:ClientDefaultScopes"
SA_ROLE = "keycloak:openid/clientServiceAccountRole:ClientServiceAccountRole"
CONTAINER = "docker:index/container:Container"
KEYCLOAK = "keycloak-container"  # its resource name, beside Postgres's and the secrets copy's


def deploy(**extra):
    run = run_program(dict(BASE, **extra), SECRETS)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="module")
def dev():
    return deploy()


def test_realm_is_literal_enabled_and_protected(dev):
    realm = dev.mocks.one(REALM)
    assert realm.inputs["realm"] == "netbird"
    assert realm.inputs["enabled"] is True
    assert realm.inputs["terraformDeletionProtection"] is True


def test_user_has_profile_and_permanent_password(dev):
    user = dev.mocks.one("keycloak:index/user:User")
    assert user.inputs["username"] == "netbird"
    assert user.inputs["realmId"] == "netbird"
    assert user.inputs["emailVerified"] is True
    assert user.inputs["email"] == "netbird@netbird.example.com"
    assert user.inputs["firstName"] and user.inputs["lastName"]
    assert is_secret_input(user.inputs["initialPassword"])
    assert reveal(user.inputs["initialPassword"]) == {"value": "Ab9-Zx8-Cv7-Qw6",
                                                      "temporary": False}


def test_netbird_client_access_settings(dev):
    client = dev.mocks.one(CLIENT, "netbird-client")
    i = client.inputs
    assert i["clientId"] == "netbird-client"
    assert i["accessType"] == "PUBLIC"
    assert i["standardFlowEnabled"] is True
    assert i["directAccessGrantsEnabled"] is True
    assert i["oauth2DeviceAuthorizationGrantEnabled"] is True
    assert i["implicitFlowEnabled"] is False
    assert i["pkceCodeChallengeMethod"] == ""  # required PKCE breaks NetBird's device login
    assert i["rootUrl"] == "https://netbird.example.com/"
    assert i["validRedirectUris"] == ["https://netbird.example.com/*", "http://localhost:53000"]
    assert i["validPostLogoutRedirectUris"] == ["https://netbird.example.com/*"]
    assert i["webOrigins"] == ["+"]


def test_each_pkce_port_becomes_a_redirect_uri():
    run = deploy(**{"netbird:pkcePorts": "[53000, 54000]"})
    uris = run.mocks.one(CLIENT, "netbird-client").inputs["validRedirectUris"]
    assert uris == ["https://netbird.example.com/*", "http://localhost:53000",
                    "http://localhost:54000"]


def test_audience_scope_and_mapper(dev):
    scope = dev.mocks.one(SCOPE)
    assert scope.inputs["name"] == "netbird-client-audience"
    assert scope.inputs["includeInTokenScope"] is True
    mapper = dev.mocks.one(MAPPER)
    assert mapper.inputs["name"] == AUDIENCE_MAPPER_NAME
    assert mapper.inputs["clientScopeId"] == "netbird-audience-scope-id"
    assert mapper.inputs["includedClientAudience"] == "netbird-client"
    assert mapper.inputs["addToAccessToken"] is True
    assert mapper.inputs["addToIdToken"] is False
    assert "clientId" not in mapper.inputs  # attached to the scope, not to the client


def test_default_scopes_keep_builtins_and_add_audience(dev):
    bound = dev.mocks.one(DEFAULT_SCOPES)
    assert bound.inputs["clientId"] == "netbird-client-id"  # the internal id, not "netbird-client"
    assert bound.inputs["defaultScopes"] == [
        "basic", "acr", "profile", "email", "roles", "web-origins", "netbird-client-audience"]


def test_backend_client_is_confidential_service_account_only(dev):
    i = dev.mocks.one(CLIENT, "netbird-backend-client").inputs
    assert i["clientId"] == "netbird-backend"
    assert i["accessType"] == "CONFIDENTIAL"
    assert i["serviceAccountsEnabled"] is True
    for flow in ("standardFlowEnabled", "directAccessGrantsEnabled", "implicitFlowEnabled",
                 "oauth2DeviceAuthorizationGrantEnabled"):
        assert i[flow] is False, flow


def test_backend_service_account_gets_view_users(dev):
    role = dev.mocks.one(SA_ROLE)
    assert role.inputs["role"] == "view-users"
    assert role.inputs["clientId"] == "realm-management-uuid"
    assert role.inputs["serviceAccountUserId"] == "sa-netbird-backend-client"
    (token, args, provider), = dev.mocks.calls
    assert args == {"realmId": "netbird", "clientId": "realm-management"}
    assert provider and "pulumi:providers:keycloak" in provider


def test_user_deletion_grants_manage_users():
    run = deploy(**{"netbird:userDeleteFromIdp": "true"})
    assert run.mocks.one(SA_ROLE).inputs["role"] == "manage-users"


def test_every_resource_names_an_explicit_provider(dev):
    custom = [r for r in dev.mocks.resources if r.custom and not r.typ.startswith("pulumi")]
    # 14: the container, its image and volume, the secrets copy's volume and container; 9 realm
    # objects.
    assert len(custom) == 14
    for resource in custom:
        package = resource.typ.split(":")[0]
        assert resource.provider and f"pulumi:providers:{package}::" in resource.provider, \
            resource.name


def test_keycloak_provider_settings(dev):
    provider = dev.mocks.one("pulumi:providers:keycloak").inputs
    # Provider inputs travel as strings on the wire.
    assert provider["initialLogin"] == "false"
    assert int(provider["clientTimeout"]) >= 30
    # Deploying, Pulumi logs in as its service account from the first run on.
    assert provider["clientId"] == "netbird-keycloak-admin" and "username" not in provider
    assert is_secret_input(provider["clientSecret"])
    assert provider["url"] == "http://127.0.0.1:8080"


def secrets_file(container: dict) -> dict[str, str]:
    """The options of Keycloak's secrets file, read back (keycloak.conf syntax); it is a secret
    input and readable by the container's keycloak group only."""
    assert is_secret_input(container["uploads"])
    [upload] = reveal(container["uploads"])
    assert upload["file"] == "/run/secrets/keycloak.conf" and upload["permissions"] == "0640"
    return dict(line.split("=", 1) for line in upload["content"].splitlines())


def test_container_runs_keycloak_with_health_and_bootstrap_admin(dev):
    c = dev.mocks.one(CONTAINER, KEYCLOAK).inputs
    envs = c["envs"]
    assert c["name"] == "keycloak-dev"
    assert c["image"] == "sha256:mockimage"
    assert c["command"] == ["--config-file=/run/secrets/keycloak.conf", "start-dev",
                            "--http-port=8080", "--http-management-port=9000"]
    assert "KC_HEALTH_ENABLED=true" in envs
    # A temporary admin service account, not a user: the provider logs in with client
    # credentials from the first run. Its secret is in a file, not in the environment.
    assert "KC_BOOTSTRAP_ADMIN_CLIENT_ID=netbird-keycloak-bootstrap" in envs
    assert not [line for line in envs if "Xk3-vq9-Lm2-Pz7" in line or "SECRET" in line]
    assert secrets_file(c) == {"bootstrap-admin-client-secret": "Xk3-vq9-Lm2-Pz7"}
    assert not [line for line in envs if line.startswith("KC_BOOTSTRAP_ADMIN_USERNAME")]
    assert c["wait"] is True and c["waitTimeout"] >= 120
    assert c["healthcheck"]["tests"][:3] == ["CMD", "bash", "-c"]
    assert "/health/ready" in c["healthcheck"]["tests"][3]
    assert "/127.0.0.1/9000" in c["healthcheck"]["tests"][3]
    assert c["ports"] == [{"internal": 8080, "external": 8080, "ip": "127.0.0.1"}]
    assert c["volumes"] == [{"containerPath": "/opt/keycloak/data",
                             "volumeName": "keycloak-dev-data"}]
    image = dev.mocks.one("docker:index/remoteImage:RemoteImage").inputs
    assert image["name"] == "quay.io/keycloak/keycloak:26.7.3"
    assert image["keepLocally"] is True


def test_memory_limit_reaches_the_container(dev):
    assert "memory" not in dev.mocks.one(CONTAINER, KEYCLOAK).inputs  # no limit unless the stack sets one
    run = deploy(**{"keycloak:memoryMb": "2048"})
    assert run.mocks.one(CONTAINER, KEYCLOAK).inputs["memory"] == 2048
    # Stated, or the real provider reports Docker's derived 2x as a change on every preview.
    assert run.mocks.one(CONTAINER, KEYCLOAK).inputs["memorySwap"] == 2048


def test_host_network_publishes_no_ports():
    run = deploy(**{"keycloak:networkMode": "host", "keycloak:httpPort": "18080",
                    "keycloak:managementPort": "19000"})
    c = run.mocks.one(CONTAINER, KEYCLOAK).inputs
    assert c["networkMode"] == "host"
    assert not c.get("ports")
    assert "--http-port=18080" in c["command"]
    # The host's interfaces are Keycloak's own: both ports on the bind address only.
    assert "--http-host=127.0.0.1" in c["command"]
    assert "--http-management-host=127.0.0.1" in c["command"]


def test_host_network_on_a_chosen_address_is_probed_there():
    run = deploy(**{"keycloak:networkMode": "host", "keycloak:bindAddress": "10.20.0.5"})
    c = run.mocks.one(CONTAINER, KEYCLOAK).inputs
    assert "--http-host=10.20.0.5" in c["command"]
    assert "/10.20.0.5/9000" in c["healthcheck"]["tests"][3]
    assert run.mocks.one("pulumi:providers:keycloak").inputs["url"] == "http://10.20.0.5:8080"


def test_remote_docker_host_reaches_the_provider():
    run = deploy(**{"docker:host": "ssh://deploy@netbird.example.com",
                    "keycloak:url": "https://auth.example.com"})
    assert run.mocks.one("pulumi:providers:docker").inputs["host"] == \
        "ssh://deploy@netbird.example.com"
    # Pulumi reaches a container on another machine at its public URL, not at 127.0.0.1.
    assert run.mocks.one("pulumi:providers:keycloak").inputs["url"] == "https://auth.example.com"


def test_ssh_options_and_tls_folder_reach_the_docker_provider():
    ssh = deploy(**{"docker:host": "ssh://deploy@netbird.example.com",
                    "docker:sshOpts": '["-i", "/home/ops/.ssh/netbird_deploy"]',
                    "keycloak:url": "https://auth.example.com"})
    # Provider inputs reach the engine JSON-encoded.
    assert json.loads(ssh.mocks.one("pulumi:providers:docker").inputs["sshOpts"]) == \
        ["-i", "/home/ops/.ssh/netbird_deploy"]
    tls = deploy(**{"docker:host": "tcp://netbird.example.com:2376",
                    "docker:certPath": "/home/ops/.docker/netbird",
                    "keycloak:url": "https://auth.example.com"})
    assert tls.mocks.one("pulumi:providers:docker").inputs["certPath"] == \
        "/home/ops/.docker/netbird"


def test_existing_keycloak_creates_no_docker_resources():
    run = deploy(**{"keycloak:deploy": "false", "keycloak:url": "https://auth.example.com"})
    assert not [r for r in run.mocks.resources if r.typ.startswith(("docker:", "pulumi:providers:docker"))]
    assert run.mocks.one("pulumi:providers:keycloak").inputs["url"] == "https://auth.example.com"
    assert run.exports["issuer_url"] == "https://auth.example.com/realms/netbird"


def test_the_master_realm_of_a_deployed_keycloak_gets_the_realms_defences(dev):
    from components.master_realm import representation
    hardening = reveal_all(dev.mocks.one(DYNAMIC, "master-realm-hardening").inputs)
    assert representation(hardening) == {
        "bruteForceProtected": True, "permanentLockout": False, "failureFactor": 5,
        "waitIncrementSeconds": 60, "maxFailureWaitSeconds": 900,
        "passwordPolicy": "length(12) and notUsername(undefined) and passwordHistory(3)",
        # Admin logins and changes, kept as long as the NetBird realm keeps its events.
        "eventsEnabled": True, "adminEventsEnabled": True, "eventsExpiration": 30 * 86400}
    assert hardening["login"]["client_id"] == "netbird-keycloak-admin"  # the service account
    # A Keycloak that already runs is not the stack's: its master realm is left alone.
    run = deploy(**{"keycloak:deploy": "false", "keycloak:url": "https://auth.example.com"})
    assert not [r for r in run.mocks.by_type(DYNAMIC) if r.name == "master-realm-hardening"]


def reveal_all(inputs: dict) -> dict:
    return {key: reveal(value) for key, value in inputs.items()}


def test_outputs_netbird_needs(dev):
    e = dev.exports
    assert e["issuer_url"] == "http://localhost:8080/realms/netbird"
    assert e["oidc_configuration_endpoint"] == \
        "http://localhost:8080/realms/netbird/.well-known/openid-configuration"
    assert e["admin_endpoint"] == "http://localhost:8080/admin/realms/netbird"
    assert e["admin_console_url"].startswith("http://localhost:8080/admin/")
    assert (e["client_id"], e["audience"], e["audience_scope"]) == \
        ("netbird-client", "netbird-client", "netbird-client-audience")
    assert (e["backend_client_id"], e["user_name"]) == ("netbird-backend", "netbird")
    assert e["backend_client_secret"] == "mock-backend-secret"


def test_only_the_secret_outputs_are_secret_and_they_are(dev):
    assert dev.secret_exports == {"backend_client_secret", "user_password"}
    assert dev.exports["user_password"] == BASE["netbird:userPassword"]


def test_configured_names_are_used_literally():
    run = deploy(**{"netbird:realm": "acme", "netbird:clientId": "acme-client",
                    "netbird:audienceScope": "acme-aud", "netbird:backendClientId": "acme-be"})
    assert run.mocks.one(REALM).inputs["realm"] == "acme"
    assert run.mocks.one(CLIENT, "netbird-client").inputs["clientId"] == "acme-client"
    assert run.mocks.one(MAPPER).inputs["includedClientAudience"] == "acme-client"
    assert run.mocks.one(DEFAULT_SCOPES).inputs["defaultScopes"][-1] == "acme-aud"
    assert run.exports["audience_scope"] == "acme-aud"


@pytest.mark.parametrize("key,value", [
    ("netbird:domain", "https://netbird.example.com"),
    ("netbird:realm", "net bird"),
    ("keycloak:adminUser", "admin"),
])
def test_bad_settings_stop_before_any_resource(key, value):
    run = run_program(dict(BASE, **{key: value}), SECRETS)
    assert run.error is not None and key in str(run.error)
    assert run.mocks.resources == []


def test_plain_text_secret_stops_before_any_resource():
    run = run_program(BASE, ["keycloak:adminPassword"])  # userPassword stored in plain text
    assert run.error is not None
    assert "pulumi config set --secret netbird:userPassword" in str(run.error)
    assert "Ab9-Zx8-Cv7-Qw6" not in str(run.error)
    assert run.mocks.resources == []


def test_connector_mode_makes_one_confidential_client_and_no_setup_env_objects():
    redirect = "https://netbird.example.com/oauth2/callback"
    run = deploy(**{"netbird:integration": "connector", "netbird:connectorRedirectUrl": redirect})
    clients = [c for c in run.mocks.by_type(CLIENT) if c.inputs["realmId"] != "master"]
    assert [c.inputs["clientId"] for c in clients] == ["netbird"]
    c = clients[0].inputs
    assert c["accessType"] == "CONFIDENTIAL" and c["standardFlowEnabled"] is True
    assert c["validRedirectUris"] == [redirect]
    assert c["validPostLogoutRedirectUris"] == ["https://netbird.example.com/oauth2/logout/callback"]
    for typ in (SCOPE, MAPPER, DEFAULT_SCOPES, SA_ROLE):
        assert run.mocks.by_type(typ) == []
    assert run.mocks.one(REALM) and run.mocks.one("keycloak:index/user:User")
    assert run.exports["connector_client_id"] == "netbird"
    assert run.exports["connector_redirect_url"] == redirect
    assert "backend_client_secret" not in run.exports
    assert run.secret_exports == {"connector_client_secret", "user_password"}


PRODUCTION = {"keycloak:mode": "production", "keycloak:url": "https://auth.example.com",
              "keycloak:database": "postgres", "keycloak:databasePassword": "Db4-Kq8-Wm2-Lp5"}
SECRETS_PG = SECRETS + ["keycloak:databasePassword"]


def production(**extra):
    run = run_program(dict(BASE, **PRODUCTION, **extra), SECRETS_PG)
    assert run.error is None, run.error
    return run


def test_production_mode_runs_keycloak_start_for_its_public_url():
    run = production(**{"keycloak:adminUrl": "https://auth-admin.internal.example.com"})
    command = run.mocks.one(CONTAINER, "keycloak-container").inputs["command"]
    assert command[1] == "start" and "--optimized" not in command
    for flag in ("--hostname=https://auth.example.com", "--http-enabled=true",
                 "--proxy-headers=xforwarded", "--proxy-trusted-addresses=172.16.0.0/12",
                 "--health-enabled=true", "--metrics-enabled=true",
                 "--hostname-admin=https://auth-admin.internal.example.com"):
        assert flag in command
    # Pulumi still talks to the container directly; the issuer is the public URL.
    assert run.mocks.one("pulumi:providers:keycloak").inputs["url"] == "http://127.0.0.1:8080"
    assert run.exports["issuer_url"] == "https://auth.example.com/realms/netbird"


def test_postgres_mode_keeps_the_data_in_its_own_container_and_volume():
    run = production()
    postgres = run.mocks.one(CONTAINER, "keycloak-postgres-container").inputs
    keycloak = run.mocks.one(CONTAINER, "keycloak-container").inputs
    network = run.mocks.one("docker:index/network:Network").inputs
    assert network["name"] == "keycloak-dev-net"
    assert postgres["networkMode"] == keycloak["networkMode"] == "keycloak-dev-net"
    assert postgres["name"] == "keycloak-dev-postgres"
    assert postgres["volumes"] == [{"containerPath": "/var/lib/postgresql/data",
                                    "volumeName": "keycloak-dev-postgres-data"}]
    assert postgres["wait"] is True and "pg_isready" in postgres["healthcheck"]["tests"]
    # The password reaches Postgres in a file of its own, not in its environment.
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password" in postgres["envs"]
    assert not [line for line in postgres["envs"] if "Db4-Kq8-Wm2-Lp5" in line]
    assert is_secret_input(postgres["uploads"])
    [upload] = reveal(postgres["uploads"])
    assert upload["file"] == "/run/secrets/postgres-password" and upload["permissions"] == "0600"
    assert upload["content"] == "Db4-Kq8-Wm2-Lp5"
    # Keycloak keeps nothing of its own on disk any more: no dev-file volume.
    assert keycloak["volumes"] == []
    assert sorted(v.inputs["name"] for v in run.mocks.by_type("docker:index/volume:Volume")) == [
        "keycloak-dev-postgres-data", "keycloak-dev-secrets"]
    for line in ("KC_DB=postgres", "KC_DB_USERNAME=keycloak"):
        assert line in keycloak["envs"]
    assert not [line for line in keycloak["envs"] if "Db4-Kq8-Wm2-Lp5" in line]
    assert secrets_file(keycloak) == {
        "bootstrap-admin-client-secret": "Xk3-vq9-Lm2-Pz7",
        "db-url": "jdbc:postgresql://keycloak-dev-postgres:5432/keycloak",
        "db-password": "Db4-Kq8-Wm2-Lp5"}


def test_postgres_with_host_networking_listens_on_loopback_only():
    run = production(**{"keycloak:networkMode": "host", "keycloak:databasePort": "15432"})
    postgres = run.mocks.one(CONTAINER, "keycloak-postgres-container").inputs
    assert postgres["networkMode"] == "host"
    assert postgres["command"] == ["postgres", "-p", "15432", "-c", "listen_addresses=127.0.0.1"]
    assert run.mocks.by_type("docker:index/network:Network") == []
    keycloak = run.mocks.one(CONTAINER, "keycloak-container").inputs
    assert secrets_file(keycloak)["db-url"] == "jdbc:postgresql://127.0.0.1:15432/keycloak"


def test_optimized_image_starts_without_build_options():
    run = production(**{"keycloak:optimized": "true",
                        "keycloak:image": "netbird-keycloak/keycloak:26.7.3-postgres-optimized"})
    keycloak = run.mocks.one(CONTAINER, "keycloak-container").inputs
    assert keycloak["command"][1:3] == ["start", "--optimized"]
    # Options fixed by `kc.sh build` are not repeated: Keycloak refuses a different value.
    assert not [f for f in keycloak["command"] if f.startswith(("--health", "--metrics", "--db"))]
    assert not [line for line in keycloak["envs"] if line.startswith(("KC_DB=", "KC_HEALTH"))]
    assert secrets_file(keycloak)["db-url"] == \
        "jdbc:postgresql://keycloak-dev-postgres:5432/keycloak"




DYNAMIC = "pulumi-python:dynamic:Resource"
STASH = "pulumi:index:Stash"


def test_the_service_account_hand_off_runs_before_any_keycloak_resource(dev):
    account = dev.mocks.one(DYNAMIC, "pulumi-service-account").inputs
    assert account["client_id"] == "netbird-keycloak-admin"
    assert account["url"] == "http://127.0.0.1:8080"
    assert reveal(account["client_secret"]) == BASE["keycloak:adminClientSecret"]
    assert reveal(account["bootstrap_secret"]) == BASE["keycloak:adminPassword"]
    assert account["owner"] == "netbird-keycloak/dev"
    assert account["data"] == "keycloak-dev-data"
    # The provider's secret is the hand-off's output: no Keycloak resource logs in before it.
    provider = dev.mocks.one("pulumi:providers:keycloak").inputs
    assert reveal(provider["clientSecret"]) == BASE["keycloak:adminClientSecret"]
    assert dev.mocks.by_type("keycloak:openid/clientServiceAccountRealmRole:"
                             "ClientServiceAccountRealmRole") == []


def test_a_stack_file_without_secrets_deploys_with_generated_ones():
    run = run_program({"netbird:domain": "netbird.example.com"}, [])
    assert run.error is None, run.error
    stashes = {r.name: r.inputs for r in run.mocks.by_type(STASH)}
    assert set(stashes) == {"admin-client-secret", "bootstrap-secret", "user-password"}
    values = [reveal(inputs["input"]) for inputs in stashes.values()]
    assert all(is_secret_input(inputs["input"]) for inputs in stashes.values())
    assert len(set(values)) == 3 and all(len(v) == 32 for v in values)
    user = run.mocks.one("keycloak:index/user:User").inputs
    assert reveal(user["initialPassword"])["value"] == reveal(stashes["user-password"]["input"])
    assert run.exports["user_password"] == reveal(stashes["user-password"]["input"])
    bootstrap = reveal(stashes["bootstrap-secret"]["input"])
    assert secrets_file(run.mocks.one(CONTAINER, KEYCLOAK).inputs) == {
        "bootstrap-admin-client-secret": bootstrap}


def test_a_chosen_secret_wins_and_its_stash_follows_it(dev):
    stash = dev.mocks.one(STASH, "admin-client-secret").inputs
    assert reveal(stash["input"]) == BASE["keycloak:adminClientSecret"]


EXISTING = {"netbird:domain": "netbird.example.com", "keycloak:deploy": "false",
            "keycloak:url": "https://auth.example.com", "keycloak:adminPassword": "Xk3-vq9-Lm2-Pz7"}


def recorded_state(*names: str) -> list[dict]:
    """A state recording `names`; with the user, every Keycloak object an `up` made (a state
    lacking some would make the program adopt, which mocks cannot run)."""
    if "netbird-user" in names:
        names += tuple(d.resource for d in wiring.adoptable(parse_settings(
        {k: RawValue(v, k.endswith("Password")) for k, v in EXISTING.items()}, "dev")))
    return [{"urn": f"urn:pulumi:dev::netbird-keycloak::t::{name}", "id": f"{name}-id",
             "custom": True} for name in names]


def test_an_existing_keycloak_keeps_only_the_user_password():
    run = run_program(EXISTING, ["keycloak:adminPassword"])
    assert run.error is None, run.error
    assert [r.name for r in run.mocks.by_type(STASH)] == ["user-password"]
    # No hand-off; the user is created with the generated password, which nothing changes
    # until a rotation: no resource of the SDK's dynamic provider (no Python process for it).
    assert run.mocks.by_type(DYNAMIC) == []
    provider = run.mocks.one("pulumi:providers:keycloak").inputs
    assert (provider["clientId"], provider["username"]) == ("admin-cli", "kcadmin")


@pytest.mark.parametrize("extra,recorded,registered,set_on_create", [
    # a new stack: the user is created with the password
    ({}, [], False, None),
    ({"netbird:userPassword": "Ab9-Zx8-Cv7-Qw6"}, [], True, False),
    # a user created by an earlier run: a rotation stamp makes the password change
    ({}, ["netbird-user"], False, None),
    ({"netbird:userPasswordRotated": "2026-12-02T03:00:00Z"}, ["netbird-user"], True, True),
    ({"netbird:userPassword": "Ab9-Zx8-Cv7-Qw6"}, ["netbird-user"], True, True),
    # recorded once (an older stack, or rotated before): kept, never a delete in a preview
    ({}, ["netbird-user", "netbird-user-password"], True, True),
])
def test_the_password_resource_exists_where_the_password_can_change(extra, recorded, registered,
                                                                   set_on_create):
    secret = ["keycloak:adminPassword"] + (["netbird:userPassword"] if extra.get(
        "netbird:userPassword") else [])
    run = run_program({**EXISTING, **extra}, secret, recorded=recorded_state(*recorded))
    assert run.error is None, run.error
    found = run.mocks.by_type(DYNAMIC)
    assert [r.name for r in found] == (["netbird-user-password"] if registered else [])
    if registered:
        inputs = found[0].inputs
        assert inputs["set_on_create"] is set_on_create
        assert reveal(inputs["password"]) == run.exports["user_password"]
        # It logs in as Pulumi does.
        assert reveal(inputs["login"]) == {"user": "kcadmin", "password": "Xk3-vq9-Lm2-Pz7"}


@pytest.mark.parametrize("granted_in,looked_up", [("netbird", False), ("netbird-old", True)])
def test_realm_management_is_looked_up_only_where_the_state_lacks_it(granted_in, looked_up):
    # A preview without changes then makes no call to Keycloak at all; a renamed realm has a
    # realm-management client of its own, so its id is looked up again.
    state = recorded_state("netbird-user") + [{
        "urn": "urn:pulumi:dev::netbird-keycloak::t::netbird-backend-view-users", "id": "grant",
        "custom": True, "inputs": {"realmId": granted_in, "clientId": "recorded-uuid"}}]
    run = run_program(EXISTING, ["keycloak:adminPassword"], recorded=state)
    assert run.error is None, run.error
    role = run.mocks.one(SA_ROLE).inputs
    assert role["clientId"] == ("realm-management-uuid" if looked_up else "recorded-uuid")
    assert [args for _, args, _ in run.mocks.calls] == \
        ([{"realmId": "netbird", "clientId": "realm-management"}] if looked_up else [])


def test_realm_is_hardened(dev):
    realm = dev.mocks.one(REALM).inputs
    assert realm["sslRequired"] == "external"
    assert realm["passwordPolicy"] == \
        "length(12) and notUsername(undefined) and passwordHistory(3)"
    brute = realm["securityDefenses"]["bruteForceDetection"]
    assert (brute["maxLoginFailures"], brute["waitIncrementSeconds"],
            brute["maxFailureWaitSeconds"], brute["permanentLockout"]) == (5, 60, 900, False)
    # Keycloak's own defaults, now explicit, in the form pulumi-keycloak reads back.
    assert (realm["accessTokenLifespan"], realm["ssoSessionIdleTimeout"],
            realm["ssoSessionMaxLifespan"], realm["offlineSessionIdleTimeout"]) == (
        "5m0s", "30m0s", "10h0m0s", "720h0m0s")
    events = dev.mocks.one("keycloak:index/realmEvents:RealmEvents").inputs
    assert events["eventsEnabled"] is True and events["adminEventsEnabled"] is True
    assert events["eventsExpiration"] == 30 * 86400


@pytest.mark.parametrize("seconds,written", [(45, "45s"), (60, "1m0s"), (300, "5m0s"),
                                             (3661, "1h1m1s"), (36000, "10h0m0s"),
                                             (2592000, "720h0m0s")])
def test_lifetimes_are_written_as_go_durations(seconds, written):
    from components.netbird_realm import go_duration
    assert go_duration(seconds) == written


@pytest.mark.parametrize("value", ["a${b}c", "c$d", "p\\q", "#!=: ok", "end\\", "x\\${y}"])
def test_a_secret_reaches_keycloaks_config_file_unchanged(value):
    # Each escape was checked against Keycloak 26.7.3's own reading (`kc.sh --config-file F
    # show-config`): unescaped, `${b}` is expanded to nothing and `\\` is halved.
    from components.keycloak_server import keycloak_conf
    written = {"a${b}c": "a\\\\${b}c", "c$d": "c\\\\$d", "p\\q": "p\\\\q", "#!=: ok": "#!=: ok",
               "end\\": "end\\\\", "x\\${y}": "x\\\\\\\\${y}"}[value]
    assert keycloak_conf({"db-password": value}) == f"db-password={written}\n"


def test_a_rotation_stamp_replaces_a_generated_secret_only(monkeypatch):
    triggers = {}

    class Recorded(pulumi.Stash):  # the mocks see inputs, not options
        def __init__(self, name, input, opts=None):  # noqa: A002 - pulumi.Stash's name
            triggers[name] = opts.replacement_trigger
            super().__init__(name, input=input, opts=opts)
    monkeypatch.setattr(pulumi, "Stash", Recorded)
    stamp = {"keycloak:adminClientSecretRotated": "2026-12-02T03:00:00Z",
             "netbird:userPasswordRotated": "2026-12-02T03:00:01Z"}
    run = run_program({"netbird:domain": "netbird.example.com", **stamp}, [])
    assert run.error is None, run.error
    assert triggers == {"admin-client-secret": "2026-12-02T03:00:00Z",
                        "user-password": "2026-12-02T03:00:01Z", "bootstrap-secret": None}
    triggers.clear()
    assert run_program({"netbird:domain": "netbird.example.com"}, []).error is None
    # Set before any rotation: the engine replaces on a changed trigger, not on a first one.
    assert triggers == {"admin-client-secret": "never rotated", "user-password": "never rotated",
                        "bootstrap-secret": None}
    # The new user password reaches Keycloak through the program, logged in as Pulumi.
    password = run.mocks.one(DYNAMIC, "netbird-user-password").inputs
    assert reveal(password["password"]) == run.exports["user_password"]
    assert reveal(password["login"])["client_id"] == "netbird-keycloak-admin"


def test_connector_mode_with_netbirds_url_registers_keycloak_in_netbird():
    run = run_program({"netbird:domain": "netbird.example.com", "netbird:integration": "connector",
                       "netbird:managementUrl": "https://netbird.example.com",
                       "netbird:apiToken": "nbp_0123456789abcdefghij"}, ["netbird:apiToken"])
    assert run.error is None, run.error
    entry = run.mocks.one(DYNAMIC, "netbird-identity-provider").inputs
    assert entry["management_url"] == "https://netbird.example.com"
    assert entry["issuer"] == "http://localhost:8080/realms/netbird"
    assert entry["name"] == "Keycloak"
    assert reveal(entry["api_token"]) == "nbp_0123456789abcdefghij"
    assert is_secret_input(entry["api_token"]) and is_secret_input(entry["client_secret"])
    client = run.mocks.one("keycloak:openid/client:Client").inputs
    assert client["validRedirectUris"] == ["https://netbird.example.com/oauth2/callback"]


@pytest.mark.parametrize("integration,client", [("setup-env", "netbird-client"),
                                                ("connector", "netbird-connector-client")])
def test_groups_reach_tokens_as_names_through_a_default_scope(integration, client):
    config = {"netbird:domain": "netbird.example.com", "netbird:integration": integration,
              "netbird:groups": '["ops", "dev"]', "netbird:userGroups": '["ops"]'}
    if integration == "connector":
        config["netbird:connectorRedirectUrl"] = "https://netbird.example.com/oauth2/callback"
    run = run_program(config, [])
    assert run.error is None, run.error
    groups = {r.name: r.inputs["name"] for r in run.mocks.by_type("keycloak:index/group:Group")}
    assert groups == {"netbird-groups-ops": "ops", "netbird-groups-dev": "dev"}
    member = run.mocks.one("keycloak:index/userGroups:UserGroups").inputs
    assert member["groupIds"] == ["netbird-groups-ops-id"] and member["exhaustive"] is True
    mapper = run.mocks.one("keycloak:openid/groupMembershipProtocolMapper:"
                           "GroupMembershipProtocolMapper").inputs
    assert (mapper["claimName"], mapper["fullPath"]) == ("groups", False)
    assert mapper["addToIdToken"] and mapper["addToAccessToken"]
    scopes = [r for r in run.mocks.by_type("keycloak:openid/clientDefaultScopes:ClientDefaultScopes")
              if r.name == f"{client}-default-scopes"]
    assert len(scopes) == 1 and "groups" in scopes[0].inputs["defaultScopes"]
    assert "basic" in scopes[0].inputs["defaultScopes"]
    assert run.exports["groups_claim"] == "groups"


def test_netbirds_jwt_group_sync_is_turned_on_for_the_groups_claim():
    run = run_program({"netbird:domain": "netbird.example.com", "netbird:integration": "connector",
                       "netbird:managementUrl": "https://netbird.example.com",
                       "netbird:apiToken": "nbp_0123456789abcdefghij",
                       "netbird:groups": '["ops"]', "netbird:groupsClaim": "roles_groups"},
                      ["netbird:apiToken"])
    assert run.error is None, run.error
    sync = run.mocks.one(DYNAMIC, "netbird-group-sync").inputs
    assert sync["claim"] == "roles_groups" and is_secret_input(sync["api_token"])
