"""The other ways to run it: NetBird's embedded-IdP connector mode (against the native Keycloak)
and Keycloak's production mode (optimized image, Postgres, own Docker network), end to end."""

from __future__ import annotations

import json
import stat
import subprocess
import urllib.parse

import pytest

from tests.e2e import harness

REDIRECT = "https://netbird.connector.test/oauth2/callback"


@pytest.fixture(scope="module")
def connector(project, native_keycloak, tmp_path_factory):
    keycloak = native_keycloak.wait_ready()
    stack = project.on_keycloak("connector", keycloak, {
        "netbird:integration": "connector", "netbird:connectorRedirectUrl": REDIRECT})
    up = stack.up(color="never", policy_packs=harness.stack_driver.POLICY_PACKS)
    out = tmp_path_factory.mktemp("connector-out")
    yield stack, up, out
    stack.destroy(color="never")


def test_connector_file_holds_issuer_client_and_secret(connector):
    stack, up, out = connector
    # realm, its events, user, connector client, the user-password stash, the provider, 4
    # components and the stack (no resource for the password until it changes)
    assert harness.changes(up) == {"create": 11}
    path = harness.stack_driver.write_env(stack, out)
    assert path.name == "netbird-connector.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["issuer"].endswith("/realms/connector-netbird")
    assert (doc["clientId"], doc["redirectUrl"]) == ("netbird", REDIRECT)
    # The secret is the client's real one: Keycloak answers "not allowed" rather than "who?".
    status, body = harness.http("POST", f"{doc['issuer']}/protocol/openid-connect/token", form={
        "grant_type": "client_credentials", "client_id": "netbird",
        "client_secret": doc["clientSecret"]})
    right = body
    status, body = harness.http("POST", f"{doc['issuer']}/protocol/openid-connect/token", form={
        "grant_type": "client_credentials", "client_id": "netbird", "client_secret": "wrong"})
    wrong = body
    # Keycloak 26.7 answers both with unauthorized_client; only a wrong secret is "invalid".
    assert "Invalid client credentials" in wrong["error_description"], wrong
    assert "Invalid client credentials" not in right.get("error_description", ""), right


def test_authorization_code_flow_reaches_the_login_page(connector):
    stack, _, out = connector
    issuer = {k: v.value for k, v in stack.outputs().items()}["issuer_url"]

    def authorize(redirect):
        query = urllib.parse.urlencode({"client_id": "netbird", "response_type": "code",
                                        "scope": "openid", "redirect_uri": redirect,
                                        "state": "e2e"})
        return harness.http("GET", f"{issuer}/protocol/openid-connect/auth?{query}")

    status, page = authorize(REDIRECT)
    assert status == 200 and 'id="kc-form-login"' in page
    status, page = authorize("https://attacker.example.com/oauth2/callback")
    assert status == 400 and "Invalid parameter: redirect_uri" in page


@pytest.fixture(scope="module")
def production(project):
    """Production mode as a NetBird server runs it: `start --optimized` on the image built for
    Postgres, Keycloak and Postgres on their own Docker network, only the HTTP port published."""
    stack = project.stack("prod", {
        "netbird:domain": "netbird.prod.test", "netbird:protectRealm": "false",
        "keycloak:mode": "production", "keycloak:url": "https://auth.prod.test",
        "keycloak:image": harness.OPTIMIZED_IMAGE, "keycloak:optimized": "true",
        "keycloak:database": "postgres", "keycloak:postgresImage": harness.POSTGRES_IMAGE,
        "keycloak:httpPort": "28180", "keycloak:managementPort": "29100",
        "keycloak:containerName": "keycloak-e2e-prod",
        "keycloak:databaseVolumeName": "keycloak-e2e-prod-pgdata",
    })
    try:
        up = stack.up(color="never")
        yield stack, up
    finally:
        stack.destroy(color="never")
        subprocess.run(["docker", "volume", "rm", "-f", "keycloak-e2e-prod-pgdata"],
                       capture_output=True)


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def _internal(outputs: dict) -> dict:
    """The outputs as seen from this machine: Keycloak's published port, not the public URL."""
    return {**outputs, "issuer_url": outputs["issuer_url"].replace(
        "https://auth.prod.test", "http://127.0.0.1:28180")}


def test_production_mode_serves_the_public_issuer(production):
    stack, up = production
    assert harness.changes(up)["create"] > 0
    outputs = {k: v.value for k, v in stack.outputs().items()}
    assert outputs["issuer_url"] == "https://auth.prod.test/realms/netbird"
    # Asked on the internal side, Keycloak still names its public URL as the issuer.
    status, doc = harness.http(
        "GET", "http://127.0.0.1:28180/realms/netbird/.well-known/openid-configuration")
    assert status == 200 and doc["issuer"] == outputs["issuer_url"]
    assert doc["token_endpoint"].startswith("https://auth.prod.test/")
    assert json.loads(_docker("inspect", "-f", "{{json .Config.Cmd}}", "keycloak-e2e-prod"))[1:3] \
        == ["start", "--optimized"]
    # Health and metrics answer on the management port, which is not published.
    ip = _docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                 "keycloak-e2e-prod")
    assert harness.http("GET", f"http://{ip}:29100/health/ready")[0] == 200
    assert harness.http("GET", f"http://{ip}:29100/metrics")[0] == 200
    assert list(json.loads(_docker("inspect", "-f", "{{json .NetworkSettings.Ports}}",
                                   "keycloak-e2e-prod"))) == ["28180/tcp"]


def test_postgres_mode_passes_the_token_audience_test(production):
    stack, _ = production
    outputs = _internal({k: v.value for k, v in stack.outputs().items()})
    status, body = harness.user_token(outputs, harness.secret(stack, "netbird:userPassword"))
    assert status == 200, body
    claims = harness.verify.jwt_claims(body["access_token"])
    assert "netbird-client" in claims["aud"] and claims["sub"] and claims["azp"] == "netbird-client"
    # The realm lives in Postgres, not in the Keycloak container (which has no volume at all).
    assert _docker("inspect", "-f", "{{len .Mounts}}", "keycloak-e2e-prod") == "0"
    realms = _docker("exec", "keycloak-e2e-prod-postgres", "psql", "-At", "-U", "keycloak",
                     "-d", "keycloak", "-c", "select name from realm order by name")
    assert realms.split() == ["master", "netbird"]


def test_database_password_is_never_in_plain_text(production, pulumi_session, project):
    stack, _ = production
    password = harness.secret(stack, "keycloak:databasePassword")
    assert len(password) >= 24
    places = {str(p): p.read_text(errors="replace")
              for p in pulumi_session.rglob("*") if p.is_file()}
    places.update({str(p): p.read_text() for p in (project.path / "stacks").glob("*.yaml")})
    assert len(places) > 3 and not [where for where, text in places.items() if password in text]
    # Keycloak and Postgres have it (as they must) in a file each, not in what `docker inspect`
    # shows to anyone allowed to list containers.
    for container in ("keycloak-e2e-prod", "keycloak-e2e-prod-postgres"):
        assert password not in _docker("inspect", container)
    assert f"db-password={password}" in _docker("exec", "keycloak-e2e-prod", "cat",
                                                 "/run/secrets/keycloak.conf").splitlines()


def test_replaced_keycloak_container_keeps_users_and_secrets_in_postgres(production):
    stack, _ = production
    before = {k: v.value for k, v in stack.outputs().items()}
    old_id = _docker("inspect", "-f", "{{.Id}}", "keycloak-e2e-prod")
    stack.set_config("keycloak:memoryMb", harness.stack_driver.auto.ConfigValue("1536"))
    result = stack.up(color="never")
    assert harness.changes(result) == {"replace": 1}  # the Keycloak container only
    assert _docker("inspect", "-f", "{{.Id}}", "keycloak-e2e-prod") != old_id
    after = {k: v.value for k, v in stack.outputs().items()}
    assert after["backend_client_secret"] == before["backend_client_secret"]
    status, body = harness.user_token(_internal(after),
                                      harness.secret(stack, "netbird:userPassword"))
    assert status == 200, body


def test_switching_the_database_is_refused_before_anything_changes(production, project):
    stack, _ = production
    container = _docker("inspect", "-f", "{{.Id}}", "keycloak-e2e-prod")
    # Back to a dev Keycloak on its dev-file database: valid settings, refused by the program.
    switch = {"keycloak:database": ("dev-file", "postgres"), "keycloak:mode": ("dev", "production"),
              "keycloak:optimized": ("false", "true")}
    for key, (new, _) in switch.items():
        stack.set_config(key, harness.stack_driver.auto.ConfigValue(new))
    try:
        code, out = harness.run_script("up", project=project,
                                       stack=stack.name)
        # What a pull request with that change would show.
        preview_code, preview_out = harness.run_script("preview-md", project=project,
                                                       stack=stack.name)
    finally:
        for key, (_, old) in switch.items():
            stack.set_config(key, harness.stack_driver.auto.ConfigValue(old))
    assert code == 1
    assert "keycloak:database changes from postgres to dev-file" in out
    assert "keycloak:confirmDatabaseSwitch true" in out
    assert preview_code == 1 and "from postgres to dev-file" in preview_out
    assert _docker("inspect", "-f", "{{.Id}}", "keycloak-e2e-prod") == container


def test_destroy_keeps_the_postgres_volume(production):
    stack, _ = production
    stack.destroy(color="never")
    assert "keycloak-e2e-prod-postgres" not in _docker("ps", "-a", "--format", "{{.Names}}")
    assert "keycloak-e2e-prod-pgdata" in _docker("volume", "ls", "--format", "{{.Name}}").split()
