"""A customer stack's own service account on a shared Keycloak: least privilege per customer.

`fleet new <customer> --keycloak-url …` asks the shared Keycloak's administrator password once
(from an environment variable; never stored) and creates, in the master realm, a confidential
client `netbird-keycloak-<customer>` whose service account holds the master realm's
`create-realm` role and nothing else. The stack logs in with it. When its first `up` creates the
customer's realm, Keycloak gives the realm's creator that realm's admin roles, and only those:
the stack can administer its own realm, and is refused (403) on every other customer's realm and
on the master realm's users and clients. Only the client id (plain) and its secret (encrypted)
go into the stack file.
"""

from __future__ import annotations

import urllib.parse

from components.adoption import OWNER_ATTRIBUTE
from foundation.keycloak_admin import admin_login, http

TIMEOUT = 30


class AccountRefused(Exception):
    """The service account could not be made; nothing was stored."""


def client_id_for(customer: str) -> str:
    return f"netbird-keycloak-{customer}"


def create(base: str, admin_user: str, admin_password: str, client_id: str,
           owner: str) -> str:
    """Creates the customer's service account; returns its client secret."""
    base = base.rstrip("/")
    status, token = admin_login(base, user=admin_user, password=admin_password)
    if status != 200:
        raise AccountRefused(f"cannot log in to {base} as {admin_user!r} ({status}): check "
                             "--admin-user and the password variable")

    def call(method: str, path: str, body=None):
        return http(method, f"{base}/admin/realms/master{path}", body=body,
                    token=token["access_token"], timeout=TIMEOUT)

    status, found = call("GET", f"/clients?clientId={urllib.parse.quote(client_id)}")
    if status != 200:
        raise AccountRefused(f"cannot read the master realm's clients ({status}): "
                             f"{admin_user!r} must be a master-realm admin")
    if any(c.get("clientId") == client_id for c in found):
        raise AccountRefused(
            f"the client {client_id!r} exists already in the master realm of {base}: it belongs "
            "to this customer's earlier stack. Use that stack file, or delete the client (and "
            "with it that stack's access) first.")
    status, answer = call("POST", "/clients", {
        "clientId": client_id, "name": f"Pulumi: NetBird stack {owner}", "enabled": True,
        "protocol": "openid-connect", "publicClient": False, "serviceAccountsEnabled": True,
        "standardFlowEnabled": False, "directAccessGrantsEnabled": False,
        "implicitFlowEnabled": False, "attributes": {OWNER_ATTRIBUTE: owner}})
    if status != 201:
        raise AccountRefused(f"Keycloak refused the client {client_id!r} ({status}: {answer})")
    _, made = call("GET", f"/clients?clientId={urllib.parse.quote(client_id)}")
    uuid = made[0]["id"]
    _, user = call("GET", f"/clients/{uuid}/service-account-user")
    status, role = call("GET", "/roles/create-realm")
    if status != 200 or call("POST", f"/users/{user['id']}/role-mappings/realm",
                             [role])[0] != 204:
        call("DELETE", f"/clients/{uuid}")
        raise AccountRefused(f"could not give {client_id!r} the create-realm role ({status}); "
                             "the client was removed again")
    status, secret = call("GET", f"/clients/{uuid}/client-secret")
    if status != 200:
        call("DELETE", f"/clients/{uuid}")
        raise AccountRefused(f"could not read the secret of {client_id!r} ({status}); the "
                             "client was removed again")
    return secret["value"]
