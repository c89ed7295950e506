"""Before `up`: finds the Keycloak objects an interrupted earlier `up` created but never recorded
(components/adoption.py says why), so that the program imports them instead of meeting a 409.

Nothing is looked up in Keycloak when no `up` ever ran on the stack, when the state already
records every object (the usual case), when the realm does not exist yet, or when Keycloak does
not answer: then `up` creates what is missing, or fails with the provider's own error.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Optional

from pulumi import automation as auto

from components import wiring
from components.adoption import (ENV, OWNER_ATTRIBUTE, STALE_ENV, Declared, docker_cli_env,
                                 import_id, owner)
from components.settings import RawValue, Settings, SettingsError, parse_settings
from components.stack_secrets import STASH_TYPE, STASHES
from netbird_keycloak import file_state
from netbird_keycloak.keycloak_admin import http
from netbird_keycloak.keycloak_admin import admin_login, login_for

# A Docker engine that does not answer `docker inspect` in this long is reported, not waited on.
DOCKER_TIMEOUT = 60


class AdoptionRefused(Exception):
    """A realm of this stack's name exists in Keycloak, made by someone else."""


@dataclass
class Found:
    import_ids: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stale_containers: dict[str, str] = field(default_factory=dict)  # name -> id

    @property
    def environ(self) -> dict[str, str]:
        """What the program reads (components/adoption.py)."""
        return {ENV: json.dumps(self.import_ids), STALE_ENV: json.dumps(self.stale_containers)}


class _Admin:
    """Just enough of Keycloak's Admin REST API: lookups by natural key, one password reset."""

    def __init__(self, base: str, login: dict[str, str], realm: str):
        self.base, self.realm = base.rstrip("/"), realm
        status, token = admin_login(self.base, **login)
        self.token = token["access_token"] if status == 200 else None

    def get(self, path: str, realm: Optional[str] = None):
        status, body = http("GET", f"{self.base}/admin/realms/{realm or self.realm}{path}",
                            token=self.token, timeout=10)
        return body if status == 200 else None

    def find_id(self, declared: Declared, scope_id: str = "") -> Optional[str]:
        quoted = urllib.parse.quote(declared.key)
        if declared.kind == "user":
            users = self.get(f"/users?username={quoted}&exact=true") or []
            # Keycloak keeps usernames in lower case.
            return next((u["id"] for u in users if u["username"] == declared.key.lower()), None)
        if declared.kind == "client":
            clients = self.get(f"/clients?clientId={quoted}", declared.realm) or []
            return next((c["id"] for c in clients if c["clientId"] == declared.key), None)
        if declared.kind == "client-scope":
            scopes = self.get("/client-scopes") or []
            return next((s["id"] for s in scopes if s["name"] == declared.key), None)
        if declared.kind == "audience-mapper" and scope_id:
            mappers = self.get(f"/client-scopes/{scope_id}/protocol-mappers/models") or []
            return next((m["id"] for m in mappers if m["name"] == declared.key), None)
        return None

    def has_password(self, user_id: str) -> bool:
        return any(c.get("type") == "password"
                   for c in self.get(f"/users/{user_id}/credentials") or [])

    def set_password(self, user_id: str, password: str) -> bool:
        status, _ = http("PUT", f"{self.base}/admin/realms/{self.realm}/users/{user_id}/"
                         "reset-password", body={"type": "password", "value": password,
                                                 "temporary": False},
                         token=self.token, timeout=10)
        return status == 204


def _parsed(raw: dict[str, RawValue], stack: str) -> Optional[Settings]:
    try:
        return parse_settings(raw, stack)
    except SettingsError:
        return None  # the program reports them, before anything is touched


def decrypted_settings(stack: auto.Stack) -> Optional[Settings]:
    """The stack's settings with their secrets, those the program generated read back from the
    state; None when they are not valid."""
    raw = {key: RawValue(str(value.value), value.secret)
           for key, value in stack.get_all_config().items()}
    if any(key not in raw for key in STASHES):
        kept = kept_secrets(stack.export_stack().deployment.get("resources") or [])
        raw.update({key: RawValue(value, secret=True) for key, value in kept.items()
                    if key not in raw})
    return _parsed(raw, stack.name)


def kept_secrets(resources: list[dict]) -> dict[str, str]:
    """The secrets the program generated and keeps in the state (components/stack_secrets.py),
    by the setting that would choose them, from a state export with its secrets shown."""
    keys = {name: key for key, name in STASHES.items()}
    found = {}
    for resource in resources:
        name = resource["urn"].rsplit("::", 1)[-1]
        value = (resource.get("outputs") or {}).get("output")
        if resource.get("type") == STASH_TYPE and name in keys and value is not None:
            found[keys[name]] = state_value(value)
    return found


def state_value(value):
    """A value of a state export with secrets shown: a secret comes as its JSON plaintext."""
    return json.loads(value["plaintext"]) if isinstance(value, dict) and "plaintext" in value \
        else value


def _names_only(file_config: dict, stack: str) -> Optional[Settings]:
    """The settings as far as the stack file tells them without decrypting it: every name
    adoption looks for, with stand-ins for the secrets (no CLI call)."""
    return _parsed({key: RawValue("Stand-in-7Kq2-Wm9x", secret=True) if isinstance(value, dict)
                    else RawValue(str(value)) for key, value in file_config.items()}, stack)


def _recorded(stack: auto.Stack) -> list[dict]:
    """The stack's resources as the state records them."""
    recorded = file_state.resources(stack.workspace.project_settings().name, stack.name)
    if recorded is not None:
        return recorded
    return stack.export_stack().deployment.get("resources") or []


def find(stack: auto.Stack, file_config: dict,
         show: Callable[[str], None] = lambda line: None) -> Found:
    """The import ids for `up`, by resource name; raises AdoptionRefused for a foreign realm.
    `file_config` is the stack file's `config:` map as written."""
    resources = _recorded(stack)
    if not resources:  # no up ever ran on this stack (a failed one records the stack itself)
        return Found()
    recorded = {r["urn"].rsplit("::", 1)[1]: r.get("id", "") for r in resources
                if r.get("custom")}
    names = _names_only(file_config, stack.name)
    if names is None:
        return Found()
    mine = owner(stack.workspace.project_settings().name, stack.name)
    found = Found(stale_containers=stale_containers(names, recorded, mine))
    for name, ident in found.stale_containers.items():
        show(f"container {name} ({ident[:12]}): created by an interrupted earlier up but not "
             "recorded; this up removes it and creates it again")
    if all(d.resource in recorded for d in wiring.adoptable(names)):
        return found
    settings = decrypted_settings(stack)
    if settings is None:
        return found
    missing = [d for d in wiring.adoptable(settings) if d.resource not in recorded]
    realm = settings.netbird.realm
    admin = _Admin(settings.keycloak.admin_base_url, login_for(settings.keycloak), realm)
    if admin.token is None:  # no Keycloak answering: nothing to adopt
        return found
    representation = admin.get("")
    for declared in missing:
        if representation is None and declared.realm is None:
            continue  # no realm yet: nothing in it to adopt
        if declared.kind == "realm":
            _check_owner(representation, owner(stack.workspace.project_settings().name,
                                               stack.name), stack.name, settings)
            found.import_ids[declared.resource] = import_id(declared, realm, realm)
            continue
        scope_id = ""
        if declared.scope:  # the mapper's scope: recorded, or adopted just above
            scope_id = recorded.get(declared.scope.resource) or \
                found.import_ids.get(declared.scope.resource, "").rsplit("/", 1)[-1]
        object_id = admin.find_id(declared, scope_id)
        if object_id is None:
            continue
        found.import_ids[declared.resource] = import_id(declared, declared.realm or realm,
                                                        object_id, scope_id)
        # A create stopped between the user and its password leaves the user without one, and
        # an import would too: the provider sets initial_password only when it creates.
        if declared.kind == "user" and not admin.has_password(object_id) and \
                admin.set_password(object_id, settings.netbird.user_password):
            found.notes.append(f"set the password of user {declared.key!r}")
    for resource, ident in found.import_ids.items():
        show(f"adopting {resource} ({ident}): created in Keycloak by an interrupted earlier up")
    for note in found.notes:
        show(f"adopting: {note}, as its interrupted create would have")
    return found


def _check_owner(representation: dict, mine: str, stack: str, settings: Settings) -> None:
    marked = (representation.get("attributes") or {}).get(OWNER_ATTRIBUTE)
    if marked != mine:
        raise AdoptionRefused(
            f"realm {settings.netbird.realm!r} already exists in the Keycloak at "
            f"{settings.keycloak.admin_base_url} and was not created by stack {stack!r} (its "
            f"owner mark {OWNER_ATTRIBUTE} is {marked or 'missing'}). Choose another "
            "netbird:realm, or remove that realm if it is really unused. Nothing was changed.")



def stale_containers(settings: Settings, recorded: dict[str, str], mine: str
                     ) -> dict[str, str]:
    """{name: id} of each container of this stack that Docker has and the state does not record
    (not at all, or under another id: a replacement killed between its delete and its record);
    see components/adoption.py. Refuses when such a container is not marked as this stack's."""
    env = docker_cli_env(settings.keycloak.docker_host, settings.keycloak.docker_cert_path)
    found: dict[str, str] = {}
    for resource, name in wiring.containers(settings) if env is not None else []:
        inspect = subprocess.run(
            ["docker", "inspect", "-f",
             f'{{{{.Id}}}} {{{{index .Config.Labels "{OWNER_ATTRIBUTE}"}}}}', name],
            capture_output=True, text=True, env=env, timeout=DOCKER_TIMEOUT)
        if inspect.returncode != 0:  # no such container: up creates it
            continue
        ident, _, label = inspect.stdout.strip().partition(" ")
        if recorded.get(resource) == ident:
            continue
        if label != mine:
            raise AdoptionRefused(
                f"a container named {name!r} exists on the Docker engine and was not created by "
                f"stack {settings.stack!r} (its label {OWNER_ATTRIBUTE} is {label or 'missing'})."
                " Remove or rename it, or choose another keycloak:containerName. Nothing was "
                "changed.")
        found[name] = ident
    return found
