"""PulumiServiceAccount: the master-realm client Pulumi logs in with, and the hand-off to it.

Keycloak 26 bootstraps a deployed Keycloak with a *temporary* admin service account (its
environment holds the stack's generated bootstrap secret). On the first `up` this resource logs
in as that temporary admin, creates the permanent confidential client (service accounts only,
holding the master realm's `admin` role, its secret the stack's admin client secret), checks
that it logs in, and deletes every temporary admin of the master realm. Every Keycloak resource
of the stack logs in with the permanent client from then on, so after the first `pulumi up` no
temporary admin is left and the secret in the container's environment opens nothing.

Each step is safe to repeat: a run killed anywhere is finished by the next `up`, because the
create starts from whichever of the two credentials Keycloak accepts. pulumi-keycloak cannot do
this (the client it would create is the one it must log in with), hence a dynamic provider
speaking Keycloak's Admin REST API; it is part of the program, under the engine's lock, preview
and state.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Optional

import pulumi
from pulumi.dynamic import (CreateResult, DiffResult, ReadResult, Resource, ResourceProvider,
                            UpdateResult)

from components.adoption import OWNER_ATTRIBUTE
from foundation.keycloak_admin import admin_login, http

MASTER = "master"
TEMPORARY = "is_temporary_admin"
# The temporary admin's client id (KC_BOOTSTRAP_ADMIN_CLIENT_ID of the container).
BOOTSTRAP_CLIENT_ID = "netbird-keycloak-bootstrap"
TIMEOUT = 30
# The engine's provider of every Python dynamic resource. It is given the whole stack config, so
# each config change shows as an update of it in a preview, with nothing to do.
DYNAMIC_PROVIDER = "pulumi:providers:pulumi-python"


class HandOffFailed(Exception):
    pass


class _Master:
    """An Admin REST session on the master realm, or None when the credentials are refused."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    @classmethod
    def login(cls, base: str, client_id: str, secret: str) -> Optional["_Master"]:
        status, answer = admin_login(base, client_id=client_id, client_secret=secret)
        if status == 0:
            raise HandOffFailed(f"Keycloak at {base} does not answer: {answer}")
        return cls(base, answer["access_token"]) if status == 200 else None

    def __call__(self, method: str, path: str, body: Any = None, ok=(200, 201, 204)) -> Any:
        status, answer = http(method, f"{self.base}/admin/realms/{MASTER}{path}", body=body,
                              token=self.token, timeout=TIMEOUT)
        if status not in ok:
            raise HandOffFailed(f"{method} /admin/realms/{MASTER}{path}: {status} {answer}")
        return answer

    def administers(self) -> bool:
        """Whether this login may manage the master realm's clients: a client that a killed
        hand-off created, but did not yet grant `admin`, logs in and may do nothing."""
        status, answer = http("GET", f"{self.base}/admin/realms/{MASTER}/clients?first=0&max=1",
                              token=self.token, timeout=TIMEOUT)
        if status == 0:
            raise HandOffFailed(f"Keycloak at {self.base} does not answer: {answer}")
        return status == 200

    def client(self, client_id: str) -> Optional[dict]:
        found = self("GET", f"/clients?clientId={urllib.parse.quote(client_id)}")
        return next((c for c in found if c["clientId"] == client_id), None)


def _representation(client_id: str, secret: str, owner: str) -> dict:
    return {"clientId": client_id, "name": "netbird-keycloak (Pulumi)",
            "description": "Pulumi logs in with this client; created and managed by "
                           "netbird-keycloak",
            "enabled": True, "publicClient": False, "secret": secret,
            "serviceAccountsEnabled": True, "standardFlowEnabled": False,
            "implicitFlowEnabled": False, "directAccessGrantsEnabled": False,
            "attributes": {OWNER_ATTRIBUTE: owner}}


def _ensure_client(admin: _Master, props: dict) -> str:
    """Creates the client, or gives an existing one the stack's secret; grants `admin`."""
    wanted = _representation(props["client_id"], props["client_secret"], props["owner"])
    client = admin.client(props["client_id"])
    marked = ((client or {}).get("attributes") or {}).get(OWNER_ATTRIBUTE)
    if marked and marked != props["owner"]:
        raise HandOffFailed(f"the master-realm client {props['client_id']} belongs to stack "
                            f"{marked}, not {props['owner']}: choose another "
                            "keycloak:adminClientId. Nothing was changed.")
    if client is None:
        admin("POST", "/clients", wanted)
        client = admin.client(props["client_id"])
    else:
        admin("PUT", f"/clients/{client['id']}", {**client, "secret": props["client_secret"]})
    user = admin("GET", f"/clients/{client['id']}/service-account-user")
    role = admin("GET", "/roles/admin")
    admin("POST", f"/users/{user['id']}/role-mappings/realm", [role])
    return client["id"]


def _temporary(admin: _Master) -> list[tuple[str, str, str]]:
    """(path, id, name) of every temporary admin (user or service account) of the master realm."""
    users = admin("GET", f"/users?q={TEMPORARY}:true&briefRepresentation=false")
    found = [("users", u["id"], u["username"]) for u in users
             if (u.get("attributes") or {}).get(TEMPORARY) == ["true"]]
    return found + [("clients", c["id"], c["clientId"]) for c in admin("GET", "/clients")
                    if (c.get("attributes") or {}).get(TEMPORARY) == "true"]


def _temporary_admins(admin: _Master) -> list[str]:
    return sorted(name for _, _, name in _temporary(admin))


def _retire_temporary_admins(admin: _Master) -> None:
    for path, ident, _ in _temporary(admin):
        admin("DELETE", f"/{path}/{ident}", ok=(204, 404))


def _locked_out(props: dict) -> HandOffFailed:
    where = f"the data volume {props['data']}" if props.get("data") else "its database"
    return HandOffFailed(
        f"Keycloak at {props['url']} accepts neither this stack's admin client secret nor its "
        f"bootstrap secret: {where} was set up by an earlier deploy whose secrets this stack no "
        "longer holds (its state was destroyed or lost, and no copy of them was kept beside the "
        f"data in volume {props.get('kept') or '-'}). Nothing in Keycloak was changed. Ways "
        "out: set the old secret with `pulumi config set --secret keycloak:adminClientSecret` "
        "(from a backup of the old stack); or, if that Keycloak's data is not needed, remove it "
        f"(`docker rm -f {props['container']}` and `docker volume rm {props['data']}`) and run "
        "`pulumi up` again; or create a recovery admin with `kc.sh bootstrap-admin service` "
        "(Keycloak's 'Bootstrapping and recovering an admin account').")


class _Provider(ResourceProvider):
    def _hand_off(self, props: dict, old_secret: str = "") -> dict:
        base = props["url"].rstrip("/")
        # The permanent client first: after the first run it is the one that works; its old
        # secret while a rotation is unfinished; the temporary admin before the first hand-off.
        candidates = ((props["client_id"], props["client_secret"]),
                      (props["client_id"], old_secret),
                      (BOOTSTRAP_CLIENT_ID, props.get("bootstrap_secret")))
        admin = next((a for a in (_Master.login(base, client, secret)
                                  for client, secret in candidates if secret)
                      if a is not None and a.administers()), None)
        if admin is None:
            raise _locked_out(props)
        ident = _ensure_client(admin, props)
        admin = _Master.login(base, props["client_id"], props["client_secret"])
        if admin is None:
            raise HandOffFailed(f"the client {props['client_id']} was given its secret but "
                                "cannot log in with it; nothing else was changed")
        _retire_temporary_admins(admin)
        return {**props, "uuid": ident, "temporary_admins": []}

    def create(self, props: dict) -> CreateResult:
        outs = self._hand_off(props)
        return CreateResult(id_=outs["uuid"], outs=outs)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        keys = ("url", "client_id", "client_secret", "owner", "kept")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        if olds.get("temporary_admins"):  # found by a refresh: the update deletes them
            changed.append("temporary_admins")
        return DiffResult(changes=bool(changed), replaces=[], stables=["uuid"],
                          delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        return UpdateResult(outs=self._hand_off(news, old_secret=olds.get("client_secret", "")))

    def read(self, id_: str, props: dict) -> ReadResult:
        # A refresh checks that the client still logs in, and finds temporary admins that came
        # back (`kc.sh bootstrap-admin`): the next `up` deletes them.
        admin = _Master.login(props["url"].rstrip("/"), props["client_id"],
                              props["client_secret"])
        if admin is None:
            raise _locked_out(props)
        return ReadResult(id_=id_, outs={**props, "temporary_admins": _temporary_admins(admin)})

    def delete(self, _id: str, props: dict) -> None:
        # Kept on destroy: deleting it would lock Pulumi out of a Keycloak whose data is kept.
        # A plain `pulumi destroy` says so too: this is the one step of it that runs our code.
        if props.get("kept"):
            pulumi.log.info(kept_notice(props["data"], props["kept"]))


def kept_notice(data: str, kept: str) -> str:
    """What `destroy` leaves on the Docker engine, and how to remove it."""
    return (f"kept Keycloak's data (volume {data}: realms, users, clients, keys) and the secrets "
            f"that open it (volume {kept}): the next `pulumi up` of this stack opens them again. "
            f"To start afresh instead: `docker volume rm {data} {kept}` (or `make down PURGE=1`).")


class PulumiServiceAccount(Resource):
    """Outputs: `client_id`, `client_secret` (secret, known once the hand-off is done)."""

    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]

    def __init__(self, name: str, *, url: pulumi.Input[str], client_id: str,
                 client_secret: pulumi.Input[str], bootstrap_secret: pulumi.Input[str],
                 owner: str, container: str, data: str, kept: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_Provider(), name, {
            "url": url, "client_id": client_id, "client_secret": client_secret,
            "bootstrap_secret": bootstrap_secret, "owner": owner, "container": container,
            "data": data, "kept": kept, "uuid": None,
        }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["client_secret", "bootstrap_secret"])))
