"""What the end-to-end tests share: the real toolchain (checked, never skipped), a throwaway
Pulumi project folder on a local file backend, a native Keycloak, and an Admin REST client."""

from __future__ import annotations

import contextlib
import http.client as http_client
import http.server as http_server
import importlib.resources
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from components.endpoints import endpoints  # noqa: F401 - re-exported for the tests
from netbird_keycloak import preview_md  # noqa: F401 - re-exported for the tests
from tests import safety_report  # noqa: F401 - re-exported for the tests
from netbird_keycloak import verify  # noqa: F401 - re-exported for the tests
from netbird_keycloak import interrupted, stack_settings
from tests.fixtures import local_netbird
from tests.fixtures import project as scratch_project
from netbird_keycloak import ROOT, stack as stack_driver
from foundation.keycloak_admin import KeycloakAdmin, admin_login, http  # noqa: F401
from tests.fixtures.local_keycloak import CACHE, KEYCLOAK_VERSION, NativeKeycloak  # noqa: F401

KEYCLOAK_IMAGE = f"netbird-keycloak/keycloak:{KEYCLOAK_VERSION}"
# Both made by `make bootstrap` (steps `optimized` and `postgres`).
OPTIMIZED_IMAGE = f"{KEYCLOAK_IMAGE}-postgres-optimized"
POSTGRES_IMAGE = "netbird-keycloak/postgres:15"


def _plugin_path(package: str) -> str:
    """Where the engine finds the plugin the installed SDK asks for (its pulumi-plugin.json)."""
    meta = json.loads((importlib.resources.files(package) / "pulumi-plugin.json").read_text())
    return f"resource-{meta['name']}-v{meta['version']}/pulumi-resource-{meta['name']}"


PLUGINS = [_plugin_path("pulumi_keycloak"), _plugin_path("pulumi_docker")]


def is_elf(path: Path) -> bool:
    """A compiled plugin, not a script launcher standing in for one."""
    try:
        with open(path, "rb") as binary:
            return os.access(path, os.X_OK) and binary.read(4) == b"\x7fELF"
    except OSError:
        return False


def missing_toolchain() -> list[str]:
    """Every reason the real end-to-end run cannot happen, each with the command that fixes it."""
    problems = []
    cli_dir = Path(os.environ.get("PULUMI_CLI_ROOT", "")) / "bin"
    if not os.access(cli_dir / "pulumi", os.X_OK):
        problems.append(f"no Pulumi CLI at {cli_dir}: run `make bootstrap`")
    if not is_elf(cli_dir / "pulumi-language-python"):
        problems.append(f"no compiled pulumi-language-python next to the CLI in {cli_dir}: "
                        "run `make bootstrap`")
    home = Path(os.environ.get("PULUMI_HOME", ROOT / ".pulumi-home"))
    for plugin in PLUGINS:
        if not is_elf(home / "plugins" / plugin):
            problems.append(f"no compiled plugin {plugin} in {home}/plugins: run `make bootstrap`")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        problems.append("no Docker engine answers `docker info`: run `make bootstrap`")
    else:
        for image in (KEYCLOAK_IMAGE, OPTIMIZED_IMAGE, POSTGRES_IMAGE):
            if subprocess.run(["docker", "image", "inspect", image],
                              capture_output=True).returncode != 0:
                problems.append(f"no image {image}: run `make keycloak-image`")
    if not (CACHE / f"keycloak-{KEYCLOAK_VERSION}" / "bin" / "kc.sh").exists():
        problems.append(f"no Keycloak distribution in {CACHE}: run `make bootstrap`")
    return problems


# Docker objects of the tests on the local engine are named with this prefix, and nothing else is.
TEST_PREFIX = "keycloak-e2e"
# The HTTP and management ports of the native Keycloaks the tests start: the shared one
# (conftest) and the one test_faults stops and restarts.
SHARED_KEYCLOAK_PORTS = (18080, 19000)
FAULT_KEYCLOAK_PORTS = (18380, 19300)


# The second Docker engine of test_remote_docker: its data root and exec root, made per run.
ENGINE_ROOT = ("/var/tmp", "nk-dockerd-")
ENGINE_EXEC_ROOT = ("/run", "nkd-")


def clear_leftovers() -> None:
    """Removes what an interrupted earlier run may have left: the tests' containers, networks
    and volumes (a kept volume would hold an old admin password), native Keycloaks and NetBird
    servers still holding the tests' ports, and second Docker engines with their folders."""
    engines = ["-f", f"dockerd --host tcp://127.0.0.1:[0-9]+ --data-root "
                     f"{ENGINE_ROOT[0]}/{ENGINE_ROOT[1]}"]
    subprocess.run(["pkill", *engines], capture_output=True)
    for _ in range(60):  # an engine stops its containers before it exits
        if subprocess.run(["pgrep", *engines], capture_output=True).returncode != 0:
            break
        time.sleep(0.5)
    for folder, prefix in (ENGINE_ROOT, ENGINE_EXEC_ROOT):
        for leftover in Path(folder).glob(f"{prefix}*"):
            remove_engine_folder(leftover)
    for listing, removal in (
            (["ps", "-a", "--format", "{{.Names}}"], ["rm", "-f"]),
            (["network", "ls", "--format", "{{.Name}}"], ["network", "rm"]),
            (["volume", "ls", "--format", "{{.Name}}"], ["volume", "rm", "-f"])):
        names = [name for name in subprocess.run(["docker", *listing], capture_output=True,
                                                 text=True, check=True).stdout.split()
                 if name.startswith(TEST_PREFIX)]
        if names:
            subprocess.run(["docker", *removal, *names], capture_output=True)
    for port in (SHARED_KEYCLOAK_PORTS[0], FAULT_KEYCLOAK_PORTS[0]):
        pattern = ["-f", f"keycloak-{KEYCLOAK_VERSION}/.* --http-port={port}( |$)"]
        subprocess.run(["pkill", *pattern], capture_output=True)
        # Gone, not only told to go: the next start checks that its ports are free.
        for _ in range(60):
            if subprocess.run(["pgrep", *pattern], capture_output=True).returncode != 0:
                break
            time.sleep(0.5)
        subprocess.run(["pkill", "-9", *pattern], capture_output=True)
    for pid in local_netbird.leftover_servers():  # it holds NetBird's fixed legacy port
        os.kill(pid, 9)
    # test_security's other host: its network namespace and veth links (nk-…, nkh…/nkj…).
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for link in {line.split(": ")[1].split("@")[0] for line in links.splitlines()
                 if line.split(": ")[1].startswith(("nkh", "nkj"))}:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for space in [line.split()[0] for line in spaces.splitlines() if line.startswith("nk-")]:
        subprocess.run(["ip", "netns", "del", space], capture_output=True)


def remove_engine_folder(folder: Path) -> None:
    """A stopped engine's folder, with the network-namespace mounts dockerd leaves in it."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{folder}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A loopback port nothing listens on now: each run gets its own, so nothing an interrupted
    earlier run left listening can stand in for this run's servers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def user_token(outputs: dict, password: str, scope: str = "openid") -> tuple[int, Any]:
    endpoint = f"{outputs['issuer_url']}/protocol/openid-connect/token"
    return http("POST", endpoint, form={"grant_type": "password", "client_id": outputs["client_id"],
                                        "username": outputs["user_name"], "password": password,
                                        "scope": scope})


def run_script(command: str, *args: str, project: "Project", stack: str,
               timeout: float = 900) -> tuple[int, str]:
    """Runs `netbird-keycloak COMMAND` (up, preview-md, …) on a stack of the test project, as
    `make` would, in a process of its own; returns its exit code and everything it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "netbird_keycloak.cli", command, *args, "--stack", stack,
         "--work-dir", str(project.path), "--out", str(project.path / "out")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout, cwd=ROOT)
    return done.returncode, done.stdout


def container_stack(mode: str, container: str) -> dict[str, str]:
    """The settings a person writes for each mode: the dev stack's, or production's on
    Postgres; host networking and loopback ports, as this machine's engine needs."""
    http_port = free_port()
    common = {
        "netbird:domain": f"netbird.{container}.test", "netbird:protectRealm": "false",
        "keycloak:networkMode": "host", "keycloak:httpPort": str(http_port),
        "keycloak:managementPort": str(free_port()), "keycloak:containerName": container,
        "keycloak:volumeName": f"{container}-data"}
    if mode == "dev-file":
        return {**common, "keycloak:image": KEYCLOAK_IMAGE}
    return {**common, "keycloak:mode": "production", "keycloak:url": f"http://127.0.0.1:{http_port}",
            "keycloak:image": OPTIMIZED_IMAGE, "keycloak:optimized": "true",
            "keycloak:database": "postgres", "keycloak:postgresImage": POSTGRES_IMAGE,
            "keycloak:databasePort": str(free_port()),
            "keycloak:databaseVolumeName": f"{container}-pgdata"}


class Project:
    """A folder holding Pulumi.yaml and stacks/, so tests never touch the repository's stacks."""

    def __init__(self, path: Path, program: Optional[str] = None):
        """`program`: the text of a `__main__.py` of this folder's own (default: the project's)."""
        self.path = scratch_project.lay_out(path, program)

    def typed(self, command: str, timeout: float = 600,
              stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        """A command as an operator types it in this folder, after `eval "$(make -s
        pulumi-env)"`: the project's toolchain and backend, no driver."""
        return subprocess.run(
            ["bash", "-c", f'eval "$(make -s -C {ROOT} pulumi-env)" && {command}'],
            cwd=self.path, capture_output=True, text=True, timeout=timeout, input=stdin)

    def on_keycloak(self, name: str, keycloak, config: dict[str, str]):
        """A stack of realm `<name>-netbird` on an existing (native) Keycloak, logging in as
        its admin user; `config` adds to or overrides the settings."""
        stack = self.stack(name, {
            "netbird:domain": f"netbird.{name}.test", "netbird:protectRealm": "false",
            "netbird:realm": f"{name}-netbird", "keycloak:deploy": "false",
            "keycloak:url": keycloak.url, "keycloak:adminUser": keycloak.admin_user, **config})
        stack_driver.set_secret(stack, "keycloak:adminPassword", keycloak.admin_password)
        return stack

    def stack(self, name: str, config: dict[str, str]):
        """A stack of this folder with `config`; its program run by the CLI's language host, so
        one test process may run it any number of times (an inline run is once per process)."""
        (self.path / "stacks" / f"Pulumi.{name}.yaml").write_text(
            yaml.safe_dump({"config": config}))
        return self.open(name)

    def open(self, name: str):
        return stack_driver.open_stack(name, self.path, program=None)


def changes(result) -> dict[str, int]:
    """The resource operations of an up/preview other than `same`."""
    summary = result.change_summary if hasattr(result, "change_summary") \
        else result.summary.resource_changes
    return stack_driver.changed(summary)


def record_fault(name: str) -> None:
    """Adds a survived fault to the record `make safety-report` prints."""
    done = set((safety_report.record("faults") or {}).get("survived", []))
    safety_report.save("faults", {"survived": sorted(done | {name})})


def record_hardening(check: str) -> None:
    """Adds a passed check (one of safety_report.HARDENING) to the record of this run."""
    assert check in safety_report.HARDENING, check
    done = set((safety_report.record("hardening") or {}).get("passed", []))
    safety_report.save("hardening", {"passed": sorted(done | {check})})


def bootstrap_secret(container: str) -> str:
    """The temporary admin's secret that a Keycloak container was started with, read where
    Keycloak reads it (its secrets file; never its environment). Raises CalledProcessError while
    the container does not run."""
    from components.keycloak_server import SECRETS_FILE  # noqa: PLC0415
    conf = subprocess.run(["docker", "exec", container, "cat", SECRETS_FILE],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    return next(line.split("=", 1)[1] for line in conf.splitlines()
                if line.startswith("bootstrap-admin-client-secret="))


def secret(stack, key: str) -> str:
    """A secret of a stack: the one its stack file sets, or the one the program generated and
    keeps in the state (components/stack_secrets.py)."""
    chosen = stack.get_all_config().get(key)
    if chosen is not None:
        return chosen.value
    kept = stack_settings.kept_secrets(stack.export_stack().deployment.get("resources") or [])
    assert key in kept, f"stack {stack.name} holds no {key}, chosen or generated"
    return kept[key]


class Sampler(threading.Thread):
    """Reads every process's argv and environment (/proc/*/cmdline, /proc/*/environ) until
    stopped: what any local user sees of argv, and what root sees of environments."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: dict[bytes, str] = {}
        self.rounds = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for proc in Path("/proc").glob("[0-9]*"):
                for part in ("cmdline", "environ"):
                    try:
                        data = (proc / part).read_bytes()
                    except OSError:
                        continue  # ended while we looked
                    if data and data not in self.seen:
                        self.seen[data] = f"{part} of {proc.name} ({self.command(proc)})"
            self.rounds += 1
            time.sleep(0.01)

    @staticmethod
    def command(proc: Path) -> str:
        try:
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:
            return "ended"

    def stop(self) -> None:
        self.halt.set()
        self.join()

    def holding(self, values: dict[str, str]) -> list[str]:
        return [f"{name} in {where}" for data, where in self.seen.items()
                for name, value in values.items() if value.encode() in data]


class QuietHandler(http_server.BaseHTTPRequestHandler):
    """A request handler of a test's proxy: no access log in the test output."""

    def log_message(self, *args):
        pass


def request_body(handler) -> bytes:
    """The body of the request an http.server handler is serving, whole: pulumi-keycloak's HTTP
    client sends its JSON bodies chunked, urllib with a length."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    chunks = []
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()
    handler.rfile.readline()  # the blank line after the last chunk
    return b"".join(chunks)


def pass_on(handler, port: int, body: bytes):
    """Sends the request an http.server handler is serving to 127.0.0.1:`port`, the body whole
    with its length (hop-by-hop framing stays here); returns (answer, its payload)."""
    upstream = http_client.HTTPConnection("127.0.0.1", port)
    upstream.request(handler.command, handler.path, body=body or None,
                     headers={k: v for k, v in handler.headers.items()
                              if k.lower() not in ("connection", "transfer-encoding",
                                                   "content-length")})
    answer = upstream.getresponse()
    return answer, answer.read()


def relay(handler, answer, payload: bytes) -> None:
    """Hands an upstream answer (http.client) back through an http.server handler, framed by
    its length, the connection closed after it."""
    handler.send_response(answer.status)
    for key, value in answer.getheaders():
        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(payload)


def pipe(source: socket.socket, target: socket.socket) -> None:
    """Copies what `source` sends to `target` until either side closes, then closes both
    directions of both (run one per direction, each in a thread)."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EngineOverTcp:
    """This machine's Docker engine at tcp://127.0.0.1:<port> (its unix socket relayed). To the
    program that is a Docker host on another machine, so Pulumi reaches Keycloak at
    `keycloak:url`, where a test can put a proxy; the containers are the local engine's."""

    def __init__(self, engine_socket: str = "/var/run/docker.sock"):
        self.engine_socket = engine_socket
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.engine_socket)
            threading.Thread(target=pipe, args=(client, engine), daemon=True).start()
            threading.Thread(target=pipe, args=(engine, client), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def ctrl_c_reaches() -> None:
    """preexec_fn of a command a test interrupts with SIGINT: Ctrl-C's default disposition, as
    in a terminal. A test run started in the background of a non-interactive shell (a CI runner)
    has SIGINT ignored, and children inherit that; Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def working_in(folder: Path) -> list[str]:
    """The processes whose working directory is `folder` (what Pulumi starts for a project runs
    there), each as its command line."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(folder):
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes()
                             .replace(b"\0", b" ").decode()[:150])
        except OSError:
            continue  # ended, or not ours to read
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL to a process and everything it started, as when the machine or its cgroup dies.
    A kill of its process group is not that: the engine starts each plugin in a process group of
    its own, so the plugins would live on, orphaned. The tree is stopped first (SIGSTOP) until it
    grows no more, so nothing it starts meanwhile escapes."""
    stopped: set[int] = set()
    while tree := ({pid} | set(interrupted.descendants(pid))) - stopped:
        for member in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGSTOP)
        stopped |= tree
    for member in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


class LoopbackProxy:
    """A test's HTTP front door on a loopback port (its own, or `port`), serving `handler` in a
    thread until closed."""

    def __init__(self, handler: type, port: int = 0):
        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", port or free_port()),
                                                      handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SignallingProxy(LoopbackProxy):
    """Keycloak's front door for a test that interrupts a command at an exact point: passes
    requests to 127.0.0.1:`upstream_port`; while armed (`victim` a process started in a session
    of its own, `when` "before" or "after"), the first request for which `chosen(method, path,
    body)` returns a value (kept in `sent`) makes it send `sig` to the victim's process group,
    before forwarding the request or after Keycloak answered it. After SIGKILL it hangs up (the
    answer reaches nobody); after another signal it relays the answer, as Keycloak would."""

    def __init__(self, upstream_port: int, chosen: Callable[[str, str, bytes], Optional[str]],
                 sig: int = signal.SIGKILL):
        self.victim: Optional[subprocess.Popen] = None
        self.when: Optional[str] = None  # "before" or "after"
        self.sent: list[str] = []
        proxy = self

        class Handler(QuietHandler):
            def _forward(self):
                body = request_body(self)
                hit = proxy.when is not None and proxy.victim is not None and \
                    chosen(self.command, self.path, body)
                if hit:
                    proxy.sent.append(hit)
                    if proxy.when == "before":
                        proxy.interrupt()
                        if sig == signal.SIGKILL:
                            return
                answer, payload = pass_on(self, upstream_port, body)
                if hit and proxy.when == "after":
                    proxy.interrupt()
                    if sig == signal.SIGKILL:
                        return
                relay(self, answer, payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.sig = sig
        super().__init__(Handler)

    def interrupt(self) -> None:
        if self.sig == signal.SIGKILL:
            kill_tree(self.victim.pid)
        else:  # as a terminal sends it: to the command's process group
            os.killpg(self.victim.pid, self.sig)
        self.when = None
