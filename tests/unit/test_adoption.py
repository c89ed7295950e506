"""Adoption of objects an interrupted `up` left in Keycloak unrecorded (unit: the pure parts and
the program under mocks; tests/e2e/test_faults.py stops a real Keycloak mid-up)."""

import json

import pytest

from components import adoption, wiring
from components.adoption import Declared
from components.settings import RawValue, parse_settings
from tests.unit.mock_pulumi import run_program
from tests.unit.test_program import BASE, CLIENT, MAPPER, REALM, SCOPE, SECRETS

USER = "keycloak:index/user:User"


def settings(**extra):
    return parse_settings({k: RawValue(v, k in SECRETS) for k, v in {**BASE, **extra}.items()},
                          "dev")


def test_import_ids_take_pulumi_keycloaks_formats():
    scope = Declared("s", "client-scope", "aud")
    assert adoption.import_id(Declared("r", "realm", "nb"), "nb", "nb") == "nb"
    assert adoption.import_id(Declared("u", "user", "netbird"), "nb", "u-1") == "nb/u-1"
    assert adoption.import_id(Declared("c", "client", "netbird-client"), "nb", "c-1") == "nb/c-1"
    assert adoption.import_id(scope, "nb", "s-1") == "nb/s-1"
    assert adoption.import_id(Declared("m", "audience-mapper", "Aud", scope), "nb", "m-1",
                              "s-1") == "nb/client-scope/s-1/m-1"


def test_import_ids_from_the_environment():
    assert adoption.import_ids({}) == {}
    assert adoption.import_ids({adoption.ENV: '{"netbird-user": "nb/u-1"}'}) == {
        "netbird-user": "nb/u-1"}
    with pytest.raises(ValueError, match=adoption.ENV):
        adoption.import_ids({adoption.ENV: '["netbird-user"]'})


def test_adoptable_objects_are_the_programs_resources():
    """The names adoption looks for are the names the program registers, in both modes."""
    for extra, mode in (({}, "setup-env"), ({"netbird:integration": "connector",
                        "netbird:connectorRedirectUrl": "https://netbird.example.com/cb"},
                        "connector")):
        run = run_program(dict(BASE, **extra), SECRETS)
        assert run.error is None, run.error
        registered = {r.name: r for r in run.mocks.resources if r.custom}
        declared = wiring.adoptable(settings(**extra))
        assert declared and all(d.resource in registered for d in declared), mode
        kinds = {d.kind for d in declared}
        assert kinds == ({"realm", "user", "client"} if mode == "connector"
                         else set(adoption.KINDS))


def test_program_imports_what_the_driver_found(monkeypatch):
    ids = {"netbird-realm": "netbird", "netbird-user": "netbird/u-1",
           "netbird-audience-mapper": "netbird/client-scope/s-1/m-1"}
    monkeypatch.setenv(adoption.ENV, json.dumps(ids))
    run = run_program(BASE, SECRETS)
    assert run.error is None, run.error
    imported = {r.name: r.import_id for r in run.mocks.resources if r.import_id}
    assert imported == ids
    # Everything else is created as usual.
    assert run.mocks.one(CLIENT, "netbird-client").import_id is None
    assert run.mocks.one(SCOPE).import_id is None and run.mocks.one(MAPPER).import_id


def test_realm_carries_its_owner_mark():
    run = run_program(BASE, SECRETS, stack="acme")
    attributes = run.mocks.one(REALM).inputs["attributes"]
    assert attributes == {adoption.OWNER_ATTRIBUTE: "netbird-keycloak/acme"}
    assert run.mocks.one(USER).import_id is None
