"""KeycloakServer: the Keycloak container NetBird logs in against, or a Keycloak that already runs."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_docker as docker

from components.adoption import StaleContainers
from components.keycloak_database import STOP_GRACE_SECONDS, KeycloakDatabase, owner_label
from components.pulumi_service_account import BOOTSTRAP_CLIENT_ID
from components.secrets_beside_data import SecretsBesideData
from components.settings import KeycloakSettings

# The official image has neither curl nor wget; bash's /dev/tcp reaches the management port.
_READY_PROBE = (
    "exec 3<>/dev/tcp/{host}/{port} && "
    "printf 'GET /health/ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && "
    # The status line, not the body: single checks read "UP" while the whole server is DOWN.
    "head -n 1 <&3 | grep -q ' 200'"
)


# Keycloak reads its secrets from this file (--config-file), not from its environment, which
# `docker inspect` shows to anyone allowed to list containers. Group 0 is the official image's
# keycloak user's group (uid 1000, gid 0); our locally built image runs Keycloak as root.
SECRETS_FILE = "/run/secrets/keycloak.conf"


def keycloak_conf(options: dict[str, str]) -> str:
    """Options in Keycloak's config-file syntax, each value exactly as given: `\\` and `$` are
    escaped (Keycloak expands `${…}` in this file), so a password may hold any character."""
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace("$", "\\\\$").replace("\n", "\\n")
    return "".join(f"{name}={escaped(value)}\n" for name, value in options.items())


def container_command(settings: KeycloakSettings) -> list[str]:
    options = [f"--http-port={settings.http_port}",
             f"--http-management-port={settings.management_port}"]
    if settings.network_mode == "host":
        # The host's own interfaces: without these Keycloak answers plain HTTP (and its
        # management port) on every address. In bridge mode the published port is bound instead.
        options += [f"--http-host={settings.bind_address}",
                  f"--http-management-host={settings.bind_address}"]
    # A global option of kc.sh: before the command.
    config = f"--config-file={SECRETS_FILE}"
    if settings.mode == "dev":
        return [config, "start-dev", *options]
    command = [
        config, "start", *(["--optimized"] if settings.optimized else []), *options,
        # TLS ends at the reverse proxy; Keycloak speaks HTTP on the internal side only, trusts
        # X-Forwarded-* from the proxy alone, and issues tokens for its public URL whatever the
        # request's Host, so NetBird's issuer check holds behind any proxy.
        "--http-enabled=true", "--proxy-headers=xforwarded",
        f"--proxy-trusted-addresses={','.join(settings.proxy_trusted_addresses)}",
        f"--hostname={settings.url}",
    ]
    if not settings.optimized:  # build-time options: an optimized image has them built in
        command += ["--health-enabled=true", "--metrics-enabled=true"]
    if settings.admin_url:
        command.append(f"--hostname-admin={settings.admin_url}")
    return command


def _container_env(settings: KeycloakSettings, database: Optional[KeycloakDatabase]
                   ) -> list[str]:
    """Keycloak's environment: nothing secret in it."""
    env = [] if settings.optimized else ["KC_HEALTH_ENABLED=true"]
    env.append(f"KC_BOOTSTRAP_ADMIN_CLIENT_ID={BOOTSTRAP_CLIENT_ID}")
    if database is not None:
        if not settings.optimized:  # KC_DB is a build-time option, built into an optimized image
            env.append("KC_DB=postgres")
        env.append(f"KC_DB_USERNAME={database.username}")
    return env


def _secrets_upload(bootstrap_secret: pulumi.Output[str],
                    database: Optional[KeycloakDatabase]) -> docker.ContainerUploadArgs:
    """The bootstrap admin's secret (Keycloak reads it only when it creates the master realm;
    it is a temporary service account, which the first `up` retires:
    components/pulumi_service_account.py) and the database URL and password."""
    if database is None:
        content = pulumi.Output.secret(bootstrap_secret).apply(
            lambda secret: keycloak_conf({"bootstrap-admin-client-secret": secret}))
    else:
        content = pulumi.Output.secret(pulumi.Output.all(
            bootstrap_secret, database.jdbc_url, database.password)).apply(
            lambda values: keycloak_conf({"bootstrap-admin-client-secret": values[0],
                                          "db-url": values[1], "db-password": values[2]}))
    return docker.ContainerUploadArgs(file=SECRETS_FILE, content=content, permissions="0640")


def _healthcheck(settings: KeycloakSettings) -> docker.ContainerHealthcheckArgs:
    # Inside a bridge network the container's own loopback; in host mode the bind address.
    host = "127.0.0.1" if settings.network_mode == "bridge" else settings.local_host
    return docker.ContainerHealthcheckArgs(
        # bash, not CMD-SHELL's /bin/sh: /dev/tcp is a bash feature.
        tests=["CMD", "bash", "-c", _READY_PROBE.format(host=host, port=settings.management_port)],
        interval="5s", timeout="5s", retries=60, start_period="20s",
    )


class KeycloakServer(pulumi.ComponentResource):
    """Runs Keycloak in Docker (`keycloak:deploy: true`) or stands for an existing one.

    Outputs: `url` (the base URL Pulumi talks to, known only once the container is healthy).
    Deployed, `data` is the volume holding Keycloak's data (Postgres's with a database) and
    `secrets_copy` the copy of the stack's secrets beside it.
    """

    url: pulumi.Output[str]

    def __init__(self, name: str, settings: KeycloakSettings,
                 docker_provider: Optional[docker.Provider],
                 bootstrap_secret: Optional[pulumi.Output[str]] = None,
                 database_password: Optional[pulumi.Output[str]] = None,
                 stale: Optional[StaleContainers] = None,
                 secrets: Optional[Mapping[str, pulumi.Output[str]]] = None, owner: str = "",
                 opts: Optional[pulumi.ResourceOptions] = None):
        """`stale`: the containers an interrupted earlier up left unrecorded, removed before
        they are created again (components/adoption.py). `secrets`: the stack's secrets by
        setting, copied beside the data for `owner` (components/secrets_beside_data.py)."""
        super().__init__("netbird:index:KeycloakServer", name, None, opts)
        self.container: Optional[docker.Container] = None
        self.database: Optional[KeycloakDatabase] = None
        self.data: Optional[docker.Volume] = None
        self.image: Optional[docker.RemoteImage] = None
        self.secrets_copy: Optional[SecretsBesideData] = None

        if not settings.deploy:
            self.url = pulumi.Output.from_input(settings.url)
            self.register_outputs({"url": self.url})
            return
        if docker_provider is None:
            raise ValueError("KeycloakServer needs a docker provider when keycloak:deploy is true")

        self.container = self._container(name, settings, docker_provider, bootstrap_secret,
                                         database_password, stale)
        self.secrets_copy = SecretsBesideData(
            # The image, not the container's: a replaced Keycloak must not replace the copy.
            f"{name}-secrets", settings, docker_provider, self.image.image_id, secrets or {},
            owner, stale, opts=pulumi.ResourceOptions(parent=self))
        # Derived from the container so the keycloak provider is configured only after it is up.
        self.url = self.container.id.apply(lambda _: settings.admin_base_url)
        self.register_outputs({"url": self.url})

    def _container(self, name: str, settings: KeycloakSettings,
                   docker_provider: docker.Provider, bootstrap_secret: pulumi.Output[str],
                   database_password: Optional[pulumi.Output[str]],
                   stale: Optional[StaleContainers]) -> docker.Container:
        """The image, the data volume (or the Postgres database) and the Keycloak container."""
        child = pulumi.ResourceOptions(parent=self, provider=docker_provider)
        # A present image is used as it is, never pulled again: offline machines build it locally.
        self.image = image = docker.RemoteImage(f"{name}-image", name=settings.image,
                                                keep_locally=True, opts=child)
        network = docker.Network(f"{name}-network", name=settings.network_name,
                                 opts=child) if settings.network_name else None
        self.database = KeycloakDatabase(f"{name}-postgres", settings, docker_provider, network,
                                         database_password, stale,
                                         opts=pulumi.ResourceOptions(parent=self)) \
            if settings.database == "postgres" else None
        volumes = []
        if self.database is not None:
            self.data = self.database.volume
        else:
            # The dev database lives here, so a replaced container keeps every realm and user.
            self.data = volume = docker.Volume(f"{name}-data", name=settings.volume_name,
                                   opts=pulumi.ResourceOptions.merge(
                                       child, pulumi.ResourceOptions(retain_on_delete=True)))
            volumes = [docker.ContainerVolumeArgs(container_path="/opt/keycloak/data",
                                                  volume_name=volume.name)]
        if stale is not None:
            stale.remove(settings.container_name)
        return docker.Container(
            f"{name}-container",
            name=settings.container_name,
            image=image.image_id,
            command=container_command(settings),
            envs=_container_env(settings, self.database),
            uploads=[_secrets_upload(bootstrap_secret, self.database)],
            network_mode=network.name if network else settings.network_mode,
            # With host networking the ports are the host's already; publishing them is an error.
            ports=None if settings.network_mode == "host" else [docker.ContainerPortArgs(
                internal=settings.http_port, external=settings.http_port,
                ip=settings.bind_address)],
            volumes=volumes,
            healthcheck=_healthcheck(settings),
            # `up` returns only once Keycloak answers ready, so the realm is never created early.
            wait=True,
            wait_timeout=300,
            restart="unless-stopped",
            labels=[owner_label()],
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            memory=settings.memory_mb,
            # Stated, not left to Docker: Docker derives twice the limit and the provider then
            # reports that as a change on every preview. Equal to the limit: no swap, since a
            # swapping JVM stalls in every collection.
            memory_swap=settings.memory_mb,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                # The JVM sizes its heap from the limit once, at start: a limit changed in place
                # would not reach the heap (and Docker refuses raising it past the swap limit
                # it derived at creation). The data is on a volume or in Postgres.
                replace_on_changes=["memory"],
                # The container name and the host ports are literal: the old one must go first.
                delete_before_replace=True)),
        )
