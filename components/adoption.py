"""Adoption: what an interrupted `up` created but never recorded, found and taken over by the
program itself, so that a plain `pulumi up` converges as `make up` does.

When Keycloak, or the way to it, goes away after Keycloak created an object but before
pulumi-keycloak read the answer, the provider records nothing: the object exists, the state does
not know it, and the next create of it meets a 409. So for every object this stack declares but
its state lacks, the program looks it up in Keycloak by its natural key and imports what it finds
instead of creating it (a resource transform: the lookups need the admin login, which is a
secret Output, and a transform may wait for one). A realm is adopted only when it carries this
stack's owner mark (set in the same request that creates it), so a realm that someone else made
is never taken over.

Containers are the other thing an interrupted `up` can leave unrecorded (a state backend that
stopped answering right after Docker created one), and pulumi-docker cannot import one (it does
not read back volumes, environment or labels, so the import would be a replacement). They hold
no data (that is on a volume or in Postgres), so the program finds each one that carries this
stack's owner label and removes exactly that container before it creates it again; a container
of that name without the label is someone else's and stops the run before anything changes.
All of it runs under the engine, which holds the stack's lock: no other operator's `up` of the
same stack can race it.

What the state records is read once, before the program registers anything (so this run's own
records never count): from a file backend's state file in place; on any other backend from
`pulumi stack export` (one CLI run).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import pulumi

from foundation import file_state
from foundation.keycloak_admin import admin_login, http

# A realm attribute, and a container label, naming the stack that created it.
OWNER_ATTRIBUTE = "netbird-keycloak.stack"

KINDS = ("realm", "user", "client", "client-scope", "scope-mapper", "group")

# A Docker engine or a CLI that does not answer in this long is reported, not waited on.
TIMEOUT = 60


@dataclass(frozen=True)
class Declared:
    """An object the program creates in Keycloak, found again by its natural key."""

    resource: str  # the Pulumi resource name, e.g. "netbird-user"
    kind: str  # one of KINDS
    key: str  # realm name, username, clientId, client-scope, mapper or group name
    scope: Optional["Declared"] = None  # the client scope a scope mapper belongs to
    realm: Optional[str] = None  # another realm than the stack's (the master realm's client)


class AdoptionRefused(Exception):
    """An object of this stack's name exists, made by someone else."""


def owner(project: str, stack: str) -> str:
    return f"{project}/{stack}"


def this_stack() -> str:
    """The owner mark of the stack the program runs for."""
    return owner(pulumi.get_project(), pulumi.get_stack())


def import_id(declared: Declared, realm: str, object_id: str, scope_id: str = "") -> str:
    """The id pulumi-keycloak's importer takes for the object (its documented formats)."""
    if declared.kind == "realm":
        return realm
    if declared.kind == "scope-mapper":
        return f"{realm}/client-scope/{scope_id}/{object_id}"
    return f"{realm}/{object_id}"


def live(resources: list[dict]) -> list[dict]:
    """The resources of a state but those a replacement left marked for deletion: after an
    interrupted `up` the state holds both the new and the old one under one name."""
    return [r for r in resources if not r.get("delete")]


def recorded_ids(resources: list[dict]) -> dict[str, str]:
    """{resource name: id} of the custom resources a state records."""
    return {r["urn"].rsplit("::", 1)[1]: r.get("id", "") for r in live(resources)
            if r.get("custom")}


def _exported(stack: str, run: Callable[..., subprocess.CompletedProcess]) -> list[dict]:
    """The resources of the stack's state as the CLI exports them (secrets stay encrypted)."""
    root = os.environ.get("PULUMI_CLI_ROOT")  # the bootstrap's CLI, as `make` runs it
    cli = os.path.join(root, "bin", "pulumi") if root else shutil.which("pulumi")
    if cli is None:
        raise AdoptionRefused(
            "cannot tell what the state records: no `pulumi` on PATH (after `eval \"$(make -s "
            "pulumi-env)\"` it is). Nothing was changed.")
    done = run([cli, "stack", "export", "--stack", stack], capture_output=True, text=True,
               timeout=TIMEOUT)
    if done.returncode != 0:
        raise AdoptionRefused(f"cannot read the state of stack {stack!r}: "
                              f"{done.stderr.strip()}. Nothing was changed.")
    return (json.loads(done.stdout).get("deployment") or {}).get("resources") or []


class Recorded:
    """What the stack's state records, read once, before this run records anything: a file
    backend's from its file, any other's exported through the CLI. Raises AdoptionRefused when
    the state cannot be read."""

    def __init__(self, project: str, stack: str, qualified: str,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run):
        state_file = file_state.path(project, stack)
        # A file backend without the stack's file has recorded nothing.
        self.resources = file_state.resources(project, stack) or [] \
            if state_file is not None and not file_state.compressed(state_file) \
            else _exported(qualified, run)
        self.ids = recorded_ids(self.resources)

    @classmethod
    def of_this_stack(cls) -> "Recorded":
        project, stack = pulumi.get_project(), pulumi.get_stack()
        return cls(project, stack, f"{pulumi.get_organization()}/{project}/{stack}")

    def last_output(self, key: str) -> Optional[Any]:
        """A plain output of the stack as its last run recorded it (None: none)."""
        for resource in self.resources:
            if resource.get("type") == "pulumi:pulumi:Stack":
                value = (resource.get("outputs") or {}).get(key)
                return None if isinstance(value, dict) else value
        return None

    def inputs(self, name: str) -> dict[str, Any]:
        """The inputs the state records for the live custom resource `name` ({}: none)."""
        for resource in live(self.resources):
            if resource.get("custom") and resource["urn"].rsplit("::", 1)[1] == name:
                return resource.get("inputs") or {}
        return {}

    def may_lack(self, names: list[str]) -> bool:
        """Whether an `up` ever ran and left one of these unrecorded."""
        return bool(self.ids) and any(name not in self.ids for name in names)


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


class StaleContainers:
    """The containers of this stack that Docker has and the state does not record (not at all,
    or under another id: a replacement killed between its delete and its record)."""

    def __init__(self, containers: list[tuple[str, str]], host: Optional[str],
                 cert_path: Optional[str], recorded: Recorded, mine: str,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run):
        """`containers`: (resource name, container name) of each container the stack runs.
        Raises AdoptionRefused for a container of one of these names that is not this stack's."""
        self._env, self._run = docker_cli_env(host, cert_path), run
        self.found: dict[str, str] = {}  # container name -> id
        if self._env is None or not recorded.ids:
            return  # an engine the docker CLI cannot reach, or no up ever ran on the stack
        for resource, name in containers:
            inspect = run(["docker", "inspect", "-f",
                           f'{{{{.Id}}}} {{{{index .Config.Labels "{OWNER_ATTRIBUTE}"}}}}',
                           name], capture_output=True, text=True, env=self._env,
                          timeout=TIMEOUT)
            if inspect.returncode != 0:  # no such container: up creates it
                continue
            ident, _, label = inspect.stdout.strip().partition(" ")
            if recorded.ids.get(resource) == ident:
                continue
            if label != mine:
                raise AdoptionRefused(
                    f"a container named {name!r} exists on the Docker engine and was not created "
                    f"by this stack (its label {OWNER_ATTRIBUTE} is {label or 'missing'}). Remove "
                    "or rename it, or choose another keycloak:containerName. Nothing was changed.")
            self.found[name] = ident

    def remove(self, name: str) -> None:
        """Removes the container found unrecorded under `name`, by its id, in `up` only (a
        preview changes nothing)."""
        if name not in self.found or pulumi.runtime.is_dry_run():
            return
        ident = self.found[name]
        self._run(["docker", "rm", "-f", ident], check=True, capture_output=True, env=self._env,
                  timeout=TIMEOUT)
        pulumi.log.info(f"removed container {name} ({ident[:12]}): an interrupted earlier up "
                        "created it but never recorded it; this up creates it again (its data "
                        "is on its volume or in Postgres)")


class _Lookups:
    """Just enough of Keycloak's Admin REST API: lookups by natural key, one password reset."""

    def __init__(self, base: str, login: Mapping[str, str], realm: str):
        self.base, self.realm = base.rstrip("/"), realm
        status, token = admin_login(self.base, **login)
        self.token = token["access_token"] if status == 200 else None

    def get(self, path: str, realm: Optional[str] = None) -> Any:
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
        if declared.kind == "scope-mapper" and scope_id:
            mappers = self.get(f"/client-scopes/{scope_id}/protocol-mappers/models") or []
            return next((m["id"] for m in mappers if m["name"] == declared.key), None)
        if declared.kind == "group":  # top-level groups: the program makes no others
            groups = self.get(f"/groups?search={quoted}&exact=true") or []
            return next((g["id"] for g in groups if g["name"] == declared.key), None)
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


class KeycloakAdoption:
    """A resource transform that imports each declared object the state lacks and Keycloak has.

    Nothing is looked up when no `up` ever ran on the stack, when the state records the object
    (the usual case), when the realm does not exist yet, or when Keycloak does not answer: then
    `up` creates what is missing, or fails with the provider's own error."""

    def __init__(self, declared: list[Declared], realm: str, base_url: str,
                 login: pulumi.Input[Mapping[str, str]], user_password: pulumi.Input[str],
                 recorded: Recorded, mine: str, reopened: bool = False):
        """`reopened`: this run opens data a destroy kept, so nothing is recorded and
        everything may exist."""
        self._declared = {d.resource: d for d in declared}
        self._reopened = reopened
        self._realm, self._base, self._mine = realm, base_url, mine
        self._login, self._password = login, user_password
        self._recorded = recorded
        self._adopted: dict[str, str] = {}  # resource name -> Keycloak id
        # One login and realm read, shared by every transform.
        self._session: Optional[asyncio.Future] = None

    async def transform(self, args: pulumi.ResourceTransformArgs
                        ) -> Optional[pulumi.ResourceTransformResult]:
        declared = self._declared.get(args.name)
        if declared is None or not args.custom:
            return None
        try:
            found = await self._find(declared)
        except AdoptionRefused as error:
            pulumi.log.error(str(error))
            return None
        if found is None:
            return None
        why = "kept in Keycloak's data by the stack's destroy" if self._reopened else \
            "created in Keycloak by an interrupted earlier up"
        pulumi.log.info(f"adopting {declared.resource} ({found}): {why}")
        return pulumi.ResourceTransformResult(
            props=args.props,
            opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(import_=found)))

    async def _lookups(self) -> Optional[tuple[_Lookups, Any]]:
        if self._session is None:
            self._session = asyncio.ensure_future(self._open())
        return await self._session

    async def _open(self) -> Optional[tuple[_Lookups, Any]]:
        login = await pulumi.Output.from_input(self._login).future()
        if not login:  # unknown in a preview: nothing that exists yet to log in to
            return None
        lookups = await asyncio.to_thread(_Lookups, self._base, login, self._realm)
        if lookups.token is None:  # no Keycloak answering: nothing to adopt
            return None
        return lookups, await asyncio.to_thread(lookups.get, "")

    async def _find(self, declared: Declared) -> Optional[str]:
        """The import id of the object when the state lacks it and Keycloak has it."""
        ids = self._recorded.ids
        if declared.resource in ids or not (ids or self._reopened):
            return None  # recorded, or never ran on data of its own: nothing to adopt
        session = await self._lookups()
        if session is None:
            return None
        lookups, representation = session
        if representation is None and declared.realm is None:
            return None  # no realm yet: nothing in it to adopt
        if declared.kind == "realm":
            object_id, scope_id = self._realm, ""
        else:
            scope_id = ""
            if declared.scope:  # the mapper's scope: recorded, or adopted just before it
                scope_id = self._adopted.get(declared.scope.resource) or \
                    ids.get(declared.scope.resource, "")
            object_id = await asyncio.to_thread(lookups.find_id, declared, scope_id)
            if object_id is None:
                return None
        if declared.kind == "realm":
            marked = (representation.get("attributes") or {}).get(OWNER_ATTRIBUTE)
            if marked != self._mine:
                pulumi.log.error(
                    f"realm {self._realm!r} already exists in the Keycloak at {self._base} and "
                    f"was not created by stack {self._mine!r} (its owner mark {OWNER_ATTRIBUTE} "
                    f"is {marked or 'missing'}). Choose another netbird:realm, or remove that "
                    "realm if it is really unused. This up does not touch it.")
                return None
        self._adopted[declared.resource] = object_id
        if declared.kind == "user":
            await self._password_if_missing(lookups, object_id, declared.key)
        return import_id(declared, declared.realm or self._realm, object_id, scope_id)

    async def _password_if_missing(self, lookups: _Lookups, user_id: str, name: str) -> None:
        """A create stopped between the user and its password leaves the user without one, and
        an import would too: the provider sets initial_password only when it creates."""
        if pulumi.runtime.is_dry_run() or await asyncio.to_thread(lookups.has_password, user_id):
            return
        password = await pulumi.Output.from_input(self._password).future()
        if password and await asyncio.to_thread(lookups.set_password, user_id, password):
            pulumi.log.info(f"adopting: set the password of user {name!r}, as its interrupted "
                            "create would have")
