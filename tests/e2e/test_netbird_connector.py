"""Connector mode on both sides (#20, part 1), end to end: a real NetBird (the combined server,
built from its source snapshot) set up through its own API, then our `up` registers the realm's
Keycloak as an identity provider of NetBird's embedded IdP, keeps it in step, repairs drift and
removes it on destroy. Keycloak is the shared native one (an existing Keycloak)."""

from __future__ import annotations

import pytest

from foundation.keycloak_admin import http
from tests.fixtures.browser_login import login_through_netbird
from tests.fixtures.local_netbird import OWNER_EMAIL, NetBirdServer
from tests.e2e import harness


USER_EMAIL = "ada@nbconn.e2e.test"
OPERATORS_CLAIM = "teams"


@pytest.fixture(scope="module")
def netbird(tmp_path_factory):
    server = NetBirdServer(tmp_path_factory.mktemp("netbird"))
    try:
        yield server.wait_ready().setup()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def connected(project, native_keycloak, netbird):
    keycloak = native_keycloak.wait_ready()
    stack = project.on_keycloak("nbconn", keycloak, {
        "netbird:integration": "connector", "netbird:connectorClientId": "netbird-nbconn",
        "netbird:managementUrl": netbird.url, "netbird:groups": '["ops", "dev"]',
        "netbird:userGroups": '["ops"]', "netbird:userEmail": USER_EMAIL})
    harness.stack_driver.set_secret(stack, "netbird:apiToken", netbird.owner_token)
    # The operator's own group sync, on another claim, before the stack: destroy puts it back.
    status, [account] = netbird.api("GET", "/accounts")
    assert status == 200
    settings = {**account["settings"], "jwt_groups_enabled": True,
                "jwt_groups_claim_name": OPERATORS_CLAIM}
    assert netbird.api("PUT", f"/accounts/{account['id']}", {"settings": settings})[0] == 200
    up = stack.up(color="never", policy_packs=harness.stack_driver.POLICY_PACKS)
    try:
        yield stack, up
    finally:
        stack.destroy(color="never")


def listed(netbird) -> list[dict]:
    status, entries = netbird.api("GET", "/identity-providers")
    assert status == 200, entries
    return entries


def test_netbird_lists_keycloak_as_its_identity_provider(connected, netbird):
    stack, up = connected
    outputs = {k: v.value for k, v in stack.outputs().items()}
    [entry] = listed(netbird)
    assert entry["id"] == outputs["netbird_identity_provider_id"]
    assert (entry["type"], entry["name"]) == ("keycloak", "Keycloak")
    assert entry["issuer"] == outputs["issuer_url"] == \
        f"{outputs['keycloak_url']}/realms/nbconn-netbird"
    assert entry["client_id"] == "netbird-nbconn"
    # The Keycloak client allows exactly NetBird's callback (its issuer + /callback).
    assert outputs["connector_redirect_url"] == f"{netbird.url}/oauth2/callback"
    assert "client_secret" not in entry  # NetBird keeps it and never shows it


def jwt_group_sync(netbird) -> tuple:
    status, [account] = netbird.api("GET", "/accounts")
    assert status == 200
    return account["settings"].get("jwt_groups_enabled"), \
        account["settings"].get("jwt_groups_claim_name")


def test_netbirds_jwt_group_sync_reads_the_groups_claim(connected, netbird):
    assert jwt_group_sync(netbird) == (True, "groups")


def outputs(stack) -> dict:
    return {k: v.value for k, v in stack.outputs().items()}


@pytest.fixture(scope="module")
def first_login(connected, netbird) -> tuple[str, tuple[int, dict]]:
    """The Keycloak user logs in to NetBird as a person would: NetBird's login page, the
    Keycloak connector, Keycloak's form, back to the dashboard; then the dashboard's first API
    call. (NetBird's access token, and what that call got.)"""
    stack, _ = connected
    values = outputs(stack)
    tokens = login_through_netbird(netbird.url, values["netbird_identity_provider_id"],
                                   values["user_name"], harness.secret(stack, "netbird:userPassword"))
    return tokens["access_token"], http("GET", f"{netbird.url}/api/users/current",
                                        token=tokens["access_token"])


def netbird_user(netbird, email: str) -> dict:
    status, users = netbird.api("GET", "/users")
    assert status == 200, users
    [user] = [u for u in users if u["email"] == email]
    return user


@pytest.fixture(scope="module")
def logged_in(first_login, netbird) -> dict:
    """The user's NetBird session after the owner approved the user."""
    token, _ = first_login
    waiting = netbird_user(netbird, USER_EMAIL)
    status, answer = netbird.api("POST", f"/users/{waiting['id']}/approve")
    assert status == 200, answer
    status, me = http("GET", f"{netbird.url}/api/users/current", token=token)
    assert status == 200, me
    return me


def test_a_keycloak_user_joins_the_owners_account_and_waits_for_approval(first_login, netbird):
    # NetBird's default for a user joining an account: an owner or admin approves first
    # (Settings → "User approval required"); docs/netbird-connector.md says so.
    _, (status, answer) = first_login
    assert (status, answer.get("message")) == (403, "user is blocked"), answer
    waiting = netbird_user(netbird, USER_EMAIL)
    assert waiting["pending_approval"] and waiting["role"] == "user"


def test_the_keycloak_user_gets_a_netbird_session(logged_in, netbird):
    assert logged_in["email"] == USER_EMAIL
    # NetBird's one account holds that user beside the owner, as a regular user.
    status, users = netbird.api("GET", "/users")
    assert status == 200, users
    assert {u["email"] for u in users} == {OWNER_EMAIL, USER_EMAIL}
    assert (logged_in["role"], logged_in["pending_approval"], logged_in["is_blocked"]) == \
        ("user", False, False)


def test_netbird_puts_the_user_in_the_groups_keycloak_gives(logged_in, netbird):
    status, groups = netbird.api("GET", "/groups")
    assert status == 200, groups
    by_name = {g["name"]: g["id"] for g in groups}
    # JWT group sync made `ops` from the token and put the user in it; `dev`, a group the user
    # is not in, is not NetBird's business.
    assert "ops" in by_name and "dev" not in by_name, sorted(by_name)
    assert by_name["ops"] in netbird_user(netbird, USER_EMAIL)["auto_groups"]


def test_a_second_up_changes_nothing(connected):
    stack, _ = connected
    assert harness.changes(stack.up(color="never")) == {}


def test_a_changed_name_reaches_netbird(connected, netbird):
    stack, _ = connected
    stack.set_config("netbird:connectorName", harness.stack_driver.auto.ConfigValue("Company SSO"))
    stack.up(color="never")
    [entry] = listed(netbird)
    assert entry["name"] == "Company SSO"


def test_an_entry_deleted_in_netbird_comes_back_with_refresh_and_up(connected, netbird):
    stack, _ = connected
    [entry] = listed(netbird)
    assert netbird.api("DELETE", f"/identity-providers/{entry['id']}")[0] in (200, 204)
    assert listed(netbird) == []
    stack.refresh(color="never")
    stack.up(color="never")
    [back] = listed(netbird)
    assert back["client_id"] == "netbird-nbconn" and back["id"] != entry["id"]


def test_an_entry_made_by_hand_is_taken_over_not_doubled(connected, netbird):
    stack, _ = connected
    [ours] = listed(netbird)
    assert netbird.api("DELETE", f"/identity-providers/{ours['id']}")[0] in (200, 204)
    status, made = netbird.api("POST", "/identity-providers", {
        "type": "keycloak", "name": "by hand", "issuer": ours["issuer"],
        "client_id": "netbird-nbconn", "client_secret": "typed-in-the-dashboard"})
    assert status == 200, made
    stack.refresh(color="never")
    stack.up(color="never")
    [entry] = listed(netbird)
    assert entry["id"] == made["id"] and entry["name"] == "Company SSO"


def test_destroy_removes_it_from_netbird(connected, netbird):
    stack, _ = connected
    stack.destroy(color="never")
    assert listed(netbird) == []
    assert jwt_group_sync(netbird) == (True, OPERATORS_CLAIM)  # as the stack found it
