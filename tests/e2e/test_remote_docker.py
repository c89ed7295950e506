"""`docker:host` deploys onto another Docker engine: a second engine on this machine, reached over
tcp:// on loopback (a test stand-in for a remote NetBird server), gets the Keycloak container;
the local engine gets nothing."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.conftest import docker_names

REMOTE = "tcp://127.0.0.1:23750"
ROOT = Path("/var/lib/netbird-keycloak-remote-docker")


def remote_docker(*args, **kwargs):
    return subprocess.run(["docker", "-H", REMOTE, *args], capture_output=True, text=True,
                          **kwargs)


@pytest.fixture(scope="module")
def second_engine(tmp_path_factory):
    started = None
    if remote_docker("info").returncode != 0:
        log = tmp_path_factory.mktemp("dockerd2") / "dockerd.log"
        started = subprocess.Popen(
            ["dockerd", "--host", REMOTE, "--data-root", str(ROOT / "data"),
             "--exec-root", "/run/netbird-keycloak-remote-docker", "--pidfile",
             "/run/netbird-keycloak-remote-docker.pid", "--storage-driver=vfs",
             "--iptables=false", "--ip6tables=false", "--bridge=none"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while remote_docker("info").returncode != 0:
            assert started.poll() is None and time.monotonic() < deadline, \
                f"the second Docker engine did not start; see {log}"
            time.sleep(1)
    if remote_docker("image", "inspect", harness.KEYCLOAK_IMAGE).returncode != 0:
        # Kept in the engine's data root, so later runs on this machine skip the copy.
        save = subprocess.Popen(["docker", "save", harness.KEYCLOAK_IMAGE], stdout=subprocess.PIPE)
        load = remote_docker("load", stdin=save.stdout)
        assert save.wait() == 0 and load.returncode == 0, load.stderr
    yield REMOTE
    if started:
        os.killpg(started.pid, 15)
        started.wait(60)


def test_container_runs_on_the_engine_named_by_docker_host(project, second_engine):
    local_before = docker_names("container")
    stack = project.stack("remote", {
        "netbird:domain": "netbird.remote.test", "netbird:protectRealm": "false",
        "keycloak:image": harness.KEYCLOAK_IMAGE, "keycloak:networkMode": "host",
        "keycloak:httpPort": "38080", "keycloak:managementPort": "39000",
        "keycloak:containerName": "keycloak-remote", "keycloak:volumeName": "keycloak-remote-data",
        "docker:host": second_engine, "keycloak:url": "http://127.0.0.1:38080",
    })
    harness.stack_driver.ensure_secrets(stack)
    try:
        stack.up(color="never")
        outputs = {k: v.value for k, v in stack.outputs().items()}
        running = remote_docker("ps", "--format", "{{.Names}}").stdout.split()
        assert "keycloak-remote" in running
        assert docker_names("container") == local_before
        check, _ = harness.verify.check_discovery(outputs)
        assert check.ok, check.line()
    finally:
        stack.destroy(color="never")
        remote_docker("volume", "rm", "-f", "keycloak-remote-data")
    assert "keycloak-remote" not in remote_docker("ps", "-a", "--format", "{{.Names}}").stdout
