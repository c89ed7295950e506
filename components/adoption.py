"""Adoption: Keycloak objects that an interrupted `up` created but never recorded.

When Keycloak, or the way to it, goes away after Keycloak created an object but before
pulumi-keycloak read the answer, the provider records nothing: the object exists, the state does
not know it, and the next create of it meets a 409. So before each `up` the driver
(`netbird_keycloak.adopt`) looks up, by natural key, every object this stack declares but its state
lacks, and hands the program the import id of each one it finds; the program imports those
instead of creating them. A realm is adopted only when it carries this stack's owner mark (set
in the same request that creates it), so a realm that someone else made is never taken over.

Containers are the other thing an interrupted `up` can leave unrecorded (a state backend that
stopped answering right after Docker created one), and pulumi-docker cannot import one (it does
not read back volumes, environment or labels, so the import would be a replacement). They hold
no data (that is on a volume or in Postgres), so the driver finds each one that carries this
stack's owner label and the program removes exactly that container, while `up` holds the stack's
lock and before it creates the container again; a container of that name without the label is
someone else's and stops the `up`. Run from the program, the removal cannot race another
operator's `up` of the same stack: that one holds the lock, and this `up` is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi

ENV = "NETBIRD_KEYCLOAK_ADOPT"
# {container name: container id} of the containers to remove before creating them again.
STALE_ENV = "NETBIRD_KEYCLOAK_STALE_CONTAINERS"
# A realm attribute, and a container label, naming the stack that created it.
OWNER_ATTRIBUTE = "netbird-keycloak.stack"

KINDS = ("realm", "user", "client", "client-scope", "audience-mapper")


@dataclass(frozen=True)
class Declared:
    """An object the program creates in Keycloak, found again by its natural key."""

    resource: str  # the Pulumi resource name, e.g. "netbird-user"
    kind: str  # one of KINDS
    key: str  # realm name, username, clientId, client-scope name or mapper name
    scope: Optional["Declared"] = None  # the client scope an audience mapper belongs to
    realm: Optional[str] = None  # another realm than the stack's (the master realm's client)


def owner(project: str, stack: str) -> str:
    return f"{project}/{stack}"


def this_stack() -> str:
    """The owner mark of the stack the program runs for."""
    return owner(pulumi.get_project(), pulumi.get_stack())


def import_id(declared: Declared, realm: str, object_id: str, scope_id: str = "") -> str:
    """The id pulumi-keycloak's importer takes for the object (its documented formats)."""
    if declared.kind == "realm":
        return realm
    if declared.kind == "audience-mapper":
        return f"{realm}/client-scope/{scope_id}/{object_id}"
    return f"{realm}/{object_id}"


def import_ids(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The import ids the driver passed, by resource name (none outside `make up`)."""
    text = environ.get(ENV, "")
    if not text:
        return {}
    ids = json.loads(text)
    if not isinstance(ids, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in ids.items()):
        raise ValueError(f"{ENV} must be a JSON object of resource name to import id")
    return ids


def docker_cli_env(host: Optional[str], cert_path: Optional[str]) -> Optional[dict[str, str]]:
    """The environment for the docker CLI to reach a stack's engine; None for ssh:// engines,
    whose `docker:sshOpts` the docker CLI cannot take: there `up` meets Docker's own conflict."""
    if (host or "").startswith("ssh://"):
        return None
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    if cert_path:
        env.update(DOCKER_CERT_PATH=cert_path, DOCKER_TLS_VERIFY="1")
    return env


def remove_stale_container(name: str, host: Optional[str], cert_path: Optional[str],
                           environ: Mapping[str, str] = os.environ) -> None:
    """Removes the container the driver found unrecorded under `name`, by its id, in `up` only
    (a preview changes nothing)."""
    stale = json.loads(environ.get(STALE_ENV) or "{}")
    env = docker_cli_env(host, cert_path)
    if name not in stale or env is None or pulumi.runtime.is_dry_run():
        return
    subprocess.run(["docker", "rm", "-f", stale[name]], check=True, capture_output=True, env=env,
                   timeout=120)
    pulumi.log.info(f"removed container {name} ({stale[name][:12]}): an interrupted earlier up "
                    "created it but never recorded it; this up creates it again (its data is on "
                    "its volume or in Postgres)")
