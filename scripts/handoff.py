"""After a deploying stack's first `up`: from Keycloak's temporary bootstrap admin to the service
account (components/pulumi_service_account.py).

The `up` that just succeeded logged in as the bootstrap admin and created the service account.
Here the driver checks that the service account can use the Admin API, deletes every temporary
admin of the master realm (so the admin console shows no temporary-admin warning and the
password in the container's environment opens nothing), removes `keycloak:adminPassword` from the
stack settings, and runs `up` once more so that the state records the provider's new login; a
preview after it shows no changes. `make admin-user` gives a human a permanent admin back.
"""

from __future__ import annotations

from typing import Callable

from pulumi import automation as auto

from components.settings import KeycloakSettings
from http_json import http
from local_keycloak import admin_login

TEMPORARY = "is_temporary_admin"


class HandoffFailed(Exception):
    pass


def service_account_token(keycloak: KeycloakSettings, secret: str = "") -> str:
    status, answer = admin_login(keycloak.admin_base_url, client_id=keycloak.admin_client_id,
                                 client_secret=secret or keycloak.admin_client_secret)
    if status != 200:
        raise HandoffFailed(
            f"the service account {keycloak.admin_client_id} cannot log in ({status}: {answer});"
            " keycloak:adminPassword stays set, so the next `make up` logs in as the bootstrap "
            "admin again and repeats this step")
    return answer["access_token"]


def temporary_admins(base: str, token: str) -> list[dict]:
    status, users = http("GET", f"{base}/admin/realms/master/users?q={TEMPORARY}:true"
                                "&briefRepresentation=false", token=token)
    if status != 200:
        raise HandoffFailed(f"the service account may not list master-realm users ({status}): "
                            "it lacks the realm `admin` role")
    return [u for u in users if (u.get("attributes") or {}).get(TEMPORARY) == ["true"]]


def hand_off(stack: auto.Stack, keycloak: KeycloakSettings, rerun: Callable[[], None],
             show: Callable[[str], None]) -> None:
    base = keycloak.admin_base_url
    token = service_account_token(keycloak)
    for user in temporary_admins(base, token):
        status, answer = http("DELETE", f"{base}/admin/realms/master/users/{user['id']}",
                              token=token)
        if status != 204:
            raise HandoffFailed(f"could not delete temporary admin {user['username']!r} "
                                f"({status}: {answer})")
        show(f"deleted Keycloak's temporary bootstrap admin {user['username']!r}")
    stack.remove_config("keycloak:adminPassword")
    show(f"removed keycloak:adminPassword from stack {stack.name!r}: from now on Pulumi logs in "
         f"as the service account {keycloak.admin_client_id} (`make admin-user STACK="
         f"{stack.name}` creates a permanent admin for people)")
    rerun()
