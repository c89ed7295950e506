"""The names `__main__.py` gives its components, and what follows from them (what adoption looks
for, which containers a stack runs)."""

from __future__ import annotations

from components import netbird_connector, netbird_realm
from components.adoption import Declared
from components.settings import Settings

SERVER = "keycloak"
REALM = "netbird"
SERVICE_ACCOUNT = "pulumi-service-account"
SECRETS = "stack-secrets"
CONNECTOR = "netbird-connector"
USER_PASSWORD = "netbird-user-password"
IDENTITY_PROVIDER = "netbird-identity-provider"
GROUP_SYNC = "netbird-group-sync"
MASTER_REALM = "master-realm-hardening"


def adoptable(settings: Settings) -> list[Declared]:
    """Every Keycloak object of the program that adoption looks for (components/adoption.py)."""
    objects = netbird_realm.adoptable(REALM, settings.netbird)
    if settings.netbird.integration == "connector":
        objects += netbird_connector.adoptable(CONNECTOR, settings.netbird)
    return objects


def user(settings: Settings) -> str:
    """The resource name of the NetBird user (its password: components/user_password.py)."""
    return next(declared.resource for declared in adoptable(settings) if declared.kind == "user")


def containers(settings: Settings) -> list[tuple[str, str]]:
    """(resource name, container name) of each container a deploying stack runs; they carry
    this stack's owner label (components/adoption.py)."""
    keycloak = settings.keycloak
    if not keycloak.deploy:
        return []
    found = [(f"{SERVER}-container", keycloak.container_name)]
    if keycloak.database == "postgres":
        found.append((f"{SERVER}-postgres-container", keycloak.database_container_name))
    return found
