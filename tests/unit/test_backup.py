"""make backup / make restore: the file's encryption and what is refused before anything runs
(pure; the round trip against a real Postgres is tests/e2e/test_backup.py)."""

from datetime import datetime, timezone

import pytest
import yaml

from netbird_keycloak import backup


def test_an_encrypted_dump_comes_back_only_with_its_passphrase():
    dump = b"PGDMP" + bytes(range(256)) * 4
    blob = backup.encrypt(dump, "right passphrase")
    assert blob.startswith(backup.MAGIC) and dump not in blob
    assert backup.decrypt(blob, "right passphrase", "f") == dump
    with pytest.raises(backup.BackupRefused, match="not the passphrase"):
        backup.decrypt(blob, "wrong passphrase", "f")
    with pytest.raises(backup.BackupRefused, match=backup.KEY_VARIABLE):
        backup.decrypt(blob, None, "f")
    # Two encryptions of one dump differ (a salt and an IV of their own).
    assert backup.encrypt(dump, "right passphrase") != blob


def test_a_dump_that_was_not_encrypted_is_restored_as_it_is():
    assert backup.decrypt(b"PGDMP-plain", None, "f") == b"PGDMP-plain"


def test_backups_are_named_by_stack_and_utc_time():
    when = datetime(2026, 12, 7, 23, 5, 9, tzinfo=timezone.utc)
    assert backup.backup_name("acme", when) == "keycloak-acme-20261207T230509Z.dump"


@pytest.mark.parametrize("config, why", [
    ({"netbird:domain": "netbird.acme.example"}, "keycloak:database dev-file"),
    ({"netbird:domain": "netbird.acme.example", "keycloak:deploy": "false",
      "keycloak:url": "https://auth.acme.example", "keycloak:adminUser": "kcadmin",
      "keycloak:adminPassword": {"secure": "v1:c2FsdA==:v1:bm9uY2U=:Y2lwaGVy"}},
     "keycloak:deploy false"),
])
def test_only_a_keycloak_the_stack_runs_on_postgres_is_backed_up(tmp_path, config, why):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.acme.yaml").write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(backup.BackupRefused, match=why):
        backup.postgres_of(tmp_path, "acme")
    with pytest.raises(backup.BackupRefused, match="no stack file"):
        backup.postgres_of(tmp_path, "beta")
