"""`make backup` and `make restore` (#30, backups), end to end: a stack in production mode on the
real Postgres, the real Keycloak 26.7.3 and the real plugins. A backup (encrypted), a restore
refused over data, then the database lost (its volume removed) and restored: the realm's signing
keys, the users and the user's password come back, and a token issued before the backup still
verifies against the restored Keycloak's keys.

The tests run in order on one stack.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from netbird_keycloak import backup as backup_command
from tests.e2e import harness

NAME = "backup"
CONTAINER = f"{harness.TEST_PREFIX}-{NAME}"
KEY = "a backup passphrase only this test knows"


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_by(token: str, jwks: dict) -> bool:
    """Whether the RS256 JWT `token` verifies against one of the keys in `jwks`."""
    header, payload, signature = token.split(".")
    kid = json.loads(_b64(header))["kid"]
    for key in jwks["keys"]:
        if key["kid"] == kid and key["kty"] == "RSA":
            public = rsa.RSAPublicNumbers(int.from_bytes(_b64(key["e"]), "big"),
                                          int.from_bytes(_b64(key["n"]), "big")).public_key()
            try:
                public.verify(_b64(signature), f"{header}.{payload}".encode(),
                              padding.PKCS1v15(), hashes.SHA256())
                return True
            except Exception:  # noqa: BLE001 - InvalidSignature: not this key's
                return False
    return False


class Backed:
    def __init__(self, project: harness.Project):
        self.project = project
        self.config = harness.container_stack("postgres", CONTAINER)
        self.url = f"http://127.0.0.1:{self.config['keycloak:httpPort']}"
        self.pgdata = self.config["keycloak:databaseVolumeName"]
        project.stack(NAME, self.config)

    def command(self, *argv: str, key: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != backup_command.KEY_VARIABLE}
        if key:
            env[backup_command.KEY_VARIABLE] = KEY
        return subprocess.run(
            [sys.executable, "-m", "netbird_keycloak.cli", *argv, "--stack", NAME,
             "--work-dir", str(self.project.path)],
            capture_output=True, text=True, timeout=900, cwd=harness.ROOT, env=env,
            stdin=subprocess.DEVNULL)

    def ok(self, *argv: str) -> str:
        done = self.command(*argv)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        return done.stdout

    def admin(self) -> harness.KeycloakAdmin:
        return harness.KeycloakAdmin(self.url, client_id="netbird-keycloak-admin",
                                     client_secret=harness.secret(self.project.open(NAME),
                                                                  "keycloak:adminClientSecret"))

    def has_user(self, name: str) -> bool:
        return bool(self.admin().get(f"/netbird/users?username={name}&exact=true"))

    def jwks(self) -> dict:
        status, jwks = harness.http("GET",
                                    f"{self.url}/realms/netbird/protocol/openid-connect/certs")
        assert status == 200, jwks
        return jwks

    def outputs(self) -> dict:
        return {k: v.value for k, v in self.project.open(NAME).outputs().items()}


@pytest.fixture(scope="module")
def backed(tmp_path_factory):
    b = Backed(harness.Project(tmp_path_factory.mktemp("backup")))
    b.ok("up", "--out", str(b.project.path / "out"))
    outputs = b.outputs()
    b.password = outputs["user_password"]
    status, token = harness.user_token(outputs, b.password)
    assert status == 200, token
    b.token = token["access_token"]
    assert b.admin()("POST", "/netbird/users", {"username": "before-backup",
                                                 "enabled": True})[0] == 201
    yield b
    b.command("destroy", "--purge", "--out", str(b.project.path / "out"))
    subprocess.run(["docker", "rm", "-f", CONTAINER, f"{CONTAINER}-postgres",
                    f"{CONTAINER}-secrets"], capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", b.pgdata, f"{CONTAINER}-secrets"],
                   capture_output=True)


def test_backup_writes_an_encrypted_private_file(backed):
    out = backed.ok("backup", "--out", str(backed.project.path / "out"))
    path = backed.project.path / "out" / NAME / "backups"
    [backed.file] = list(path.iterdir())
    assert f"wrote {backed.file} (0600, encrypted)" in out
    assert stat.S_IMODE(backed.file.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    blob = backed.file.read_bytes()
    assert blob.startswith(backup_command.MAGIC) and b"PGDMP" not in blob
    # pg_dump's custom format inside, and nothing of the user's password in clear.
    assert backup_command.decrypt(blob, KEY, "b").startswith(b"PGDMP")
    assert backed.password.encode() not in blob


def test_restore_over_a_database_with_realms_is_refused_and_changes_nothing(backed):
    assert backed.admin()("POST", "/netbird/users", {"username": "after-backup",
                                                      "enabled": True})[0] == 201
    done = backed.command("restore", "--file", str(backed.file))
    assert done.returncode == 1
    assert "holds 2 realm(s)" in done.stderr and "OVERWRITE=1" in done.stderr, done.stderr
    assert backed.has_user("after-backup")  # Keycloak ran on, untouched


def test_a_wrong_key_is_refused_before_anything_stops(backed):
    done = backed.command("restore", "--file", str(backed.file), "--overwrite", key=False)
    assert done.returncode == 1 and "is encrypted" in done.stderr, done.stderr
    assert backed.has_user("after-backup")


def test_a_lost_database_comes_back_with_its_keys_users_and_passwords(backed):
    """The database's volume is lost while the stack is down; the next up starts Keycloak on an
    empty database (new realm keys); the restore brings back the backup's, and a refresh and an
    up make the state follow it."""
    out = str(backed.project.path / "out")
    before = backed.jwks()
    backed.ok("destroy", "--out", out)
    subprocess.run(["docker", "volume", "rm", backed.pgdata], capture_output=True, check=True)
    backed.ok("up", "--out", out)
    assert not backed.has_user("before-backup")  # the data really was gone
    assert not signed_by(backed.token, backed.jwks())
    restored = backed.ok("restore", "--file", str(backed.file), "--overwrite")
    assert "restored" in restored and "replaced 2 realm(s)" in restored
    backed.ok("refresh", "--out", out)
    backed.ok("up", "--out", out)
    assert backed.jwks() == before
    assert signed_by(backed.token, backed.jwks())  # issued before the backup, still valid
    assert backed.has_user("before-backup") and not backed.has_user("after-backup")
    status, token = harness.user_token(backed.outputs(), backed.password)
    assert status == 200, token
    verify = backed.command("verify")
    assert verify.returncode == 0 and " 0 failed" in verify.stdout, verify.stdout
    preview = backed.project.typed(f"pulumi preview --expect-no-changes --non-interactive "
                                   f"--stack {NAME}")
    assert preview.returncode == 0, (preview.stdout + preview.stderr)[-3000:]
