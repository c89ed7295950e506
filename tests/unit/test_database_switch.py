"""The database-switch guard of netbird_keycloak/stack.py, over a mock stack (no Pulumi CLI): a deployed
Keycloak is never silently pointed at another, empty database."""

from types import SimpleNamespace

import pytest
import yaml

from netbird_keycloak.stack import DatabaseSwitchRefused, check_database_switch


class MockStack:
    """Just what the guard reads: the stack file (through the work dir) and the last outputs."""

    def __init__(self, folder, config, last_database):
        (folder / "stacks").mkdir(exist_ok=True)
        (folder / "stacks" / "Pulumi.acme.yaml").write_text(yaml.safe_dump({"config": config}))
        self.name = "acme"
        self.workspace = SimpleNamespace(work_dir=str(folder))
        self._outputs = {} if last_database is None else {
            "keycloak_database": SimpleNamespace(value=last_database)}

    def outputs(self):
        return self._outputs


def test_switch_from_dev_file_to_postgres_is_refused_with_the_way_forward(tmp_path):
    stack = MockStack(tmp_path, {"keycloak:database": "postgres"}, "dev-file")
    with pytest.raises(DatabaseSwitchRefused) as refused:
        check_database_switch(stack)
    message = str(refused.value)
    assert "from dev-file to postgres" in message and "realm 'netbird'" in message
    assert "kc.sh export" in message and "keycloak:confirmDatabaseSwitch true" in message


def test_removing_the_setting_is_a_switch_back_to_dev_file(tmp_path):
    with pytest.raises(DatabaseSwitchRefused, match="from postgres to dev-file"):
        check_database_switch(MockStack(tmp_path, {}, "postgres"))


@pytest.mark.parametrize("config,last", [
    ({"keycloak:database": "postgres"}, None),             # first deploy
    ({"keycloak:database": "postgres"}, "postgres"),       # no change
    ({}, "dev-file"),
    ({"keycloak:database": "postgres", "keycloak:confirmDatabaseSwitch": "true"}, "dev-file"),
    ({"keycloak:deploy": "false"}, "dev-file"),           # an existing Keycloak is not ours
])
def test_allowed_runs(tmp_path, config, last):
    check_database_switch(MockStack(tmp_path, config, last))
