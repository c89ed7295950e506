"""What `make rotate` reads from a state (no Pulumi): after an `up` killed during a rotation the
state holds the new stash and the old one marked for deletion; the rotation must see the new
one, or it would stamp again and hand Keycloak a third secret while it holds the second."""

from __future__ import annotations

import json

import pytest

from components import wiring
from components.adoption import recorded_ids
from components.stack_secrets import STASH_TYPE, STASHES
from netbird_keycloak import rotate
from netbird_keycloak.stack_settings import kept_secrets

STACK = "urn:pulumi:acme::netbird-keycloak::"


def stash(value: str, deleted: bool = False) -> dict:
    resource = {"urn": f"{STACK}{STASH_TYPE}::{STASHES['keycloak:adminClientSecret']}",
                "type": STASH_TYPE, "custom": True, "id": value,
                "outputs": {"output": {"plaintext": json.dumps(value)}}}
    return {**resource, "delete": True} if deleted else resource


def service_account(secret: str) -> dict:
    return {"urn": f"{STACK}pulumi-python:dynamic:Resource::{wiring.SERVICE_ACCOUNT}",
            "type": "pulumi-python:dynamic:Resource", "custom": True, "id": "uuid",
            "outputs": {"client_secret": {"plaintext": json.dumps(secret)}}}


@pytest.mark.parametrize("old_first", [True, False])
def test_an_interrupted_replacement_keeps_the_new_secret(old_first):
    old, new = stash("second", deleted=True), stash("third")
    resources = [old, new] if old_first else [new, old]
    assert kept_secrets(resources) == {"keycloak:adminClientSecret": "third"}
    assert recorded_ids(resources)[STASHES["keycloak:adminClientSecret"]] == "third"


@pytest.mark.parametrize("old_first", [True, False])
def test_what_keycloak_holds_is_read_from_the_live_resource(old_first):
    old, new = {**service_account("first"), "delete": True}, service_account("second")
    resources = [old, new] if old_first else [new, old]
    assert rotate.recorded(resources, wiring.SERVICE_ACCOUNT, "client_secret") == "second"
    assert rotate.recorded(resources, "no-such-resource", "client_secret") is None


def user_stash(value: str) -> dict:
    return {"urn": f"{STACK}{STASH_TYPE}::{STASHES['netbird:userPassword']}", "type": STASH_TYPE,
            "custom": True, "id": value, "outputs": {"output": {"plaintext": json.dumps(value)}}}


def resource(name: str, **outputs: str) -> dict:
    return {"urn": f"{STACK}t::{name}", "custom": True, "id": f"{name}-id",
            "outputs": {k: {"plaintext": json.dumps(v)} for k, v in outputs.items()}}


@pytest.mark.parametrize("state,rotated,held", [
    # never deployed
    ([], False, (False, None)),
    ([user_stash("kept")], False, (False, None)),
    # created with the kept password, which nothing has changed since: a new stamp is due
    ([user_stash("kept"), resource("netbird-user")], False, (True, "kept")),
    # a stamp but no UserPassword yet: the first rotation was cut short, it is finished
    ([user_stash("kept"), resource("netbird-user")], True, (True, None)),
    # UserPassword records what Keycloak took
    ([user_stash("new"), resource("netbird-user"),
      resource(wiring.USER_PASSWORD, password="old")], True, (True, "old")),
    ([user_stash("new"), resource("netbird-user"),
      resource(wiring.USER_PASSWORD, password="new")], True, (True, "new")),
])
def test_what_keycloak_holds_of_the_user_password(state, rotated, held):
    assert rotate.user_password_held("netbird-user")(state, rotated) == held
