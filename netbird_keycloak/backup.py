"""Backs up and restores a deployed Keycloak's database: `make backup STACK=…`, `make restore
STACK=… FILE=…`.

    backup  --stack acme                 pg_dump (custom format) of Keycloak's Postgres database to
                                         out/acme/backups/keycloak-acme-<UTC time>.dump, 0600
    restore --stack acme --file F [--overwrite]
                                         Keycloak stopped, the database restored, Keycloak started
                                         and waited for; refused on a database that holds realms
                                         unless --overwrite

The dump holds everything Keycloak keeps: realms and their signing keys, users and password
hashes, clients and their secrets. So it is written 0600 in a 0700 folder, and encrypted when
NETBIRD_KEYCLOAK_BACKUP_KEY is set (a passphrase, read from the environment, never from argv):
Fernet (AES-128-CBC with HMAC-SHA256, authenticated), its key derived with scrypt and a random
salt kept in the file. Both run pg_dump and pg_restore inside the stack's own Postgres container,
which reads the database password from its secrets file: the password never leaves it.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from components.adoption import docker_cli_env
from components.keycloak_database import DATABASE, PASSWORD_FILE, ROLE
from components.settings import KeycloakSettings, SettingsError, from_stack_file
from netbird_keycloak import ROOT
from netbird_keycloak.before_run import stack_file, stack_file_config

KEY_VARIABLE = "NETBIRD_KEYCLOAK_BACKUP_KEY"
MAGIC = b"netbird-keycloak backup, Fernet+scrypt v1\n"
SALT_BYTES = 16
TIMEOUT = 1800  # a dump or a restore of a large database; then it is reported, not waited on
READY_SECONDS = 300


class BackupRefused(Exception):
    pass


def _key(passphrase: str, salt: bytes) -> bytes:
    derived = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return base64.urlsafe_b64encode(derived)


def encrypt(data: bytes, passphrase: str) -> bytes:
    salt = os.urandom(SALT_BYTES)
    return MAGIC + salt + Fernet(_key(passphrase, salt)).encrypt(data)


def decrypt(blob: bytes, passphrase: Optional[str], name: str) -> bytes:
    """The dump in `blob`: as it is when it was not encrypted, else decrypted."""
    if not blob.startswith(MAGIC):
        return blob
    if not passphrase:
        raise BackupRefused(f"{name} is encrypted: set {KEY_VARIABLE} to the passphrase it was "
                            "made with. Nothing was changed.")
    salt, token = blob[len(MAGIC):len(MAGIC) + SALT_BYTES], blob[len(MAGIC) + SALT_BYTES:]
    try:
        return Fernet(_key(passphrase, salt)).decrypt(token)
    except InvalidToken:
        raise BackupRefused(f"{name}: {KEY_VARIABLE} is not the passphrase it was encrypted "
                            "with (or the file was changed). Nothing was changed.") from None


def backup_name(stack: str, now: datetime) -> str:
    return f"keycloak-{stack}-{now.strftime('%Y%m%dT%H%M%SZ')}.dump"


def postgres_of(work_dir: Path, stack: str) -> KeycloakSettings:
    """The stack's Keycloak settings; refused unless it deploys Keycloak on Postgres."""
    if not stack_file(work_dir, stack).exists():
        raise BackupRefused(f"no stack file for stack {stack!r} in {work_dir / 'stacks'}")
    try:
        keycloak = from_stack_file(stack_file_config(work_dir, stack), stack).keycloak
    except SettingsError as error:
        raise BackupRefused(str(error)) from None
    if not keycloak.deploy or keycloak.database != "postgres":
        raise BackupRefused(
            f"stack {stack!r} does not run Keycloak on Postgres (keycloak:deploy "
            f"{str(keycloak.deploy).lower()}, keycloak:database {keycloak.database}): back up "
            "an existing Keycloak where it runs; move a dev-file stack to Postgres "
            "(docs/production.md) to back it up with this command")
    return keycloak


class Engine:
    """The docker CLI on the stack's Docker engine."""

    def __init__(self, keycloak: KeycloakSettings,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run):
        env = docker_cli_env(keycloak.docker_host, keycloak.docker_cert_path)
        if env is None:
            raise BackupRefused(f"the docker CLI cannot reach {keycloak.docker_host} with "
                                "docker:sshOpts: run the backup on that host")
        self.env, self.run, self.keycloak = env, run, keycloak

    def __call__(self, *args: str, stdin: Optional[bytes] = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(["docker", *args], input=stdin, capture_output=True, env=self.env,
                        timeout=timeout)

    def postgres(self, program: str, stdin: Optional[bytes] = None) -> bytes:
        """Runs `program` (pg_dump, pg_restore or psql with its arguments) in the stack's
        Postgres container, logged in as Keycloak's role; its stdout."""
        port = self.keycloak.database_port
        # The password is read inside the container, from the file Postgres was given.
        script = (f'PGPASSWORD="$(cat {PASSWORD_FILE})" exec {program} -h 127.0.0.1 -p {port} '
                  f"-U {ROLE}")
        done = self("exec", "-i", self.keycloak.database_container_name, "sh", "-c", script,
                    stdin=stdin, timeout=TIMEOUT)
        if done.returncode != 0:
            raise BackupRefused(f"{program.split()[0]} in "
                                f"{self.keycloak.database_container_name} failed: "
                                f"{done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def realms(self) -> int:
        """How many realms the database holds (0: a database Keycloak never started on)."""
        answer = self.postgres(f"psql -d {DATABASE} -tA -c "
                               "\"SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = 'realm'\"").decode().strip()
        if answer == "0":
            return 0
        return int(self.postgres(f'psql -d {DATABASE} -tA -c "SELECT count(*) FROM realm"')
                   .decode().strip())

    def wait_healthy(self, container: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            done = self("inspect", "-f", "{{.State.Health.Status}}", container)
            if done.stdout.decode().strip() == "healthy":
                return
            time.sleep(2)
        raise BackupRefused(f"{container} was started again but is not healthy after "
                            f"{READY_SECONDS} s: see `docker logs {container}`")


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def backup(work_dir: Path, stack: str, out: Path,
           run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Path:
    keycloak = postgres_of(work_dir, stack)
    engine = Engine(keycloak, run)
    dump = engine.postgres(f"pg_dump -d {DATABASE} -Fc")
    passphrase = os.environ.get(KEY_VARIABLE)
    path = out / stack / "backups" / backup_name(stack, datetime.now(timezone.utc))
    write_private(path, encrypt(dump, passphrase) if passphrase else dump)
    return path


def restore(work_dir: Path, stack: str, file: Path, overwrite: bool,
            run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> int:
    """Restores `file`; returns the number of realms the database held before."""
    keycloak = postgres_of(work_dir, stack)
    if not file.is_file():
        raise BackupRefused(f"no backup file {file}")
    dump = decrypt(file.read_bytes(), os.environ.get(KEY_VARIABLE), file.name)
    engine = Engine(keycloak, run)
    held = engine.realms()
    if held and not overwrite:
        raise BackupRefused(
            f"the database of stack {stack!r} holds {held} realm(s): restoring replaces all of "
            f"them with the backup's. Back it up first (`make backup STACK={stack}`), then "
            f"confirm with `make restore STACK={stack} FILE={file} OVERWRITE=1`. Nothing was "
            "changed.")
    container = keycloak.container_name
    # Keycloak caches realms and keys: it must not run while its database is replaced.
    stopped = engine("stop", "-t", "60", container, timeout=180)
    if stopped.returncode != 0:
        raise BackupRefused(f"cannot stop {container}: {stopped.stderr.decode().strip()}. "
                            "Nothing was changed.")
    try:
        engine.postgres(f"pg_restore -d {DATABASE} --clean --if-exists --no-owner "
                        "--single-transaction", stdin=dump)
    finally:
        started = engine("start", container)
        if started.returncode != 0:
            raise BackupRefused(f"cannot start {container} again: "
                                f"{started.stderr.decode().strip()}")
    engine.wait_healthy(container)
    return held


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("backup", "restore"))
    parser.add_argument("--stack", required=True)
    parser.add_argument("--work-dir", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--file", type=Path, help="restore: the backup to restore")
    parser.add_argument("--overwrite", action="store_true",
                        help="restore: replace a database that holds realms")
    args = parser.parse_args(argv)
    if args.command == "restore" and args.file is None:
        parser.error("restore needs --file (a backup made by `backup`)")
    if args.command == "backup" and (args.file or args.overwrite):
        parser.error("--file and --overwrite go with restore only")
    try:
        if args.command == "backup":
            path = backup(args.work_dir, args.stack, args.out)
            encrypted = "encrypted" if os.environ.get(KEY_VARIABLE) else \
                f"not encrypted: set {KEY_VARIABLE} to encrypt"
            print(f"wrote {path} (0600, {encrypted})")
        else:
            held = restore(args.work_dir, args.stack, args.file, args.overwrite)
            print(f"restored {args.file.name} into stack {args.stack!r}"
                  + (f" (it replaced {held} realm(s))" if held else "")
                  + f"; {args.stack}'s Keycloak is up again")
    except BackupRefused as refused:
        print(f"{args.command} of stack {args.stack!r} refused: {refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
