"""The guardrails the program runs on itself (components/guardrails.py), under mocks: every
resource the program registers in each mode passes them, and a resource that breaks one is
stopped before it is registered. The real engine runs them in tests/e2e/test_policy.py."""

import asyncio

import pulumi
import pytest

from components import guardrails
from foundation import policy_rules as rules
from tests.unit.mock_pulumi import run_program
from tests.unit.test_program import BASE, SECRETS


def args(resource_type: str, props: dict, protect: bool = False) -> pulumi.ResourceTransformArgs:
    return pulumi.ResourceTransformArgs(custom=True, type_=resource_type, name="x", props=props,
                                        opts=pulumi.ResourceOptions(protect=protect))


def judge(transform_args):
    return asyncio.run(guardrails.judge(transform_args))


def plain(value):
    return asyncio.run(guardrails.plain(value))


@pytest.mark.parametrize("extra", [{}, {"netbird:integration": "connector",
                                        "netbird:connectorRedirectUrl":
                                        "https://netbird.example.com/oauth2/callback"},
                                   {"netbird:groups": "ops,dev", "netbird:userGroups": "ops"}])
def test_every_resource_of_the_program_passes_the_guardrails(extra):
    run = run_program({**BASE, **extra}, SECRETS)
    assert run.error is None, run.error
    assert run.mocks.transforms == [guardrails.judge]  # judged: the mocks apply it to each


def test_a_resource_breaking_a_mandatory_rule_is_stopped_with_its_rule_named():
    with pytest.raises(guardrails.GuardrailViolation) as stopped:
        judge(args(rules.CLIENT, {"clientId": "netbird-client", "accessType": "CONFIDENTIAL",
                                  "validRedirectUris": ["*"]}))
    assert "breaks 2 guardrail(s)" in str(stopped.value)
    with pytest.raises(guardrails.GuardrailViolation, match="breaks 1 guardrail"):
        judge(args(rules.KEYCLOAK_PROVIDER, {"username": "admin"}))


def test_unknown_and_secret_inputs_are_read_as_the_policy_pack_reads_them():
    unknown = pulumi.output.Unknown()
    assert plain({"validRedirectUris": [unknown]}) == {
        "validRedirectUris": [pulumi.runtime.rpc.UNKNOWN]}
    assert judge(args(rules.CLIENT, {"validRedirectUris": [unknown]})) is None
    secret = {guardrails._SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "admin"}
    assert plain({"username": secret}) == {"username": "admin"}


def test_an_unprotected_realm_outside_dev_warns_without_stopping():
    mandatory, advisory = guardrails.problems(rules.REALM, {}, False, "acme")
    assert mandatory == [] and advisory and "[realm-protected-outside-dev]" in advisory[0]
    assert guardrails.problems(rules.REALM, {}, True, "acme") == ([], [])
