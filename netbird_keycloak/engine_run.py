"""One run of the Pulumi engine (`up`, `preview`, `refresh`, `destroy`) on the program this
process serves, and what must be known before it starts. Only the standard library (and yaml)
is imported here: the engine starts before this process imports the Pulumi SDK.

Why not the Automation API's `stack.up()`: it starts the CLI once the SDK is imported and its
servers run (0.25 s of imports here); the CLI then takes 0.3 s to start (the backend, the state,
the config decrypted with the passphrase's key) before it asks for the program. Started first,
the two overlap on two cores. The CLI gets the address of a socket this process listens on at
once; the language server that runs the program starts once the SDK is imported and is reached
through that socket (a connection made earlier waits in its queue: the CLI asks `About` a tenth
of a second after its start). The engine's events come through a FIFO (`--event-log`), one JSON
object a line, as the Automation API reads them; a failed run raises the Automation API's own
errors, with the CLI's output and errors, so callers handle them as before. The sockets and the
FIFO are in a folder of the run that only its user can open: the language server hands the
program its config, secrets decrypted, to whoever asks (the Automation API's listens on a
loopback TCP port, which every local user can reach).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from netbird_keycloak import ROOT, file_state, interrupted

PROJECT = "netbird-keycloak"
ENGINE_COMMANDS = ("up", "preview", "refresh", "destroy")  # the commands run by EngineRun


def parser() -> argparse.ArgumentParser:
    """The arguments of `netbird-keycloak up|preview|refresh|destroy|env|unlock`."""
    parsed = argparse.ArgumentParser(
        description="Runs the program for one stack: up, preview, refresh, destroy, env (write "
                    "out/<stack>/setup.env from the outputs, touching no infrastructure).")
    parsed.add_argument("command",
                        choices=["up", "preview", "refresh", "destroy", "env", "unlock"])
    parsed.add_argument("--stack", default="dev")
    parsed.add_argument("--work-dir", type=Path, default=ROOT,
                        help="folder with Pulumi.yaml and stacks/ (default: this project)")
    parsed.add_argument("--out", type=Path, default=ROOT / "out")
    parsed.add_argument("--refresh", action="store_true", help="refresh before up/preview")
    parsed.add_argument("--summary-json", type=Path,
                        help="write {result, changes, seconds, error} here (used by fleet)")
    parsed.add_argument("--profile", type=Path,
                        help="write when each phase ended here (JSON; make bench-peers)")
    return parsed


class Timeline:
    """When each phase of one command ended, in seconds since the command started (`--profile`,
    printed by `make bench-peers`). Phases inside the engine are seen through its events."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.marks: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        self.marks.setdefault(phase, round(time.perf_counter() - self.started, 3))

    def watch(self, event: Any) -> None:
        if event.prelude_event:
            self.mark("engine started (CLI, backend, config decrypted)")
        outputs = event.res_outputs_event
        if outputs and outputs.metadata.type.startswith("pulumi:providers:keycloak"):
            self.mark("keycloak provider started and configured")
        if event.summary_event:
            self.mark("resources done")


def pulumi_env() -> dict[str, str]:
    """Settings that keep every run local and offline-safe; the caller's environment wins."""
    defaults = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    env = {key: os.environ.get(key, value) for key, value in defaults.items()}
    # The engine starts the hand-off's dynamic provider (pulumi-resource-pulumi-python) with
    # this Python; the CLI's language host tells it Pulumi.yaml's virtualenv, an inline program
    # does not.
    env["PULUMI_RUNTIME_VIRTUALENV"] = os.environ.get("PULUMI_RUNTIME_VIRTUALENV", sys.prefix)
    for key in ("PULUMI_BACKEND_URL", "PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_CONFIG_PASSPHRASE_FILE"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    if "PULUMI_BACKEND_URL" not in env:
        raise SystemExit("PULUMI_BACKEND_URL is not set: run through `make` (which uses a local "
                         "file backend in .pulumi-state/) or export it yourself")
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        raise SystemExit("no state passphrase: set PULUMI_CONFIG_PASSPHRASE_FILE (make does)")
    return env


def cli_root_version() -> Optional[str]:
    """The version of the CLI in PULUMI_CLI_ROOT when its folder's name says it (the
    bootstrap's `pulumi-v3.259.0`); None otherwise."""
    built = re.fullmatch(r"pulumi-v(\d+\.\d+\.\d+)",
                         Path(os.environ.get("PULUMI_CLI_ROOT", "")).name)
    return built[1] if built else None


def cli_path() -> Optional[str]:
    """The Pulumi CLI: PULUMI_CLI_ROOT's, else `pulumi` on PATH (None: none)."""
    root = os.environ.get("PULUMI_CLI_ROOT")
    return str(Path(root) / "bin" / "pulumi") if root else shutil.which("pulumi")


def engine_args(command: str, refresh: bool) -> list[str]:
    """The CLI's flags for an engine command, as the Automation API would give them."""
    flags = {"preview": ["--diff"]}.get(command, ["--yes", "--skip-preview"])
    return [*flags, "--color", "never", *(["--refresh"] if refresh else [])]


def stack_file(work_dir: Path, name: str) -> Path:
    return Path(work_dir) / "stacks" / f"Pulumi.{name}.yaml"


def no_stack_file(work_dir: Path, name: str) -> str:
    """Why a stack without its file is refused (a typo would otherwise create a new stack)."""
    known = sorted(p.name[len("Pulumi."):-len(".yaml")]
                   for p in (Path(work_dir) / "stacks").glob("Pulumi.*.yaml"))
    return (f"stack {name!r} has no stack file {stack_file(work_dir, name)}; nothing was "
            f"created. Stacks here: {', '.join(known) or 'none'}. A new customer: "
            f"`make new CUSTOMER={name} DOMAIN=netbird.{name}.example`.")


def stack_file_config(work_dir: Path, name: str) -> dict:
    """The `config:` map of stacks/Pulumi.<name>.yaml as written (secrets stay encrypted)."""
    path = stack_file(work_dir, name)
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return (data or {}).get("config") or {}


def config_flag(config: dict, key: str, default: bool) -> bool:
    """A true/false setting as the stack file holds it (a YAML bool or a "true"/"false" string)."""
    return str(config.get(key, default)).lower() == "true"


class EngineUnreachable(Exception):
    """Raised before a run that needs a Docker engine that does not answer."""


def check_docker_engine(stack: str, config: dict, timeout: float = 5) -> None:
    """pulumi-docker says only "failed to connect to any docker daemon", and only once it is
    configured; so a deploying stack's engine is tried first, and named when it does not
    answer. ssh:// engines are left to the provider, which reaches them through `ssh`.
    `config`: the stack file's (stack_file_config)."""
    if not config_flag(config, "keycloak:deploy", True):
        return
    host = config.get("docker:host") or os.environ.get("DOCKER_HOST") or \
        "unix:///var/run/docker.sock"
    url = urllib.parse.urlsplit(host)
    if url.scheme not in ("unix", "tcp"):
        return
    family = socket.AF_UNIX if url.scheme == "unix" else socket.AF_INET
    address = url.path if url.scheme == "unix" else (url.hostname, url.port or 2375)
    try:
        with socket.socket(family) as probe:
            probe.settimeout(timeout)
            probe.connect(address)
    except OSError as error:
        raise EngineUnreachable(
            f"cannot reach the Docker engine at {host} ({error.strerror or error}). Start it, or "
            f"point docker:host at the right one: `pulumi config set docker:host "
            f"ssh://deploy@netbird.example.com --stack {stack}`. Nothing was changed.") \
            from None


def program_modules() -> list[str]:
    """The modules the program (__main__.py) imports, read from it, so no list can drift."""
    found: list[str] = []
    for node in ast.walk(ast.parse((ROOT / "__main__.py").read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from components import adoption` names a module, `from … import Name` not:
            # import_ahead skips what is no module.
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return list(dict.fromkeys(found))


def import_ahead(modules: list[str]) -> None:
    """Imports `modules` in a thread of their own, while the engine starts in its process (0.3 s
    on the other core): the program then finds them imported. A module that fails to import is
    left to the program, which reports it."""
    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:
                continue  # a name imported from a module, not a module
            except Exception:  # noqa: BLE001 - the program imports it again and says why
                return
    threading.Thread(target=run, daemon=True).start()


class EngineRun:
    """`pulumi up|preview|refresh|destroy` of one stack, its program served from this process
    (serve), its output, events and result read by wait()."""

    def __init__(self, command: str, stack: str, work_dir: Path, refresh: bool,
                 cli: Optional[str] = None) -> None:
        cli = cli or cli_path()
        if cli is None:
            raise SystemExit("no Pulumi CLI: set PULUMI_CLI_ROOT (`eval \"$(make -s "
                             "pulumi-env)\"`) or put `pulumi` on PATH")
        env = {**os.environ, **pulumi_env(), "PULUMI_AUTOMATION_API": "true",
               "PULUMI_DEBUG_COMMANDS": "true"}
        # Plugins next to the CLI come first, as the Automation API has it.
        env["PATH"] = os.pathsep.join([os.path.dirname(cli), env.get("PATH", "")])
        self.started = time.perf_counter()
        self.folder = Path(tempfile.mkdtemp(prefix="netbird-keycloak-engine-"))  # mode 0700
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(str(self.folder / "language"))
        self._listener.listen(16)
        self._events_path = self.folder / "events"
        os.mkfifo(self._events_path, 0o600)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._server: Any = None
        self.process = subprocess.Popen(
            [cli, "--non-interactive", command, *engine_args(command, refresh),
             f"--client=unix://{self.folder / 'language'}", "--exec-kind",
             "auto.inline", "--event-log", str(self._events_path), "--stack", stack],
            cwd=work_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            encoding="utf-8")
        self._readers = [
            threading.Thread(target=self._lines, args=("out", self.process.stdout), daemon=True),
            threading.Thread(target=self._lines, args=("err", self.process.stderr), daemon=True),
            threading.Thread(target=self._events, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _lines(self, kind: str, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            self._queue.put((kind, line.rstrip()))
        stream.close()
        self._queue.put((kind, None))

    def _events(self) -> None:
        try:
            # Blocks until the CLI opens its end (or _release_events, if it never does).
            with open(self._events_path, encoding="utf-8") as events:
                for line in events:
                    self._queue.put(("event", line))
        finally:
            self._queue.put(("event", None))

    def _release_events(self) -> None:
        """Ends the event reader of a CLI that exited before it opened the event log."""
        while self._readers[2].is_alive():
            try:
                os.close(os.open(self._events_path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # the reader is not waiting in open() (any more)
            self._readers[2].join(0.05)

    def serve(self, program: Callable[[], None]) -> None:
        """Serves `program` to the engine: imports the SDK, starts its language server, and
        relays the CLI's connections to it."""
        # These imports are what the CLI's start overlaps.
        from concurrent import futures  # noqa: PLC0415

        import grpc  # noqa: PLC0415
        import pulumi.log  # noqa: PLC0415
        from pulumi.automation._server import LanguageServer  # noqa: PLC0415
        from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS  # noqa: PLC0415
        from pulumi.runtime.proto import language_pb2_grpc  # noqa: PLC0415

        # The SDK sends each of its debug lines to the engine, a blocking call each (90 in a
        # preview without changes here); the engine shows them only with --debug, which no run
        # here passes. Dropped: 0.05 CPU s per run, 0.07 s of a preview's 0.74 (measured).
        pulumi.log.debug = _dropped
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                   options=_GRPC_CHANNEL_OPTIONS)
        language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(program),
                                                                self._server)
        self._server.add_insecure_port(f"unix:{self.folder / 'server'}")
        self._server.start()
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        while True:
            try:
                incoming, _ = self._listener.accept()
            except OSError:
                return  # closed: the run is over
            outgoing = socket.socket(socket.AF_UNIX)
            outgoing.connect(str(self.folder / "server"))
            for source, sink in ((incoming, outgoing), (outgoing, incoming)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def wait(self, on_output: Callable[[str], None], on_event: Callable[[Any], None]) -> Any:
        """Passes on the CLI's output lines and the engine's events until the CLI exits; its
        result (the Automation API's CommandResult), or the Automation API's error for it."""
        from pulumi.automation import CommandResult, EngineEvent  # noqa: PLC0415
        from pulumi.automation.errors import create_command_error  # noqa: PLC0415

        lines: dict[str, list[str]] = {"out": [], "err": []}
        open_streams = {"out", "err", "event"}
        try:
            while open_streams:
                kind, line = self._queue.get()
                if line is None:
                    open_streams.discard(kind)
                    if not open_streams & {"out", "err"}:  # the CLI is done writing
                        self.process.wait()
                        self._release_events()
                elif kind == "event":
                    on_event(EngineEvent.from_json(json.loads(line)))
                else:
                    lines[kind].append(line)
                    if kind == "out":
                        on_output(line)
        finally:
            self.close()
        result = CommandResult(stdout="\n".join(lines["out"]), stderr="\n".join(lines["err"]),
                               code=self.process.wait())
        if result.code != 0:
            raise create_command_error(result)
        return result

    def close(self) -> None:
        """Stops serving and removes the run's folder; a CLI still running is stopped as on
        Ctrl-C (it records what it did and releases the stack's lock)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(interrupted.CLI_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._listener.close()
        if self._server is not None:
            self._server.stop(0)
        shutil.rmtree(self.folder, ignore_errors=True)


def _dropped(*_: Any, **__: Any) -> None:
    """pulumi.log.debug in a run of EngineRun."""


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass  # the other side closed
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class StartedAhead:
    """A run started by start_ahead, and Ctrl-C noted (not raised) from before its start: the
    CLI handles it (stack.main leaves the guard)."""

    def __init__(self, run: EngineRun, ctrl_c: interrupted.EngineHandlesCtrlC):
        self.run, self.ctrl_c = run, ctrl_c


def ahead_for(argv: list[str]) -> Optional[argparse.Namespace]:
    """The arguments of a command whose run can start ahead: an engine command on a stack with
    its file, whose state (a file backend's) shows it exists, and whose checks pass. None
    otherwise: stack.main then runs the command as it would anyway (and reports what refused
    it)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # said once, by stack.main
            args, _ = parser().parse_known_args(argv)
    except SystemExit:
        return None
    work_dir = args.work_dir.resolve()
    if args.command not in ENGINE_COMMANDS or not stack_file(work_dir, args.stack).exists():
        return None
    try:
        project = yaml.safe_load((work_dir / "Pulumi.yaml").read_text())["name"]
        if not file_state.exists(project, args.stack):
            return None  # another backend, or a new stack: the Automation API selects it
        check_docker_engine(args.stack, stack_file_config(work_dir, args.stack))
    except (OSError, KeyError, TypeError, yaml.YAMLError, EngineUnreachable):
        return None
    return args


def start_ahead(argv: list[str]) -> Optional[StartedAhead]:
    """The run of `argv` started now (ahead_for), with the program's imports under way in a
    thread; the caller then imports the SDK, and stack.main serves the program and waits."""
    args = ahead_for(argv)
    if args is None:
        return None
    ctrl_c = interrupted.EngineHandlesCtrlC().__enter__()
    try:
        run = EngineRun(args.command, args.stack, args.work_dir.resolve(), args.refresh)
    except BaseException:
        ctrl_c.__exit__(None, None, None)
        raise
    import_ahead(program_modules())
    return StartedAhead(run, ctrl_c)
