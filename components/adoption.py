"""Adoption: Keycloak objects that an interrupted `up` created but never recorded.

When Keycloak, or the way to it, goes away after Keycloak created an object but before
pulumi-keycloak read the answer, the provider records nothing: the object exists, the state does
not know it, and the next create of it meets a 409. So before each `up` the driver
(`scripts/adopt.py`) looks up, by natural key, every object this stack declares but its state
lacks, and hands the program the import id of each one it finds; the program imports those
instead of creating them. A realm is adopted only when it carries this stack's owner mark (set
in the same request that creates it), so a realm that someone else made is never taken over.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping, Optional

ENV = "NETBIRD_KEYCLOAK_ADOPT"
# A realm attribute naming the stack that created the realm.
OWNER_ATTRIBUTE = "netbird-keycloak.stack"

KINDS = ("realm", "user", "client", "client-scope", "audience-mapper")


@dataclass(frozen=True)
class Declared:
    """An object the program creates in Keycloak, found again by its natural key."""

    resource: str  # the Pulumi resource name, e.g. "netbird-user"
    kind: str  # one of KINDS
    key: str  # realm name, username, clientId, client-scope name or mapper name
    scope: Optional["Declared"] = None  # the client scope an audience mapper belongs to


def owner(project: str, stack: str) -> str:
    return f"{project}/{stack}"


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
