"""SecretsBesideData: a copy of the stack's secrets next to Keycloak's data, so that the next
`up` of a destroyed stack opens the data that `destroy` kept.

`destroy` keeps Keycloak's data: its volume (or Postgres's) and, in it, every realm, user, client
and realm key (the Keycloak objects are `deleted_with` that volume: components/wiring.py). The
state goes, and with it the secrets the program generated (components/stack_secrets.py). Without
them the kept data cannot be opened again: Keycloak answers only whoever holds the admin client's
secret, keeps a mere hash of the user's password, and Postgres one of its own. So the stack also
writes its secrets, as a 0600 file, into a volume of their own on the same Docker engine, which
`destroy` keeps as well; the next `up` of a stack whose state holds no secret reads them back
(`read`) before it registers any resource, and generates nothing that the data already knows.

As safe as the state: whoever can read a volume of that Docker engine can read Keycloak's data
volume, which holds the admin client's secret as Keycloak stores it (client secrets are not
hashed) and every realm and user; the copy gives them nothing they could not have. It leaves that
engine only towards the program deploying the stack, over the Docker connection Pulumi uses.

An idle container (created, never started) writes the file, by Docker's upload: a rotated secret
replaces that container, in seconds, and never Keycloak's.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from typing import Callable, Mapping, Optional

import pulumi
import pulumi_docker as docker

from components.adoption import (OWNER_ATTRIBUTE, AdoptionRefused, StaleContainers,
                                 docker_cli_env)
from components.keycloak_database import owner_label
from components.settings import KeycloakSettings

FOLDER = "/kept"
FILE = f"{FOLDER}/stack-secrets.json"
# A Docker engine that does not answer in this long is reported, not waited on.
TIMEOUT = 60


def render(owner: str, values: Mapping[str, str]) -> str:
    """The file's content: whose secrets, and each by the setting that may choose it."""
    return json.dumps({"owner": owner, "secrets": dict(values)}, indent=1, sort_keys=True) + "\n"


def parse(text: str, owner: str, volume: str) -> dict[str, str]:
    """The secrets of `owner` in a file's content; refused when they are another stack's."""
    try:
        kept = json.loads(text)
        theirs, values = kept["owner"], kept["secrets"]
    except (ValueError, KeyError, TypeError):
        raise AdoptionRefused(f"the volume {volume} does not hold a copy of stack secrets this "
                              "program can read. Remove it if it is not needed (`docker volume rm "
                              f"{volume}`), or choose another keycloak:containerName. Nothing "
                              "was changed.") from None
    if theirs != owner:
        raise AdoptionRefused(f"the volume {volume} holds the secrets of stack {theirs}, not of "
                              f"{owner}: that stack's Keycloak data is not this one's to open. "
                              "Choose another keycloak:containerName (and keycloak:volumeName), "
                              "or remove that stack's volumes if it is gone for good. Nothing was "
                              "changed.")
    return {str(key): str(value) for key, value in values.items()}


def _from_tar(archive: bytes) -> str:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode() if handle is not None else ""


def read(settings: KeycloakSettings, owner: str,
         run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> dict[str, str]:
    """The secrets a destroyed deploy of this stack kept beside its data ({}: none kept, or an
    ssh:// engine, which the docker CLI cannot reach with docker:sshOpts; there the hand-off
    says how to open the data). Read through a container that is created, never started, and
    removed."""
    env = docker_cli_env(settings.docker_host, settings.docker_cert_path)
    if env is None:
        return {}
    volume = settings.secrets_name

    def docker_cli(*args: str) -> subprocess.CompletedProcess:
        return run(["docker", *args], capture_output=True, env=env, timeout=TIMEOUT)

    if docker_cli("volume", "inspect", volume).returncode != 0:
        return {}
    reader = f"{volume}-reader"
    docker_cli("rm", "-f", reader)  # one a killed earlier read left
    created = docker_cli("create", "--pull", "never", "--name", reader,
                         "--label", f"{OWNER_ATTRIBUTE}={owner}",
                         "-v", f"{volume}:{FOLDER}:ro", settings.image)
    if created.returncode != 0:
        raise AdoptionRefused(f"cannot read the secrets kept in volume {volume}: "
                              f"{created.stderr.decode().strip()}. Nothing was changed.")
    try:
        copied = docker_cli("cp", f"{reader}:{FILE}", "-")
    finally:
        docker_cli("rm", "-f", reader)
    if copied.returncode != 0:
        raise AdoptionRefused(f"the volume {volume} holds no {FILE.rsplit('/', 1)[1]} "
                              f"({copied.stderr.decode().strip()}). Remove it if it is not needed "
                              f"(`docker volume rm {volume}`). Nothing was changed.")
    return parse(_from_tar(copied.stdout), owner, volume)


def remove_kept(settings: KeycloakSettings, owner: str,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[str]:
    """After a destroy, on request (`destroy --purge`): removes the data and the secrets copy
    that the destroy kept, once the copy proves them `owner`'s. Returns the volumes removed.
    Raises AdoptionRefused, removing nothing, for volumes it cannot prove this stack's."""
    volumes = [settings.data_volume_name, settings.secrets_name]
    env = docker_cli_env(settings.docker_host, settings.docker_cert_path)
    by_hand = f"`docker volume rm {' '.join(volumes)}`"
    if env is None:
        raise AdoptionRefused(f"the docker CLI cannot reach {settings.docker_host} with "
                              f"docker:sshOpts: remove the volumes there by hand ({by_hand}).")

    def present(volume: str) -> bool:
        return run(["docker", "volume", "inspect", volume], capture_output=True, env=env,
                   timeout=TIMEOUT).returncode == 0

    found = [volume for volume in volumes if present(volume)]
    if not found:
        return []
    if settings.secrets_name not in found:
        raise AdoptionRefused(f"no copy of this stack's secrets beside {found[0]} says whose "
                              f"data it is: if it is this stack's, remove it by hand ({by_hand}).")
    read(settings, owner, run)  # refuses another stack's
    for volume in found:
        done = run(["docker", "volume", "rm", volume], capture_output=True, env=env,
                   timeout=TIMEOUT)
        if done.returncode != 0:
            raise AdoptionRefused(f"cannot remove volume {volume}: "
                                  f"{done.stderr.decode().strip()}")
    return found


class SecretsBesideData(pulumi.ComponentResource):
    """The volume (kept by `destroy`) and the idle container that writes the copy into it."""

    def __init__(self, name: str, settings: KeycloakSettings, docker_provider: docker.Provider,
                 image_id: pulumi.Input[str], secrets: Mapping[str, pulumi.Output[str]],
                 owner: str, stale: Optional[StaleContainers] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("netbird:index:SecretsBesideData", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=docker_provider)
        volume = docker.Volume(f"{name}-volume", name=settings.secrets_name,
                               opts=pulumi.ResourceOptions.merge(
                                   child, pulumi.ResourceOptions(retain_on_delete=True)))
        if stale is not None:
            stale.remove(settings.secrets_name)
        content = pulumi.Output.secret(pulumi.Output.all(**secrets)).apply(
            lambda values: render(owner, values))
        self.container = docker.Container(
            f"{name}-container", name=settings.secrets_name, image=image_id,
            start=False, must_run=False,
            volumes=[docker.ContainerVolumeArgs(container_path=FOLDER, volume_name=volume.name)],
            uploads=[docker.ContainerUploadArgs(file=FILE, content=content, permissions="0600")],
            labels=[owner_label()],
            # Its name is literal: a replaced one must go before the new one.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                delete_before_replace=True)))
        self.register_outputs({})
