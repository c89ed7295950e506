"""End-to-end fixtures: the real Pulumi engine, real Keycloak (in Docker and native), real HTTP.

A missing tool fails the run with the exact cause; nothing here skips.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.parse

import pytest

from tests.e2e import harness


def with_table(url: str, table: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query), table=table)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="/")))


@pytest.fixture(scope="session", autouse=True)
def pulumi_session(tmp_path_factory):
    problems = harness.missing_toolchain()
    if problems:
        pytest.fail("end-to-end tests cannot run:\n  " + "\n  ".join(problems), pytrace=False)
    harness.clear_leftovers()
    state = tmp_path_factory.mktemp("pulumi-state")
    saved = {k: os.environ.get(k) for k in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE",
                                             "PULUMI_CONFIG_PASSPHRASE_FILE")}
    # A fresh backend per run: a new folder, or on a given state database a new table.
    given = saved["PULUMI_BACKEND_URL"] or ""
    os.environ["PULUMI_BACKEND_URL"] = with_table(given, f"e2e_{secrets.token_hex(4)}") \
        if given.startswith("postgres://") else f"file://{state}"
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_urlsafe(24)
    os.environ.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    yield state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def native_keycloak(tmp_path_factory):
    """Started at first use and awaited only where needed, so it boots while Docker works."""
    keycloak = harness.NativeKeycloak(*harness.SHARED_KEYCLOAK_PORTS,
                                      tmp_path_factory.mktemp("kc") / "kc.log")
    yield keycloak
    keycloak.stop()


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    return harness.Project(tmp_path_factory.mktemp("project"))


def docker_names(kind: str) -> set[str]:
    command = {"container": ["docker", "ps", "-a", "--format", "{{.Names}}"],
               "volume": ["docker", "volume", "ls", "--format", "{{.Name}}"]}[kind]
    return set(subprocess.run(command, capture_output=True, text=True, check=True).stdout.split())
