"""What destroy keeps: the copy of a stack's secrets beside its data (what it holds, whose it
is) and the Keycloak objects left in that data (pure)."""

import json

import pulumi
import pytest

from components.adoption import AdoptionRefused
from components.secrets_beside_data import parse, render
from components.wiring import deleted_with


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


def test_keycloak_objects_stay_in_the_kept_data_and_nothing_else_does():
    """`destroy` leaves every Keycloak object in the data it lives in (deleted_with the data
    volume); Docker's resources and the program's own are destroyed as usual."""
    data = object()  # stands for the data volume: the transform only passes it on
    transform = deleted_with(data)  # type: ignore[arg-type]

    def args(type_, custom=True):
        return pulumi.ResourceTransformArgs(custom, type_, "r", {"name": "x"},
                                            pulumi.ResourceOptions(protect=True))

    kept = transform(args("keycloak:index/realm:Realm"))
    assert kept.opts.deleted_with is data and kept.opts.protect is True
    assert kept.props == {"name": "x"}
    for other in (args("docker:index/container:Container"), args("pulumi:index:Stash"),
                  args("keycloak:index:Component", custom=False)):
        assert transform(other) is None
