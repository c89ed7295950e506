"""Settings validation: pure, no Pulumi. Every bad value is refused with its key and the fix."""

from pathlib import Path

import pytest
import yaml

from components.settings import DEFAULT_KEYCLOAK_IMAGE, RawValue, SettingsError, parse_settings

GOOD = {
    "netbird:domain": RawValue("netbird.example.com"),
    "keycloak:adminPassword": RawValue("Xk3-vq9-Lm2-Pz7", secret=True),
    "keycloak:adminClientSecret": RawValue("Cs4-Rt8-Yu2-Op6", secret=True),
    "netbird:userPassword": RawValue("Ab9-Zx8-Cv7-Qw6", secret=True),
}


def parse(**changes):
    raw = dict(GOOD)
    for key, value in changes.items():
        full = key.replace("__", ":")
        if value is None:
            raw.pop(full, None)
        else:
            raw[full] = value if isinstance(value, RawValue) else RawValue(value)
    return parse_settings(raw, "dev")


def test_defaults_follow_netbirds_keycloak_guide():
    s = parse()
    assert s.netbird.realm == "netbird"
    assert s.netbird.client_id == "netbird-client"
    assert s.netbird.backend_client_id == "netbird-backend"
    assert s.netbird.audience_scope == "netbird-client-audience"
    assert s.netbird.pkce_ports == (53000,)
    assert s.netbird.protect_realm is True
    assert s.netbird.backend_role == "view-users"
    assert s.netbird.user_email == "netbird@netbird.example.com"
    assert s.keycloak.deploy is True
    assert s.keycloak.url == "http://localhost:8080"
    assert s.keycloak.image == DEFAULT_KEYCLOAK_IMAGE
    assert s.keycloak.admin_user != "admin"
    assert s.keycloak.client_timeout >= 30


def test_secrets_are_kept_out_of_repr():
    s = parse()
    assert "Xk3-vq9-Lm2-Pz7" not in repr(s)
    assert "Ab9-Zx8-Cv7-Qw6" not in repr(s)


def test_existing_keycloak_mode_takes_its_url():
    s = parse(keycloak__deploy="false", keycloak__url="https://auth.example.com",
              keycloak__adminUser="admin", keycloak__adminPassword=RawValue("short", True))
    # An existing Keycloak's admin account is the operator's business, not ours to police.
    assert s.keycloak.deploy is False
    assert s.keycloak.url == "https://auth.example.com"


def test_user_deletion_switches_backend_role():
    assert parse(netbird__userDeleteFromIdp="true").netbird.backend_role == "manage-users"


def test_pkce_ports_accept_list_and_comma_forms():
    assert parse(netbird__pkcePorts="[53000, 54000]").netbird.pkce_ports == (53000, 54000)
    assert parse(netbird__pkcePorts="53000,54000").netbird.pkce_ports == (53000, 54000)


BAD = [
    ("netbird:domain", None, "is required"),
    ("netbird:domain", "https://netbird.example.com", "bare host name"),
    ("netbird:domain", "netbird.example.com/path", "bare host name"),
    ("netbird:domain", "netbird.example.com:443", "bare host name"),
    ("netbird:domain", "netbird", "at least two labels"),
    ("netbird:domain", "nеtbird.example.com", "ASCII"),  # Cyrillic 'е'
    ("netbird:domain", "bad_label.example.com", "valid DNS name"),
    ("netbird:domain", "a" * 64 + ".example.com", "valid DNS name"),
    ("netbird:domain", "NetBird.Example.com", "lower case"),
    ("netbird:domain", "netbird.example.com\n", "control character"),
    ("netbird:domain", "net bird.example.com", "valid DNS name"),
    ("netbird:realm", "net bird", "no spaces"),
    ("netbird:realm", "r" * 37, "at most 36"),
    ("netbird:realm", "master", "master"),
    ("netbird:realm", "netbird;rm", "no spaces"),
    ("netbird:clientId", "netbird client", "no spaces"),
    ("netbird:backendClientId", "netbird-client", "must differ"),
    ("netbird:audienceScope", "basic", "built-in"),
    ("netbird:pkcePorts", "[80]", "1024 to 65535"),
    ("netbird:pkcePorts", "[70000]", "1024 to 65535"),
    ("netbird:pkcePorts", "[53000, 53000]", "twice"),
    ("netbird:pkcePorts", "fifty", "list of port numbers"),
    ("netbird:pkcePorts", "[]", "non-empty"),
    ("netbird:pkcePorts", '["53000"]', "non-empty list of port numbers"),
    ("netbird:userEmail", "not-an-email", "e-mail"),
    ("netbird:letsencryptEmail", "ops@", "e-mail"),
    ("netbird:protectRealm", "yes", "true or false"),
    ("netbird:userPassword", RawValue("Ab9-Zx8-Cv7-Qw6"), "plain text"),
    ("netbird:userPassword", RawValue("short1", True), "too short"),
    ("netbird:userPassword", RawValue("qqqqqqqqqqqqqqqq", True), "repetitive"),
    ("keycloak:adminPassword", RawValue("changeme", True), "too short"),
    ("keycloak:adminPassword", RawValue("kcadmin", True), "too short"),
    ("keycloak:adminPassword", RawValue("Xk3-vq9-Lm2-Pz7"), "plain text"),
    ("keycloak:adminClientSecret", RawValue("short1", True), "too short"),
    ("keycloak:adminClientSecretNext", RawValue("Cs4-Rt8-Yu2-Op6"), "not a setting"),
    ("netbird:passwordPolicy", "length(8) and notUsername and passwordHistory(3)",
     "length(12) or more"),
    ("netbird:passwordPolicy", "length(12) and passwordHistory(3)", "must keep notUsername"),
    ("netbird:passwordPolicy", "length(12) and notUsername", "must keep passwordHistory"),
    ("netbird:passwordPolicy", "length(40) and notUsername and passwordHistory(3)",
     "longer than netbird:userPassword"),
    ("netbird:passwordPolicy", "length(12) and not Username", "cannot read"),
    ("netbird:sslRequired", "none", "external"),
    ("netbird:bruteForceFailures", "0", "from 1 to 100"),
    ("netbird:bruteForceMaxWaitSeconds", "30", "at least netbird:bruteForceWaitSeconds"),
    ("netbird:eventsDays", "0", "from 1 to 3650"),
    ("netbird:accessTokenSeconds", "30", "from 60 to 3600"),
    ("netbird:ssoSessionIdleSeconds", "120", "from 300 to 86400"),
    ("netbird:ssoSessionMaxSeconds", "1200", "at least netbird:ssoSessionIdleSeconds"),
    ("netbird:offlineSessionIdleSeconds", "ten days", "whole number"),
    ("keycloak:adminUser", "admin", "must not be 'admin'"),
    ("keycloak:adminUser", "ADMIN", "must not be 'admin'"),
    ("keycloak:url", "auth.example.com", "http:// or https://"),
    ("keycloak:url", "https://auth.example.com/", "must not end with '/'"),
    ("keycloak:url", "ftp://auth.example.com", "http:// or https://"),
    ("keycloak:url", "https://user:pw@auth.example.com", "credentials"),
    ("keycloak:url", "https://auth.example.com/$(id)", "characters"),
    ("keycloak:httpPort", "0", "from 1 to 65535"),
    ("keycloak:httpPort", "65536", "from 1 to 65535"),
    ("keycloak:httpPort", "eighty", "whole number"),
    ("keycloak:managementPort", "8080", "must differ"),
    ("keycloak:image", "quay.io/keycloak/keycloak:latest", "pinned version"),
    ("keycloak:image", "quay.io/keycloak/keycloak", "pinned version"),
    ("keycloak:image", "Keycloak Image", "not a Docker image"),
    ("keycloak:networkMode", "overlay", "bridge or host"),
    ("keycloak:bindAddress", "0.0.0.999", "IPv4"),
    ("keycloak:bindAddressReason", "the proxy is elsewhere", "only for keycloak:bindAddress"),
    ("keycloak:proxyTrustedAddresses", '["10.0.0.5", "0.0.0.0/0"]', "forge X-Forwarded"),
    ("keycloak:proxyTrustedAddresses", "proxy.example.com", "not an IP address"),
    ("keycloak:proxyTrustedAddresses", "[]", "non-empty list"),
    ("keycloak:containerName", "my container", "no spaces"),
    ("keycloak:clientTimeout", "5", "from 30 to 600"),
    ("keycloak:memoryMb", "512", "from 750 to 65536"),
    ("keycloak:mode", "prod", "dev or production"),
    ("keycloak:adminUrl", "auth-admin", "http:// or https://"),
    ("netbird:integration", "embedded", "setup-env or connector"),
    ("netbird:connectorClientId", "net bird", "no spaces"),
    ("keycloak:deploy", "maybe", "true or false"),
    ("keycloak:version", "latest", "version such as"),
    ("docker:host", "ssh://host; rm -rf /", "shell characters"),
    ("docker:host", "host.example.com", "ssh://"),
    ("netbird:domian", "typo.example.com", "not a setting of this program"),
    ("docker:sshOpts", "-i /home/ops/key", "JSON list"),
    ("docker:sshOpts", '["-i", "/home/ops/key"]', "only with an ssh:// docker:host"),
    ("docker:host", "tcp://netbird.example.com:2375", "plain tcp://"),
    ("docker:certPath", "certs/netbird", "absolute path"),
    ("docker:certPath", "/home/ops/.docker/netbird", "only with a tcp://"),
    ("keycloak:database", "mysql", "dev-file or postgres"),
    ("keycloak:optimized", "true", "needs keycloak:mode production"),
    ("keycloak:optimized", "yes", "true or false"),
    ("keycloak:databasePort", "70000", "from 1 to 65535"),
]

# Postgres settings, each checked on an otherwise valid Postgres stack.
POSTGRES = {"keycloak__database": "postgres",
            "keycloak__databasePassword": RawValue("Db4-Kq8-Wm2-Lp5", secret=True)}
POSTGRES_BAD = [
    ("keycloak:databasePassword", RawValue("Db4-Kq8-Wm2-Lp5"), "plain text"),
    ("keycloak:databasePassword", RawValue("changeme", secret=True), "too short"),
    ("keycloak:databasePort", "8080", "must differ"),
    ("keycloak:postgresImage", "postgres:latest", "pinned version"),
    ("keycloak:postgresImage", "postgres", "pinned version"),
    ("keycloak:databaseVolumeName", "keycloak-dev-data", "must differ"),
    ("keycloak:databaseVolumeName", "pg data", "no spaces"),
]


@pytest.mark.parametrize("key,value,message", BAD, ids=[f"{k}={v!r}"[:60] for k, v, _ in BAD])
def test_bad_setting_is_refused_naming_key_and_fix(key, value, message):
    with pytest.raises(SettingsError) as caught:
        parse(**{key.replace(":", "__"): value})
    problems = [p for p in caught.value.problems if p.startswith(f"{key}:")]
    assert problems, f"no problem names {key}: {caught.value.problems}"
    assert any(message in p for p in problems), problems
    assert all("Fix: pulumi config" in p for p in problems)
    # A secret must never be echoed back in an error message.
    for secret in ("Xk3-vq9-Lm2-Pz7", "Ab9-Zx8-Cv7-Qw6", "qqqqqqqqqqqqqqqq", "changeme"):
        assert secret not in str(caught.value)


@pytest.mark.parametrize("key,value,message", POSTGRES_BAD,
                         ids=[f"{k}={v!r}"[:60] for k, v, _ in POSTGRES_BAD])
def test_bad_postgres_setting_is_refused_naming_key_and_fix(key, value, message):
    with pytest.raises(SettingsError) as caught:
        parse(**{**POSTGRES, key.replace(":", "__"): value})
    problems = [p for p in caught.value.problems if p.startswith(f"{key}:")]
    assert any(message in p for p in problems), caught.value.problems
    assert all("Fix: pulumi config" in p for p in problems)
    assert "Db4-Kq8-Wm2-Lp5" not in str(caught.value)


def test_production_mode_refuses_the_dev_database():
    with pytest.raises(SettingsError, match="keycloak:database: must be postgres with"):
        parse(keycloak__mode="production", keycloak__url="https://auth.example.com")
    s = parse(keycloak__mode="production", keycloak__url="https://auth.example.com", **POSTGRES)
    assert s.keycloak.database == "postgres" and s.keycloak.network_name == "keycloak-dev-net"
    assert s.keycloak.database_volume_name == "keycloak-dev-postgres-data"
    assert "Db4-Kq8-Wm2-Lp5" not in repr(s)


def test_secret_fix_tells_to_use_secret_flag():
    with pytest.raises(SettingsError) as caught:
        parse(netbird__userPassword=RawValue("Ab9-Zx8-Cv7-Qw6"))
    assert "pulumi config set --secret netbird:userPassword" in str(caught.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        parse(netbird__domain="https://x", netbird__realm="a b", keycloak__httpPort="0")
    keys = {p.split(":", 2)[0] + ":" + p.split(":", 2)[1] for p in caught.value.problems}
    assert {"netbird:domain", "netbird:realm", "keycloak:httpPort"} <= keys


def test_existing_mode_requires_url():
    with pytest.raises(SettingsError) as caught:
        parse(keycloak__deploy="false")
    assert any(p.startswith("keycloak:url:") for p in caught.value.problems)


def test_remote_docker_host_needs_the_public_keycloak_url():
    with pytest.raises(SettingsError) as caught:
        parse(docker__host="ssh://deploy@netbird.example.com")
    assert any(p.startswith("keycloak:url: is required when docker:host deploys onto another")
               for p in caught.value.problems)
    s = parse(docker__host="ssh://deploy@netbird.example.com",
              keycloak__url="https://auth.example.com")
    assert s.keycloak.remote_docker and not parse().keycloak.remote_docker


def test_production_mode_needs_the_public_url():
    with pytest.raises(SettingsError) as caught:
        parse(keycloak__mode="production")
    assert any(p.startswith("keycloak:url: is required with keycloak:mode production")
               for p in caught.value.problems)


def test_connector_mode_needs_the_exact_https_redirect_url():
    with pytest.raises(SettingsError) as caught:
        parse(netbird__integration="connector")
    assert any(p.startswith("netbird:connectorRedirectUrl: is required")
               for p in caught.value.problems)
    for bad in ("http://netbird.example.com/oauth2/callback", "https://netbird.example.com/*"):
        with pytest.raises(SettingsError, match="netbird:connectorRedirectUrl: must be the exact"):
            parse(netbird__integration="connector", netbird__connectorRedirectUrl=bad)
    s = parse(netbird__integration="connector",
              netbird__connectorRedirectUrl="https://netbird.example.com/oauth2/callback")
    assert s.netbird.integration == "connector" and s.netbird.connector_client_id == "netbird"


@pytest.mark.parametrize("path", sorted(
    (Path(__file__).resolve().parents[2] / "stacks").glob("Pulumi.*.yaml*")),
    ids=lambda p: p.name)
def test_shipped_stack_files_are_valid_as_written(path):
    """The dev stack and the examples users copy pass validation as written: the program
    generates every secret a deploying stack needs. An existing Keycloak's admin secret is the
    one thing the example's comments tell the user to set."""
    config = yaml.safe_load(path.read_text())["config"]
    raw = {k: RawValue(str(v)) for k, v in config.items() if not isinstance(v, dict)}
    if config.get("keycloak:deploy") in ("false", False):
        raw.setdefault("keycloak:adminPassword", RawValue("Zq8-Lm3-Wx7-Kp4", secret=True))
    settings = parse_settings(raw, path.name.split(".")[1])
    assert settings.netbird.domain == config["netbird:domain"]


def test_every_address_needs_a_stated_reason():
    with pytest.raises(SettingsError) as caught:
        parse(keycloak__bindAddress="0.0.0.0")
    assert any(p.startswith("keycloak:bindAddressReason: is required with keycloak:bindAddress "
                            "0.0.0.0") for p in caught.value.problems), caught.value.problems
    s = parse(keycloak__bindAddress="0.0.0.0", keycloak__bindAddressReason="proxy on another host")
    assert s.keycloak.admin_base_url == "http://127.0.0.1:8080"


def test_a_reason_without_every_address_is_removed_not_set():
    with pytest.raises(SettingsError) as caught:
        parse(keycloak__bindAddressReason="why not")
    assert "Fix: pulumi config rm keycloak:bindAddressReason --stack dev" in \
        " ".join(caught.value.problems)


@pytest.mark.parametrize("url", ["http://auth.example.com", "http://10.0.0.5:8080"])
def test_admin_credentials_never_go_to_a_remote_plain_http_url(url):
    with pytest.raises(SettingsError) as caught:
        parse(keycloak__deploy="false", keycloak__url=url)
    assert any(p.startswith("keycloak:url: is") and "in the clear" in p
               for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:8080",
                                 "https://auth.example.com"])
def test_loopback_or_https_keycloak_urls_are_accepted(url):
    assert parse(keycloak__deploy="false", keycloak__url=url).keycloak.url == url


def test_trusted_proxies_default_by_network_mode():
    assert parse(keycloak__networkMode="host").keycloak.proxy_trusted_addresses == (
        "127.0.0.1/32", "::1/128")
    assert parse().keycloak.proxy_trusted_addresses == ("172.16.0.0/12",)
    assert parse(keycloak__proxyTrustedAddresses="10.0.0.5, 10.1.0.0/16"
                 ).keycloak.proxy_trusted_addresses == ("10.0.0.5", "10.1.0.0/16")


CONNECTOR = {"netbird__integration": "connector"}


def test_netbirds_url_gives_the_connectors_redirect_url_and_needs_a_token():
    s = parse(**CONNECTOR, netbird__managementUrl="https://netbird.example.com",
              netbird__apiToken=RawValue("nbp_0123456789abcdefghij", secret=True))
    assert s.netbird.connector_redirect_url == "https://netbird.example.com/oauth2/callback"
    with pytest.raises(SettingsError) as caught:
        parse(**CONNECTOR, netbird__managementUrl="https://netbird.example.com")
    assert any(p.startswith("netbird:apiToken: is required") for p in caught.value.problems)


@pytest.mark.parametrize("changes,message", [
    ({"netbird__managementUrl": "http://netbird.example.com",
      "netbird__apiToken": RawValue("nbp_0123456789abcdefghij", secret=True)}, "in the clear"),
    # The scheme is compared without regard to case, as URLs compare it.
    ({"netbird__managementUrl": "HTTP://netbird.example.com",
      "netbird__apiToken": RawValue("nbp_0123456789abcdefghij", secret=True)}, "in the clear"),
    ({"netbird__apiToken": RawValue("nbp_0123456789abcdefghij", secret=True),
      "netbird__connectorRedirectUrl": "https://netbird.example.com/oauth2/callback"},
     "only used with netbird:managementUrl"),
])
def test_netbirds_api_settings_are_refused_where_they_cannot_work(changes, message):
    with pytest.raises(SettingsError) as caught:
        parse(**CONNECTOR, **changes)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_a_netbird_on_loopback_may_use_plain_http():
    s = parse(**CONNECTOR, netbird__managementUrl="http://127.0.0.1:18733",
              netbird__apiToken=RawValue("nbp_0123456789abcdefghij", secret=True))
    assert s.netbird.connector_redirect_url == "http://127.0.0.1:18733/oauth2/callback"


@pytest.mark.parametrize("changes,message", [
    ({"netbird__groups": '["ops", "ops"]'}, "twice"),
    ({"netbird__groups": '["a/b"]'}, "no '/'"),
    ({"netbird__groups": '["ops"]', "netbird__userGroups": '["dev"]'}, "does not list"),
])
def test_bad_groups_are_refused(changes, message):
    with pytest.raises(SettingsError) as caught:
        parse(**changes)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_the_user_is_in_every_group_unless_told():
    assert parse(netbird__groups="ops, dev").netbird.member_of == ("ops", "dev")
    assert parse(netbird__groups='["ops", "dev"]', netbird__userGroups='["ops"]'
                 ).netbird.member_of == ("ops",)


def test_an_idle_session_may_not_end_before_its_access_token():
    with pytest.raises(SettingsError) as caught:
        parse(netbird__accessTokenSeconds="900", netbird__ssoSessionIdleSeconds="600")
    assert any(p.startswith("netbird:ssoSessionIdleSeconds:") and
               "at least netbird:accessTokenSeconds" in p for p in caught.value.problems)


@pytest.mark.parametrize("url", ["http://auth.example.com", "HTTP://auth.example.com",
                                 "Http://10.0.0.5:8443"])
def test_a_public_url_that_credentials_travel_to_is_https(url):
    """Production mode's public URL receives the backend secret (NetBird) and the user's
    password (`make verify`); an existing Keycloak's, Pulumi's admin credentials."""
    for mode in ({"keycloak__mode": "production", **POSTGRES}, {"keycloak__deploy": "false"}):
        with pytest.raises(SettingsError) as caught:
            parse(keycloak__url=url, **mode)
        assert any(p.startswith("keycloak:url:") and "in the clear" in p
                   for p in caught.value.problems), caught.value.problems
    assert parse(keycloak__mode="production", keycloak__url="http://127.0.0.1:8443",
                 **POSTGRES).keycloak.url == "http://127.0.0.1:8443"


@pytest.mark.parametrize("opts", [
    '["-oProxyCommand=sh -c id"]', '["-o", "ProxyCommand sh -c id"]',
    '["-o", "LocalCommand=id", "-o", "PermitLocalCommand=yes"]',
    '["-o", "KnownHostsCommand=/bin/id"]', '["-F", "/tmp/evil_config"]',
    '["-oproxycommand=id"]', '["-i"]'])
def test_ssh_options_that_run_a_command_are_refused(opts):
    """A stack file is read by a pull request's preview on the deploy runner: it must not be
    able to run a command there."""
    with pytest.raises(SettingsError) as caught:
        parse(docker__host="ssh://deploy@netbird.example.com", docker__sshOpts=opts)
    assert any(p.startswith("docker:sshOpts:") for p in caught.value.problems), \
        caught.value.problems


def test_ssh_options_that_choose_how_to_log_in_are_taken():
    s = parse(docker__host="ssh://deploy@netbird.example.com",
              keycloak__url="https://auth.example.com", docker__sshOpts=(
        '["-i", "/home/ops/.ssh/netbird_deploy", "-p", "2222", "-o", '
        '"StrictHostKeyChecking=yes", "-oUserKnownHostsFile=/home/ops/.ssh/known_hosts"]'))
    assert s.keycloak.docker_ssh_opts[:2] == ("-i", "/home/ops/.ssh/netbird_deploy")
