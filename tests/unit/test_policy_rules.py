"""Guardrail policy checks as plain functions (no engine); each fires on its bad input and stays
quiet on what the program declares."""

from types import SimpleNamespace

from netbird_keycloak import policy_rules as rules

GOOD_CLIENT = {"clientId": "netbird-client", "accessType": "PUBLIC", "pkceCodeChallengeMethod": "",
               "validRedirectUris": ["https://netbird.example.com/*", "http://localhost:53000"],
               "validPostLogoutRedirectUris": ["https://netbird.example.com/*"],
               "webOrigins": ["+"]}


def test_program_client_passes():
    assert rules.redirect_problems(GOOD_CLIENT) == []
    assert rules.public_client_problems(GOOD_CLIENT, "netbird-client") == []


def test_plain_http_redirect_fires_but_loopback_is_allowed():
    bad = dict(GOOD_CLIENT, validRedirectUris=["http://netbird.example.com/*",
                                               "http://localhost:53000", "http://127.0.0.1:54000"])
    assert [p.split(" holds ")[1][:30] for p in rules.redirect_problems(bad)] == [
        "'http://netbird.example.com/*'"]


def test_bare_wildcards_fire():
    bad = dict(GOOD_CLIENT, validRedirectUris=["*"], webOrigins=["*"])
    problems = rules.redirect_problems(bad)
    assert len(problems) == 2 and "wildcard" in problems[0] and "'+'" in problems[1]


def test_unknown_values_in_preview_are_not_judged():
    assert rules.redirect_problems({"validRedirectUris": ["04da6b54-80e4-46f7-96ec-b56ff0331ba9"]}) == []


def test_confidential_or_plain_pkce_netbird_client_fires():
    assert rules.public_client_problems(dict(GOOD_CLIENT, accessType="CONFIDENTIAL"),
                                        "netbird-client")
    assert rules.public_client_problems(dict(GOOD_CLIENT, pkceCodeChallengeMethod="plain"),
                                        "netbird-client")
    assert rules.public_client_problems({"clientId": "other", "accessType": "CONFIDENTIAL"},
                                        "netbird-client") == []


def test_mapper_default_scopes_and_admin_name():
    assert rules.mapper_problems({"addToAccessToken": False})
    assert rules.mapper_problems({"addToAccessToken": True}) == []
    assert rules.default_scope_problems({"defaultScopes": ["profile", "email"]})
    assert rules.default_scope_problems({"defaultScopes": ["basic", "profile"]}) == []
    assert rules.admin_name_problems("Admin") and rules.admin_name_problems("kcadmin") == []


def test_realm_protection_outside_dev():
    prod = "urn:pulumi:acme::netbird-keycloak::netbird:index:NetBirdRealm$keycloak:index/realm:Realm::r"
    dev = prod.replace(":acme::", ":dev::")
    assert rules.realm_protection_problems(False, prod)
    assert rules.realm_protection_problems(True, prod) == []
    assert rules.realm_protection_problems(False, dev) == []


def test_stack_without_audience_mapper_fires():
    client = SimpleNamespace(resource_type=rules.CLIENT, props={"accessType": "PUBLIC"})
    connector = SimpleNamespace(resource_type=rules.CLIENT, props={"accessType": "CONFIDENTIAL"})
    mapper = SimpleNamespace(resource_type=rules.MAPPER, props={"addToAccessToken": True})
    assert rules.audience_mapper_missing([client])
    assert rules.audience_mapper_missing([client, mapper]) == []
    assert rules.audience_mapper_missing([connector]) == []
