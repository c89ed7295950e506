"""The database-switch refusal (components/keycloak_database.py) as a pure function, and the
program refusing under mocks before any resource: a deployed Keycloak is never silently pointed
at another, empty database, however the program is run (a plain `pulumi up` too)."""

import pytest

from components.keycloak_database import switch_refusal
from tests.unit.mock_pulumi import run_program
from tests.unit.test_program import BASE, SECRETS


def test_switch_from_dev_file_to_postgres_is_refused_with_the_way_forward():
    message = switch_refusal("postgres", "dev-file", False, "netbird")
    assert "from dev-file to postgres" in message and "realm 'netbird'" in message
    assert "kc.sh export" in message and "keycloak:confirmDatabaseSwitch true" in message


@pytest.mark.parametrize("wanted,had,confirmed", [
    ("postgres", None, False),          # first deploy
    ("postgres", "postgres", False),    # no change
    ("dev-file", "dev-file", False),
    ("postgres", "dev-file", True),     # confirmed for this run
])
def test_allowed_runs(wanted, had, confirmed):
    assert switch_refusal(wanted, had, confirmed, "netbird") is None


def last_run(database: str) -> list[dict]:
    return [{"urn": "urn:pulumi:dev::netbird-keycloak::pulumi:pulumi:Stack::netbird-keycloak-dev",
             "type": "pulumi:pulumi:Stack", "custom": False,
             "outputs": {"keycloak_database": database}}]


def test_the_program_refuses_before_registering_anything():
    run = run_program({**BASE, "keycloak:database": "postgres"}, SECRETS,
                      recorded=last_run("dev-file"))
    assert run.error is not None and "from dev-file to postgres" in str(run.error)
    assert run.mocks.resources == []
    # Removing the setting is a switch back to dev-file.
    run = run_program(BASE, SECRETS, recorded=last_run("postgres"))
    assert "from postgres to dev-file" in str(run.error)


def test_an_existing_keycloak_is_not_the_stacks_and_is_not_checked():
    run = run_program({**BASE, "keycloak:deploy": "false", "keycloak:url":
                       "https://auth.example.com"}, SECRETS, recorded=last_run("postgres"))
    assert run.error is None, run.error
