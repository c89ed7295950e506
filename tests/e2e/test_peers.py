"""The peers of `make bench-peers` do the same work as the program: bench/peers/netbird.tf
applied by a real OpenTofu with the real terraform-provider-keycloak, and the realm-import
floor, each pass the same NetBird checks as `make verify` against a native Keycloak."""

from __future__ import annotations

import secrets

import pytest

from bench import peer_tools
from tests.e2e import harness

DOMAIN = "netbird.peers.test"


@pytest.fixture(scope="module")
def keycloak(native_keycloak):
    return native_keycloak.wait_ready()


def test_tofu_made_realm_passes_netbirds_checks(keycloak, tmp_path):
    problems = peer_tools.missing()
    assert not problems, problems  # a peer that cannot run fails the test, with the cause
    tofu = peer_tools.Tofu(tmp_path / "tofu", keycloak, DOMAIN)
    tofu.apply("e2e", realm="tofu-e2e")
    try:
        outputs = tofu.outputs("e2e")
        checks = harness.verify.run_checks(outputs, tofu.user_password)
        assert [c.ok for c in checks] == [True] * 4, [c.line() for c in checks]
        tofu.plan("e2e", realm="tofu-e2e")  # a second plan finds nothing to do
    finally:
        tofu.destroy("e2e", realm="tofu-e2e")
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    assert admin("GET", "/tofu-e2e")[0] == 404


def test_tofu_with_encrypted_state_keeps_no_secret_in_plain_text(keycloak, tmp_path):
    """The peer given this program's guarantee (secrets encrypted in the state) does the same
    work, and its state file holds none of the realm's secrets in plain text."""
    tofu = peer_tools.Tofu(tmp_path / "tofu", keycloak, DOMAIN, encrypted=True)
    tofu.apply("enc", realm="tofu-enc")
    try:
        outputs = tofu.outputs("enc")
        checks = harness.verify.run_checks(outputs, tofu.user_password)
        assert [c.ok for c in checks] == [True] * 4, [c.line() for c in checks]
        tofu.plan("enc", realm="tofu-enc")
        state = (tmp_path / "tofu" / "terraform.tfstate.d" / "enc" / "terraform.tfstate")
        text = state.read_text()
        assert "tofu-enc" not in text and outputs["backend_client_secret"] not in text
        assert tofu.user_password not in text and '"encryption_version"' in text
    finally:
        tofu.destroy("enc", realm="tofu-enc")


def test_realm_import_floor_passes_netbirds_checks(keycloak):
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    password = secrets.token_urlsafe(18)
    peer_tools.import_realm(admin, peer_tools.realm_import_template(admin), "import-e2e",
                            DOMAIN, password)
    try:
        backend, = admin.get("/import-e2e/clients?clientId=netbird-backend")
        secret = admin.get(f"/import-e2e/clients/{backend['id']}/client-secret")["value"]
        urls = harness.endpoints(keycloak.url, "import-e2e")
        outputs = {"issuer_url": urls.issuer, "oidc_configuration_endpoint":
                   urls.oidc_configuration, "admin_endpoint": urls.admin,
                   "client_id": "netbird-client", "audience": "netbird-client",
                   "audience_scope": "netbird-client-audience", "user_name": "netbird",
                   "backend_client_id": "netbird-backend", "backend_client_secret": secret}
        checks = harness.verify.run_checks(outputs, password)
        assert [c.ok for c in checks] == [True] * 4, [c.line() for c in checks]
        # The built-in scopes came through: tokens still carry `sub` (checked above) and the
        # realm has every scope a new realm has.
        names = {s["name"] for s in admin.get("/import-e2e/client-scopes")}
        assert set(peer_tools.BUILTIN_DEFAULT_SCOPES) <= names
    finally:
        admin("DELETE", "/import-e2e")
