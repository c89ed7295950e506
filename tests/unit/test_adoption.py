"""Adoption of what an interrupted `up` left unrecorded (unit: the pure parts, the docker CLI
and the state read through stand-ins named so, the program under mocks; tests/e2e/test_faults.py
stops a real Keycloak mid-up and adopts through the program, plain `pulumi up` included)."""

import json
import subprocess

import pytest

from components import adoption, wiring
from components.adoption import Declared
from components.settings import RawValue, parse_settings
from tests.unit.mock_pulumi import run_program
from tests.unit.test_program import BASE, REALM, SECRETS

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
    assert adoption.import_id(Declared("m", "scope-mapper", "Aud", scope), "nb", "m-1",
                              "s-1") == "nb/client-scope/s-1/m-1"


def test_adoptable_objects_are_the_programs_resources():
    """The names adoption looks for are the names the program registers, in both modes."""
    for extra, mode in (({}, "setup-env"), ({"netbird:groups": '["ops", "dev"]'}, "groups"),
                        ({"netbird:integration": "connector",
                          "netbird:connectorRedirectUrl": "https://netbird.example.com/cb"},
                         "connector")):
        run = run_program(dict(BASE, **extra), SECRETS)
        assert run.error is None, run.error
        registered = {r.name: r for r in run.mocks.resources if r.custom}
        declared = wiring.adoptable(settings(**extra))
        assert declared and all(d.resource in registered for d in declared), mode
        kinds = {d.kind for d in declared}
        assert kinds == {"connector": {"realm", "user", "client"},
                         "setup-env": set(adoption.KINDS) - {"group"},
                         "groups": set(adoption.KINDS)}[mode]


def state_resource(name: str, ident: str, custom: bool = True) -> dict:
    return {"urn": f"urn:pulumi:dev::netbird-keycloak::t::{name}", "id": ident,
            "custom": custom}


def file_backend(monkeypatch, tmp_path, resources=None, stack="dev"):
    """A file backend holding the stack's state (None: the stack has no state file)."""
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    if resources is not None:
        state = tmp_path / ".pulumi" / "stacks" / "netbird-keycloak" / f"{stack}.json"
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"checkpoint": {"latest": {"resources": resources}}}))


class FakeDockerCli:
    """Unit-test stand-in for the docker CLI's `inspect` and `rm` (the real one: test_faults)."""

    def __init__(self, containers: dict[str, tuple[str, str]]):
        self.containers, self.calls = containers, []  # name -> (id, owner label)

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        if argv[:2] == ["docker", "inspect"]:
            found = self.containers.get(argv[-1])
            return subprocess.CompletedProcess(argv, 0 if found else 1,
                                               stdout=" ".join(found) if found else "")
        return subprocess.CompletedProcess(argv, 0, stdout="")


def test_a_file_backend_tells_what_is_recorded_without_the_cli(monkeypatch, tmp_path):
    file_backend(monkeypatch, tmp_path, [state_resource("netbird-realm", "netbird"),
                                         state_resource("netbird", "", custom=False)])
    cli = FakeDockerCli({})
    recorded = adoption.Recorded("netbird-keycloak", "dev", "organization/netbird-keycloak/dev",
                                 run=cli)
    assert recorded.ids == {"netbird-realm": "netbird"} and cli.calls == []
    assert recorded.may_lack(["netbird-realm", "netbird-user"])
    assert not recorded.may_lack(["netbird-realm"])


def test_a_stack_that_never_ran_lacks_nothing(monkeypatch, tmp_path):
    file_backend(monkeypatch, tmp_path)  # `stack init` not even run: no file
    recorded = adoption.Recorded("netbird-keycloak", "dev", "organization/netbird-keycloak/dev")
    assert recorded.ids == {} and not recorded.may_lack(["netbird-realm"])


def test_other_backends_are_read_through_the_cli_once(monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://state.example/pulumi")
    monkeypatch.setenv("PULUMI_CLI_ROOT", "/opt/pulumi")
    exported = {"deployment": {"resources": [state_resource("netbird-user", "u-1")]}}
    calls = []

    def cli(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout=json.dumps(exported))

    recorded = adoption.Recorded("netbird-keycloak", "dev", "organization/netbird-keycloak/dev",
                                 run=cli)
    assert recorded.ids == {"netbird-user": "u-1"}
    assert recorded.may_lack(["netbird-realm"]) and not recorded.may_lack(["netbird-user"])
    assert calls == [["/opt/pulumi/bin/pulumi", "stack", "export", "--stack",
                      "organization/netbird-keycloak/dev"]]


def test_a_state_the_cli_cannot_read_stops_the_run_clearly(monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://state.example/pulumi")
    monkeypatch.setenv("PULUMI_CLI_ROOT", "/opt/pulumi")
    with pytest.raises(adoption.AdoptionRefused, match="connection refused. Nothing was changed"):
        adoption.Recorded("netbird-keycloak", "dev", "organization/netbird-keycloak/dev",
                          run=lambda argv, **_: subprocess.CompletedProcess(
                              argv, 255, stderr="connection refused"))


def test_an_unrecorded_container_of_this_stack_is_found_a_foreign_one_refused(monkeypatch,
                                                                             tmp_path):
    file_backend(monkeypatch, tmp_path, [state_resource("keycloak-container", "c-recorded")])
    recorded = adoption.Recorded("netbird-keycloak", "dev", "organization/netbird-keycloak/dev")
    containers = [("keycloak-container", "keycloak-dev"),
                  ("keycloak-postgres-container", "keycloak-dev-postgres")]
    cli = FakeDockerCli({"keycloak-dev": ("c-recorded", "netbird-keycloak/dev"),
                         "keycloak-dev-postgres": ("c-left", "netbird-keycloak/dev")})
    stale = adoption.StaleContainers(containers, None, None, recorded, "netbird-keycloak/dev",
                                     run=cli)
    assert stale.found == {"keycloak-dev-postgres": "c-left"}
    cli.containers["keycloak-dev-postgres"] = ("c-other", "someone/else")
    with pytest.raises(adoption.AdoptionRefused, match="'keycloak-dev-postgres' .* someone/else"):
        adoption.StaleContainers(containers, None, None, recorded, "netbird-keycloak/dev",
                                 run=cli)
    # An ssh:// engine is out of the docker CLI's reach: Docker's own conflict speaks there.
    assert adoption.StaleContainers(containers, "ssh://deploy@host", None, recorded,
                                    "netbird-keycloak/dev", run=cli).found == {}


def test_the_program_adopts_nothing_when_the_state_lacks_nothing(monkeypatch):
    """Every Keycloak object recorded, or no up ever run: the program sets up no adoption (no
    login, no lookups, no transform). Mocks cannot run transforms: the adopting runs are e2e
    (tests/e2e/test_faults.py)."""
    made = []

    class Spy(adoption.KeycloakAdoption):
        def __init__(self, declared, *args):
            made.append(declared)
            super().__init__(declared, *args)

    monkeypatch.setattr(adoption, "KeycloakAdoption", Spy)
    declared = {d.resource for d in wiring.adoptable(settings())}
    for state in ([state_resource(name, f"{name}-id") for name in sorted(declared)], []):
        run = run_program(BASE, SECRETS, recorded=state)
        assert run.error is None, run.error
        assert made == [] and not any(r.import_id for r in run.mocks.resources)


def test_realm_carries_its_owner_mark():
    run = run_program(BASE, SECRETS, stack="acme")
    attributes = run.mocks.one(REALM).inputs["attributes"]
    assert attributes == {adoption.OWNER_ATTRIBUTE: "netbird-keycloak/acme"}
    assert run.mocks.one(USER).import_id is None
