"""The explicit providers every resource is given. Default providers are disabled in Pulumi.yaml,
so a resource created without `provider=` fails the deploy instead of using stray credentials."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_keycloak as keycloak

from components.keycloak_server import KeycloakServer
from components.settings import KeycloakSettings


def docker_provider(settings: KeycloakSettings) -> Optional[docker.Provider]:
    """The Docker engine to deploy onto: the local socket, or `docker:host` (ssh://, tcp://)."""
    if not settings.deploy:
        return None
    return docker.Provider("docker", host=settings.docker_host,
                           ssh_opts=list(settings.docker_ssh_opts) or None,
                           cert_path=settings.docker_cert_path)


def keycloak_provider(server: KeycloakServer, settings: KeycloakSettings,
                      client_secret: Optional[pulumi.Output[str]] = None) -> keycloak.Provider:
    """Deploying: the service account (PulumiServiceAccount), whose `client_secret` is known only
    once the hand-off to it is done, so nothing logs in earlier. An existing Keycloak: its
    service-account client, or an admin user."""
    if settings.deploy or settings.login == "service-account":
        login = dict(client_id=settings.admin_client_id,
                     client_secret=pulumi.Output.secret(client_secret or
                                                        settings.admin_client_secret))
    else:
        # The provider schema does not mark the password secret; the Output must.
        login = dict(client_id="admin-cli", username=settings.admin_user,
                     password=pulumi.Output.secret(settings.admin_password))
    return keycloak.Provider(
        "keycloak",
        url=server.url,
        realm="master",
        **login,
        # Login is deferred to the first API call: at preview time Keycloak may not exist yet.
        initial_login=False,
        # Pulumi's default of 5 s times out on a cold Keycloak's first realm creation, and the
        # retry then meets a 409 for the realm the first call did create.
        client_timeout=settings.client_timeout,
        keycloak_version=settings.version,
    )
