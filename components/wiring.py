"""The names `__main__.py` gives its components, and what follows from them (what adoption looks
for, which containers a stack runs), with the steps of the program that come before any
resource: the settings read, the state looked at."""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components import adoption, netbird_connector, netbird_realm, secrets_beside_data
from components.adoption import Declared, Recorded, StaleContainers
from components.keycloak_database import switch_refusal
from components.settings import Settings, SettingsError, load_from_pulumi
from components.stack_secrets import STASHES

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
    found = [(f"{SERVER}-container", keycloak.container_name),
             (f"{SERVER}-secrets-container", keycloak.secrets_name)]
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
              for name in (keycloak.volume_name, keycloak.database_volume_name,
                           keycloak.secrets_name) if name]
    ports = [keycloak.http_port, keycloak.management_port]
    if keycloak.database == "postgres" and keycloak.network_mode == "host":
        ports.append(keycloak.database_port)  # on a bridge network it is not published
    return found + [("port", engine, str(port)) for port in ports]


def load_settings() -> Settings:
    """The stack's settings, or the run stopped with every bad one named (RunError prints the
    message alone: the operator needs the keys and fixes, not a traceback)."""
    try:
        return load_from_pulumi()
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None


def look_before_acting(settings: Settings
                       ) -> tuple[Recorded, Optional[StaleContainers], dict[str, str]]:
    """What the state records, read once before any resource; what an interrupted earlier `up`
    left unrecorded (taken over, not created again: components/adoption.py); and the secrets a
    destroyed deploy of this stack kept beside its data ({}: none). Stops the run when the state
    cannot be read, a foreign container or copy of secrets holds a name, or a deployed Keycloak
    would be given another, empty database unnoticed."""
    try:
        recorded = Recorded.of_this_stack()
        if not settings.keycloak.deploy:
            return recorded, None, {}
        refusal = switch_refusal(settings.keycloak.database,
                                 recorded.last_output("keycloak_database"),
                                 settings.keycloak.confirm_database_switch, settings.netbird.realm)
        stale = StaleContainers(containers(settings), settings.keycloak.docker_host,
                                settings.keycloak.docker_cert_path, recorded,
                                adoption.this_stack())
        # Only a state without secrets can lack the ones its data was made with.
        beside_data = {} if any(stash in recorded.ids for stash in STASHES.values()) else \
            secrets_beside_data.read(settings.keycloak, adoption.this_stack())
    except adoption.AdoptionRefused as error:
        raise pulumi.RunError(str(error)) from None
    if refusal:
        raise pulumi.RunError(refusal)
    return recorded, stale, beside_data


def kept_with(data: pulumi.Resource) -> None:
    """Keycloak's objects live in its data: when `destroy` keeps the data (its volume is
    retained), they stay in it, untouched, for the next `up` to take over (components/
    adoption.py). Removed from the program while the data stays, each is deleted as usual."""
    pulumi.runtime.register_resource_transform(deleted_with(data))


def deleted_with(data: pulumi.Resource) -> pulumi.ResourceTransform:
    """The transform giving every Keycloak object `deleted_with` the data it lives in."""
    def transform(args: pulumi.ResourceTransformArgs
                  ) -> Optional[pulumi.ResourceTransformResult]:
        if not (args.custom and args.type_.startswith("keycloak:")):
            return None
        return pulumi.ResourceTransformResult(props=args.props, opts=pulumi.ResourceOptions.merge(
            args.opts, pulumi.ResourceOptions(deleted_with=data)))
    return transform


def adopting(settings: Settings, admin_login: pulumi.Input[dict],
             user_password: pulumi.Input[str], recorded: Recorded,
             reopened: bool = False) -> Optional[pulumi.ResourceOptions]:
    """The options that take over the Keycloak objects an interrupted `up` created but did not
    record, or that a destroy kept in the data this run opens again (`reopened`); None when the
    state records them all (no lookups)."""
    objects = adoptable(settings)
    if not (reopened or recorded.may_lack([declared.resource for declared in objects])):
        return None
    return pulumi.ResourceOptions(transforms=[adoption.KeycloakAdoption(
        objects, settings.netbird.realm, settings.keycloak.admin_base_url, admin_login,
        user_password, recorded, adoption.this_stack(), reopened).transform])


def export(**outputs: Any) -> None:
    for name, value in outputs.items():
        pulumi.export(name, value)
