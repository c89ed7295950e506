"""KeycloakDatabase: the Postgres container that holds Keycloak's data (`keycloak:database:
postgres`), so replacing or upgrading the Keycloak container never touches a realm or a user."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components.adoption import OWNER_ATTRIBUTE, StaleContainers, this_stack
from components.settings import KeycloakSettings

DATABASE = "keycloak"
ROLE = "keycloak"
# How long a container removed by a destroy or a replacement gets to stop: without it Docker
# kills it at once, and Keycloak's dev-file database loses what it had not flushed yet (a realm
# deleted just before came back, seen in the end-to-end tests).
STOP_GRACE_SECONDS = 60
# Postgres reads its first password from here (POSTGRES_PASSWORD_FILE), not from its environment,
# which `docker inspect` shows to anyone allowed to list containers.
PASSWORD_FILE = "/run/secrets/postgres-password"


def switch_refusal(wanted: str, had: Optional[str], confirmed: bool,
                   realm: str) -> Optional[str]:
    """Why this run must not point a deployed Keycloak at another database (None: it may). A
    new database starts empty: switching keycloak:database would leave the realm and its users
    behind in the old one (its volume is kept, nothing is deleted) while the state still lists
    them, so the switch needs the stack's confirmation for that run."""
    if had is None or had == wanted or confirmed:
        return None
    return (f"keycloak:database changes from {had} to {wanted}: the new database starts empty, "
            f"so Keycloak would come up without realm {realm!r} and its users (they stay in the "
            "old database, whose volume is kept). Move them first (kc.sh export on the old "
            "Keycloak, kc.sh import on the new one), then run once with `pulumi config set "
            "keycloak:confirmDatabaseSwitch true`, and unset it afterwards. Nothing was changed.")


def owner_label() -> docker.ContainerLabelArgs:
    """Marks a container as this stack's, so the program may remove it when an interrupted `up`
    left it unrecorded (components/adoption.py)."""
    return docker.ContainerLabelArgs(label=OWNER_ATTRIBUTE, value=this_stack())


class KeycloakDatabase(pulumi.ComponentResource):
    """Outputs: `jdbc_url` (known once Postgres accepts connections), `username`, `password`
    (secret)."""

    jdbc_url: pulumi.Output[str]

    def __init__(self, name: str, settings: KeycloakSettings, docker_provider: docker.Provider,
                 network: Optional[docker.Network], password: pulumi.Output[str],
                 stale: Optional[StaleContainers] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("netbird:index:KeycloakDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=docker_provider)
        image = docker.RemoteImage(f"{name}-image", name=settings.postgres_image,
                                   keep_locally=True, opts=child)
        # Every realm, user and client secret lives here: kept when the stack is destroyed.
        self.volume = volume = docker.Volume(f"{name}-data", name=settings.database_volume_name,
                               opts=pulumi.ResourceOptions.merge(
                                   child, pulumi.ResourceOptions(retain_on_delete=True)))
        port = str(settings.database_port)
        host_network = settings.network_mode == "host"
        self.username = ROLE
        self.password = pulumi.Output.secret(password)
        if stale is not None:
            stale.remove(settings.database_container_name)
        container = docker.Container(
            f"{name}-container",
            name=settings.database_container_name,
            image=image.image_id,
            # With host networking Postgres shares the host's ports: loopback only.
            command=["postgres", "-p", port,
                     *(["-c", "listen_addresses=127.0.0.1"] if host_network else [])],
            envs=[f"POSTGRES_USER={ROLE}", f"POSTGRES_DB={DATABASE}",
                  f"POSTGRES_PASSWORD_FILE={PASSWORD_FILE}"],
            uploads=[docker.ContainerUploadArgs(file=PASSWORD_FILE, content=self.password,
                                                permissions="0600")],
            network_mode="host" if host_network else network.name,
            volumes=[docker.ContainerVolumeArgs(container_path="/var/lib/postgresql/data",
                                                volume_name=volume.name)],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "pg_isready", "-h", "127.0.0.1", "-p", port, "-U", ROLE,
                       "-d", DATABASE],
                interval="2s", timeout="5s", retries=60, start_period="5s"),
            # Keycloak is started only once Postgres accepts connections.
            wait=True,
            wait_timeout=180,
            restart="unless-stopped",
            labels=[owner_label()],
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            # Its name and port are literal: a replaced container must go before the new one.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                delete_before_replace=True)),
        )
        # On a shared network Keycloak finds Postgres by its container name.
        host = "127.0.0.1" if host_network else settings.database_container_name
        self.jdbc_url = container.id.apply(
            lambda _: f"jdbc:postgresql://{host}:{port}/{DATABASE}")
        self.register_outputs({"jdbc_url": self.jdbc_url})
