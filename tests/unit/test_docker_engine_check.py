"""The Docker-engine check of netbird_keycloak/before_run.py (unit: sockets of this test only):
a deploying stack whose engine does not answer is stopped with the engine named."""

import socket

import pytest

from netbird_keycloak.before_run import EngineUnreachable, check_docker_engine


def test_unanswered_unix_socket_is_named_with_the_fix(tmp_path):
    host = f"unix://{tmp_path}/docker.sock"  # nothing listens there
    with pytest.raises(EngineUnreachable) as refused:
        check_docker_engine("acme", {"docker:host": host})
    message = str(refused.value)
    assert f"cannot reach the Docker engine at {host} (No such file or directory)" in message
    assert "pulumi config set docker:host" in message and "--stack acme" in message


def test_listening_engine_passes(tmp_path):
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        check_docker_engine("acme", {"docker:host": f"unix://{path}"})
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        check_docker_engine("acme", {"docker:host": f"tcp://127.0.0.1:{port}"})


def test_existing_keycloak_needs_no_engine():
    check_docker_engine("acme", {"keycloak:deploy": "false", "docker:host": "tcp://127.0.0.1:1"})
