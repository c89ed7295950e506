"""setup.env rendering: pure function, golden files, and bash reading every byte back."""

import os
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.setup_env import (SetupEnvError, bash_quote, render_setup_env,
                                  setup_env_values, write_private)

GOLDEN = Path(__file__).parent / "golden"
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
OUTPUTS = {
    "netbird_domain": "netbird.example.com",
    "oidc_configuration_endpoint":
        "https://auth.example.com/realms/netbird/.well-known/openid-configuration",
    "client_id": "netbird-client",
    "audience": "netbird-client",
    "audience_scope": "netbird-client-audience",
    "pkce_redirect_ports": [53000],
    "backend_client_id": "netbird-backend",
    "backend_client_secret": "s3cr3t-Value-0123456789abcdef",
    "admin_endpoint": "https://auth.example.com/admin/realms/netbird",
    "letsencrypt_email": None,
    "disable_letsencrypt": None,
}
HOSTILE = "a$b`c\"d'e\\f!g $(touch /tmp/pwned) ${HOME} 'quoted' \\\"\t end"


def bash_source(text: str, keys) -> dict:
    """What NetBird's configure.sh would see after `source setup.env`."""
    script = "set -eu\nsource /dev/stdin <<'NETBIRD_EOF'\n" + text + "NETBIRD_EOF\n" + "".join(
        f'printf "%s\\0" "${{{k}}}"\n' for k in keys)
    result = subprocess.run(["bash", "-c", script], capture_output=True, check=True)
    return dict(zip(keys, result.stdout.decode().split("\0")[:-1]))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; UPDATE_GOLDEN=1 rewrites it after review"


def test_default_stack_matches_golden():
    check_golden("setup.env.default", render_setup_env(OUTPUTS, "dev", WHEN))


def test_hostile_secret_and_letsencrypt_match_golden():
    outputs = dict(OUTPUTS, backend_client_secret=HOSTILE, pkce_redirect_ports=[53000, 54000],
                   letsencrypt_email="ops@example.com", disable_letsencrypt=True)
    check_golden("setup.env.hostile", render_setup_env(outputs, "acme", WHEN))


def test_values_follow_netbird_keycloak_guide():
    values = setup_env_values(OUTPUTS)
    assert values["NETBIRD_AUTH_SUPPORTED_SCOPES"] == \
        "openid profile email offline_access netbird-client-audience"
    assert values["NETBIRD_USE_AUTH0"] == "false"
    assert values["NETBIRD_MGMT_IDP"] == "keycloak"
    assert values["NETBIRD_TOKEN_SOURCE"] == "accessToken"
    assert values["NETBIRD_AUTH_DEVICE_AUTH_CLIENT_ID"] == "netbird-client"
    assert values["NETBIRD_AUTH_DEVICE_AUTH_AUDIENCE"] == "netbird-client"
    assert values["NETBIRD_AUTH_PKCE_REDIRECT_URL_PORTS"] == "53000"
    assert not values["NETBIRD_IDP_MGMT_EXTRA_ADMIN_ENDPOINT"].endswith("/")
    assert "NETBIRD_LETSENCRYPT_EMAIL" not in values
    assert "NETBIRD_AUTH_CLIENT_SECRET" not in values  # netbird-client is public


def test_admin_endpoint_trailing_slash_is_trimmed():
    values = setup_env_values(dict(OUTPUTS, admin_endpoint=OUTPUTS["admin_endpoint"] + "/"))
    assert values["NETBIRD_IDP_MGMT_EXTRA_ADMIN_ENDPOINT"].endswith("/admin/realms/netbird")


def test_file_is_a_bash_fragment_without_export():
    text = render_setup_env(OUTPUTS, "dev", WHEN)
    for line in text.splitlines():
        assert line.startswith("#") or (line.startswith("NETBIRD_") and "=" in line)
        assert not line.startswith("export")


@pytest.mark.parametrize("secret", [
    HOSTILE, "plain", " ", "'", "''", "\\", "$", "`id`", "a'b\"c", "ünïcödé ✓", "x" * 4096,
    "-n", "*", "~root", "#notacomment", "a b\tc",
])
def test_bash_reads_back_every_byte(secret):
    outputs = dict(OUTPUTS, backend_client_secret=secret, netbird_domain="netbird.example.com")
    text = render_setup_env(outputs, "dev", WHEN)
    values = setup_env_values(outputs)
    assert bash_source(text, list(values)) == values


@pytest.mark.parametrize("bad", ["line\nbreak", "carriage\rreturn", "nul\x00byte"])
def test_values_bash_cannot_carry_are_refused(bad):
    with pytest.raises(SetupEnvError, match="NETBIRD_IDP_MGMT_CLIENT_SECRET"):
        render_setup_env(dict(OUTPUTS, backend_client_secret=bad), "dev", WHEN)


def test_missing_outputs_name_the_fix():
    with pytest.raises(SetupEnvError, match="backend_client_secret.*make up"):
        setup_env_values({k: v for k, v in OUTPUTS.items() if k != "backend_client_secret"})


def test_quote_uses_double_quotes_for_plain_values():
    assert bash_quote("K", "netbird-client") == '"netbird-client"'
    assert bash_quote("K", "a'b$") == "'a'\\''b$'"


def test_write_private_is_0600_and_atomic(tmp_path):
    target = tmp_path / "out" / "dev" / "setup.env"
    write_private(target, "A=1\n")
    write_private(target, "A=2\n")
    assert target.read_text() == "A=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["setup.env"]  # no temp file left


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\n\r\x00",
                                      blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_property_whatever_is_accepted_bash_reads_back(secret):
    outputs = dict(OUTPUTS, backend_client_secret=secret)
    text = render_setup_env(outputs, "dev", WHEN)
    assert bash_source(text, ["NETBIRD_IDP_MGMT_CLIENT_SECRET"]) == {
        "NETBIRD_IDP_MGMT_CLIENT_SECRET": secret}


def test_connector_json_holds_what_netbirds_dashboard_asks_for():
    from components.connector_json import render_connector_json
    text = render_connector_json({
        "issuer_url": "https://auth.example.com/realms/netbird", "connector_client_id": "netbird",
        "connector_client_secret": "s3cret", "connector_redirect_url":
            "https://netbird.example.com/oauth2/callback"}, "acme")
    import json
    assert json.loads(text) == {
        "stack": "acme", "type": "keycloak", "name": "Keycloak",
        "issuer": "https://auth.example.com/realms/netbird", "clientId": "netbird",
        "clientSecret": "s3cret", "redirectUrl": "https://netbird.example.com/oauth2/callback"}
    with pytest.raises(ValueError, match="connector_client_secret"):
        render_connector_json({"issuer_url": "x"}, "acme")
