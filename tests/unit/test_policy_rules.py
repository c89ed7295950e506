"""Guardrail policy checks as plain functions (no engine); each fires on its bad input and stays
quiet on what the program declares."""

from foundation import policy_rules as rules

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
    urn = "urn:pulumi:acme::netbird-keycloak::netbird:index:NetBirdRealm$keycloak:index/realm:Realm::r"
    assert rules.stack_of(urn) == "acme"
    assert rules.realm_protection_problems(False, "acme")
    assert rules.realm_protection_problems(True, "acme") == []
    assert rules.realm_protection_problems(False, "dev") == []


def test_stack_without_audience_mapper_fires():
    client = (rules.CLIENT, {"accessType": "PUBLIC"})
    connector = (rules.CLIENT, {"accessType": "CONFIDENTIAL"})
    mapper = (rules.MAPPER, {"addToAccessToken": True})
    assert rules.audience_mapper_missing([client])
    assert rules.audience_mapper_missing([client, mapper]) == []
    assert rules.audience_mapper_missing([connector]) == []


def test_each_rule_judges_only_its_resource_types():
    bad_client = dict(GOOD_CLIENT, validRedirectUris=["*"])
    redirect, = [r for r in rules.RULES if r.name == "redirect-uris-https-or-loopback"]
    assert redirect.problems(rules.CLIENT, bad_client, True, "acme")
    assert redirect.problems(rules.MAPPER, bad_client, True, "acme") == []
    advisory = [r.name for r in rules.RULES if r.advisory]
    assert advisory == ["realm-protected-outside-dev"]
    names = [r.name for r in rules.RULES] + [r.name for r in rules.STACK_RULES]
    assert len(names) == len(set(names)) == 7
