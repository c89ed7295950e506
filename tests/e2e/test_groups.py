"""Keycloak groups for NetBird's JWT group sync (#20, part 2), end to end on a real Keycloak:
the user's groups reach ID and access tokens as plain names, `make verify` checks them, and the
memberships follow the stack file."""

from __future__ import annotations

import pytest

from foundation.keycloak_admin import jwt_claims
from tests.e2e import harness


@pytest.fixture(scope="module")
def grouped(project, native_keycloak):
    keycloak = native_keycloak.wait_ready()
    stack = project.on_keycloak("grouped", keycloak, {
        "netbird:groups": '["ops", "dev"]', "netbird:userGroups": '["ops"]'})
    stack.up(color="never", policy_packs=harness.stack_driver.POLICY_PACKS)
    try:
        yield stack
    finally:
        stack.destroy(color="never")


def outputs(stack) -> dict:
    return {k: v.value for k, v in stack.outputs().items()}


def test_tokens_carry_the_users_groups_as_names(grouped):
    status, body = harness.user_token(outputs(grouped), harness.secret(grouped,
                                                                       "netbird:userPassword"))
    assert status == 200, body
    for kind in ("access_token", "id_token"):
        assert jwt_claims(body[kind])["groups"] == ["ops"], kind  # not "/ops"


def test_verify_checks_the_groups_claim(grouped):
    checks = harness.verify.run_checks(outputs(grouped),
                                       harness.secret(grouped, "netbird:userPassword"))
    assert [c.ok for c in checks] == [True] * 5, [c.line() for c in checks]
    assert "JWT group sync" in checks[-1].detail


def test_memberships_follow_the_stack_file(grouped):
    grouped.set_config("netbird:userGroups", harness.stack_driver.auto.ConfigValue('["dev"]'))
    grouped.up(color="never")
    status, body = harness.user_token(outputs(grouped), harness.secret(grouped,
                                                                       "netbird:userPassword"))
    assert status == 200 and jwt_claims(body["access_token"])["groups"] == ["dev"]
    assert harness.changes(grouped.preview(color="never")) == {}
