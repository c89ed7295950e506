"""`docker:host` deploys onto another Docker engine: a second engine on this machine (a test
stand-in for a remote NetBird server), reached over plain tcp:// on loopback, over ssh:// through
an sshd on loopback, and over tcp:// with TLS client certificates, gets the Keycloak container;
the local engine gets nothing."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.conftest import docker_names

free_port = harness.free_port


REMOTE = f"tcp://127.0.0.1:{free_port()}"


def remote_docker(*args, **kwargs):
    return subprocess.run(["docker", "-H", REMOTE, *args], capture_output=True, text=True,
                          **kwargs)


@pytest.fixture(scope="module")
def second_engine():
    """A second dockerd of this run alone: its own port, data root and exec root, removed after."""
    root = Path(tempfile.mkdtemp(prefix=harness.ENGINE_ROOT[1], dir=harness.ENGINE_ROOT[0]))
    # The exec root holds unix sockets, whose paths must stay short.
    exec_root = Path(tempfile.mkdtemp(prefix=harness.ENGINE_EXEC_ROOT[1],
                                      dir=harness.ENGINE_EXEC_ROOT[0]))
    started = subprocess.Popen(
        ["dockerd", "--host", REMOTE, "--data-root", str(root / "data"),
         "--exec-root", str(exec_root), "--pidfile", str(exec_root / "dockerd.pid"),
         "--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--bridge=none"],
        stdout=(root / "dockerd.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while remote_docker("info").returncode != 0:
            assert started.poll() is None and time.monotonic() < deadline, \
                f"the second Docker engine did not start; see {root / 'dockerd.log'}"
            time.sleep(1)
        save = subprocess.Popen(["docker", "save", harness.KEYCLOAK_IMAGE], stdout=subprocess.PIPE)
        load = remote_docker("load", stdin=save.stdout)
        assert save.wait() == 0 and load.returncode == 0, load.stderr
        yield REMOTE
    finally:
        remote_docker("rm", "-f", *remote_docker("ps", "-aq").stdout.split())
        os.killpg(started.pid, 15)
        started.wait(60)
        harness.remove_engine_folder(root)
        harness.remove_engine_folder(exec_root)


@pytest.fixture(scope="module")
def ssh_host(second_engine, tmp_path_factory):
    """An sshd on a loopback port whose deploy key may only run `docker system dial-stdio`
    against the second engine: what an operator's deploy key on a NetBird server looks like."""
    home = tmp_path_factory.mktemp("sshd")
    port = free_port()
    for key in ("host_key", "deploy_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)],
                       check=True)
    (home / "authorized_keys").write_text(
        f'command="DOCKER_HOST={second_engine} exec docker system dial-stdio",no-pty,'
        f'no-port-forwarding,no-agent-forwarding {(home / "deploy_key.pub").read_text()}')
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {(home / 'host_key.pub').read_text()}")
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home}/host_key\n"
        f"AuthorizedKeysFile {home}/authorized_keys\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
        f"StrictModes no\nPidFile {home}/sshd.pid\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(home / "sshd_config")],
                            stdout=(home / "sshd.log").open("wb"), stderr=subprocess.STDOUT)
    opts = ["-i", str(home / "deploy_key"), "-o", f"UserKnownHostsFile={home}/known_hosts",
            "-o", "StrictHostKeyChecking=yes"]
    deadline = time.monotonic() + 30
    while subprocess.run(["ssh", "-p", str(port), *opts, "root@127.0.0.1", "true"],
                         capture_output=True, stdin=subprocess.DEVNULL,
                         timeout=30).returncode not in (0, 1):
        assert sshd.poll() is None and time.monotonic() < deadline, \
            f"sshd did not start; see {home}/sshd.log"
        time.sleep(0.5)
    yield f"ssh://root@127.0.0.1:{port}", opts, home / "sshd.log"
    sshd.terminate()
    sshd.wait(30)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_host(second_engine, tmp_path_factory):
    """The second engine behind TLS with client certificates on a loopback port, as
    `dockerd --tlsverify` serves it: a CA, a server certificate for 127.0.0.1, and a client
    certificate in Docker's layout (ca.pem, cert.pem, key.pem) for docker:certPath."""
    home = tmp_path_factory.mktemp("docker-tls")
    client = home / "client"
    client.mkdir()
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "2", "-subj", "/CN=netbird-keycloak test CA", "-keyout", "ca-key.pem",
             "-out", "ca.pem", cwd=home)
    for name, cn, ext in (("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1"),
                          ("client", "netbird-deployer", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", f"/CN={cn}", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 cwd=home)
        (home / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out",
                 f"{name}.pem", cwd=home)
    for src, dst in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"),
                     ("client-key.pem", "key.pem")):
        (client / dst).write_bytes((home / src).read_bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(home / "ca.pem"))
    context.load_cert_chain(home / "server.pem", home / "server-key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    clients: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    upstream = second_engine[len("tcp://"):].split(":")

    def serve():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # no or an untrusted client certificate: no engine
                continue
            clients.append(dict(x[0] for x in conn.getpeercert()["subject"])["commonName"])
            engine = socket.create_connection((upstream[0], int(upstream[1])))
            threading.Thread(target=harness.pipe, args=(conn, engine), daemon=True).start()
            threading.Thread(target=harness.pipe, args=(engine, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}", str(client), clients
    listener.close()


@pytest.mark.parametrize("transport", ["tcp", "ssh", "tls"])
def test_container_runs_on_the_engine_named_by_docker_host(project, second_engine, request,
                                                           transport):
    local_before = docker_names("container")
    http_port = free_port()
    config = {
        "netbird:domain": "netbird.remote.test", "netbird:protectRealm": "false",
        "keycloak:image": harness.KEYCLOAK_IMAGE, "keycloak:networkMode": "host",
        "keycloak:httpPort": str(http_port), "keycloak:managementPort": str(free_port()),
        "keycloak:containerName": "keycloak-remote", "keycloak:volumeName": "keycloak-remote-data",
        "docker:host": second_engine, "keycloak:url": f"http://127.0.0.1:{http_port}",
    }
    if transport == "ssh":
        host, opts, sshd_log = request.getfixturevalue("ssh_host")
        config.update({"docker:host": host, "docker:sshOpts": json.dumps(opts)})
    if transport == "tls":
        host, cert_path, tls_clients = request.getfixturevalue("tls_host")
        config.update({"docker:host": host, "docker:certPath": cert_path})
    stack = project.stack(f"remote-{transport}", config)
    try:
        stack.up(color="never")
        outputs = {k: v.value for k, v in stack.outputs().items()}
        running = remote_docker("ps", "--format", "{{.Names}}").stdout.split()
        assert "keycloak-remote" in running
        assert docker_names("container") == local_before
        check, _ = harness.verify.check_discovery(outputs)
        assert check.ok, check.line()
        if transport == "ssh":  # the engine was reached through the deploy key, not around it
            assert "Accepted publickey for root" in sshd_log.read_text()
        if transport == "tls":  # ... and through TLS with the client certificate
            assert tls_clients and set(tls_clients) == {"netbird-deployer"}
    finally:
        stack.destroy(color="never")
        # What destroy keeps: the data and the copy of this stack's secrets beside it. The next
        # transport's stack reuses the names, so it would be refused as another stack's.
        remote_docker("volume", "rm", "-f", "keycloak-remote-data", "keycloak-remote-secrets")
    assert "keycloak-remote" not in remote_docker("ps", "-a", "--format", "{{.Names}}").stdout
