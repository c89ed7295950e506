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


def claims(settings: Settings) -> list[tuple[str, ...]]:
    """What a stack takes for itself where another stack could take it too: on its Docker
    engine its containers, volumes and host ports; on an existing Keycloak its realm. Two stacks
    with a claim in common would manage one object (the fleet refuses them)."""
    keycloak = settings.keycloak
    if not keycloak.deploy:
        return [("realm", keycloak.url.rstrip("/"), settings.netbird.realm)]
    engine = keycloak.docker_host or "the local Docker engine"
    found = [("container", engine, name) for _, name in containers(settings)]
    found += [("volume", engine, name)
              for name in (keycloak.volume_name, keycloak.database_volume_name) if name]
    ports = [keycloak.http_port, keycloak.management_port]
    if keycloak.database == "postgres" and keycloak.network_mode == "host":
        ports.append(keycloak.database_port)  # on a bridge network it is not published
    return found + [("port", engine, str(port)) for port in ports]
