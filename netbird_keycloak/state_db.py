"""A PostgreSQL server for Pulumi state on this machine (Pulumi's DIY `postgres://` backend).

    state_db.py start [--name N] [--port P] [--dir D]   start it (idempotent), print the backend URL
    state_db.py stop  [--name N]                        stop it; its volume (the state) is kept
    state_db.py url   [--port P] [--dir D]              print the backend URL

The server listens on loopback only and shares the host's network, so the URL works for every
process here. Its password is generated once into D/password (0600) and reaches the server as a
mounted file, not as environment; the URL names a libpq password file (D/pgpass, 0600) instead of
the password, so the URL itself can be printed, logged and put in an environment variable.
A team points everyone at one shared server instead: see docs/team-state.md.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from netbird_keycloak import ROOT

IMAGE = "netbird-keycloak/postgres:15"
ROLE = DATABASE = "pulumi"
NAME = "netbird-keycloak-state"
PORT = 15432
SECRET_IN_CONTAINER = "/run/secrets/state-db-password"


def backend_url(port: int, folder: Path, table: str = "") -> str:
    """The PULUMI_BACKEND_URL of the server; `table` keeps one state apart in the same database."""
    query = {"sslmode": "disable", "passfile": str(folder.resolve() / "pgpass")}
    if table:
        query["table"] = table
    return (f"postgres://{ROLE}@127.0.0.1:{port}/{DATABASE}?"
            + urllib.parse.urlencode(query, safe="/"))


def _private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def credentials(port: int, folder: Path) -> Path:
    """The password file (generated once) and the libpq password file for `port`."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    password_file = folder / "password"
    if not password_file.exists():
        _private(password_file, secrets.token_urlsafe(24))
    password = password_file.read_text().strip()
    _private(folder / "pgpass", f"127.0.0.1:{port}:{DATABASE}:{ROLE}:{password}\n")
    return password_file


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=300)


def container_state(name: str) -> str:
    """`running`, `exited`, … or "" when there is no such container."""
    found = docker("inspect", "-f", "{{.State.Status}}", name, check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def ready(name: str, port: int) -> bool:
    return docker("exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port),
                  "-U", ROLE, "-d", DATABASE, check=False).returncode == 0


def start(name: str, port: int, folder: Path, timeout: float = 90) -> str:
    password_file = credentials(port, folder)
    state = container_state(name)
    if state == "":
        docker("run", "-d", "--name", name, "--network", "host", "--restart", "unless-stopped",
               "--label", "netbird-keycloak.role=state-db",
               "-v", f"{name}-data:/var/lib/postgresql/data",
               "-v", f"{password_file.resolve()}:{SECRET_IN_CONTAINER}:ro",
               "-e", f"POSTGRES_USER={ROLE}", "-e", f"POSTGRES_DB={DATABASE}",
               "-e", f"POSTGRES_PASSWORD_FILE={SECRET_IN_CONTAINER}",
               IMAGE, "postgres", "-p", str(port), "-c", "listen_addresses=127.0.0.1")
    elif state != "running":
        docker("start", name)
    deadline = time.monotonic() + timeout
    while not ready(name, port):
        if container_state(name) not in ("running", "restarting"):
            logs = docker("logs", "--tail", "20", name, check=False)
            raise SystemExit(f"state database {name} stopped while starting:\n"
                             f"{logs.stdout}{logs.stderr}")
        if time.monotonic() > deadline:
            raise SystemExit(f"state database {name} not ready on 127.0.0.1:{port} after "
                             f"{timeout:.0f} s: see `docker logs {name}`")
        time.sleep(0.5)
    return backend_url(port, folder)


def stop(name: str) -> None:
    if container_state(name):
        docker("stop", name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "url"])
    parser.add_argument("--name", default=NAME)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--dir", type=Path, default=ROOT / ".state-db")
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop(args.name)
        print(f"stopped {args.name}; its volume {args.name}-data keeps the state")
        return 0
    url = start(args.name, args.port, args.dir) if args.command == "start" \
        else backend_url(args.port, args.dir)
    if args.command == "start":
        print(f"state database {args.name} ready on 127.0.0.1:{args.port} "
              f"(data in volume {args.name}-data). Use it with:", file=sys.stderr)
    print(f"export PULUMI_BACKEND_URL='{url}'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
