"""The copy of a stack's secrets beside its data: what it holds and whose it is (pure)."""

import json

import pytest

from components.adoption import AdoptionRefused
from components.secrets_beside_data import parse, render


def test_the_copy_reads_back_what_was_written():
    values = {"keycloak:adminClientSecret": "a$b\\c\"d", "netbird:userPassword": "p w"}
    text = render("netbird-keycloak/acme", values)
    assert parse(text, "netbird-keycloak/acme", "keycloak-acme-secrets") == values
    assert json.loads(text)["owner"] == "netbird-keycloak/acme"


def test_another_stacks_copy_is_refused_naming_both_stacks():
    text = render("netbird-keycloak/beta", {"netbird:userPassword": "Vq8-secret-Lm2"})
    with pytest.raises(AdoptionRefused) as refused:
        parse(text, "netbird-keycloak/acme", "keycloak-acme-secrets")
    message = str(refused.value)
    assert "netbird-keycloak/beta" in message and "netbird-keycloak/acme" in message
    assert "keycloak:containerName" in message and "Nothing was changed" in message
    assert "Vq8-secret-Lm2" not in message


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"owner": "a"}'])
def test_a_volume_that_holds_no_copy_is_refused(text):
    with pytest.raises(AdoptionRefused, match="keycloak-acme-secrets"):
        parse(text, "netbird-keycloak/acme", "keycloak-acme-secrets")
