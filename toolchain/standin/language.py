"""Stand-in `pulumi-language-python`: lets the Pulumi CLI run this Python program (`pulumi up`,
`pulumi preview`) where the official language host binary cannot be had.

The official host is a Go program in its own module, which the Go module proxy reachable here
refuses (HTTP 403). Its executor, `pulumi-language-python-exec`, ships in the `sdk/v3` module and
does the real work: this host only answers the engine's questions and starts that executor with
the project's virtualenv, the way the official host does. `make` itself does not need it (it runs
programs through the Automation API); it is for operators who type `pulumi …` on such a machine.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

VERSION = "3.259.0"
# The official executor, copied out of the sdk/v3 Go module by scripts/bootstrap.sh.
EXECUTOR = os.environ.get("NETBIRD_PULUMI_PYTHON_EXEC", "pulumi-language-python-exec")
# The executor's exit code for "the error was already shown to the user".
_BAIL = 32

_LIST_PLUGINS = """
import importlib.metadata, json
found = []
for dist in importlib.metadata.distributions():
    for file in dist.files or []:
        if file.name == "pulumi-plugin.json":
            data = json.loads(file.read_text())
            if data.get("resource"):
                found.append(data)
print(json.dumps(found))
"""


def project_python(info: language_pb2.ProgramInfo) -> str:
    """The interpreter of the project's virtualenv (runtime.options.virtualenv in Pulumi.yaml)."""
    options = json_format.MessageToDict(info.options) if info.HasField("options") else {}
    venv = options.get("virtualenv")
    if venv:
        path = Path(venv) if os.path.isabs(venv) else Path(info.root_directory) / venv
        python = path / "bin" / "python"
        if not python.exists():
            raise RuntimeError(f"the project's virtualenv {path} does not exist: run "
                               "`make bootstrap` (or python3 -m venv it and install "
                               "requirements.txt)")
        return str(python)
    return sys.executable


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str):
        self.engine_address = engine_address

    def Handshake(self, request, context):
        self.engine_address = request.engine_address or self.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    def _plugins(self, info) -> list[dict]:
        run = subprocess.run([project_python(info), "-c", _LIST_PLUGINS], capture_output=True,
                             text=True, check=True)
        return json.loads(run.stdout)

    def GetRequiredPlugins(self, request, context):
        return language_pb2.GetRequiredPluginsResponse(plugins=[
            plugin_pb2.PluginDependency(name=p["name"], kind="resource",
                                        version=p.get("version", ""), server=p.get("server", ""))
            for p in self._plugins(request.info)])

    def GetRequiredPackages(self, request, context):
        return language_pb2.GetRequiredPackagesResponse(packages=[
            plugin_pb2.PackageDependency(name=p["name"], kind="resource",
                                         version=p.get("version", ""), server=p.get("server", ""))
            for p in self._plugins(request.info)])

    def InstallDependencies(self, request, context):
        # `make bootstrap` owns the virtualenv; nothing to install here.
        return iter(())

    def Run(self, request, context):
        info = request.info
        program = Path(info.program_directory or request.pwd)
        if info.entry_point and info.entry_point != ".":
            program = program / info.entry_point
        argv = [project_python(info), "-u", EXECUTOR,
                "--monitor", request.monitor_address, "--engine", self.engine_address,
                "--project", request.project, "--stack", request.stack, "--pwd", request.pwd,
                "--dry_run", "true" if request.dryRun else "false",
                "--parallel", str(request.parallel or 1),
                "--organization", request.organization,
                "--root_directory", info.root_directory or request.pwd,
                str(program), *request.args]
        env = dict(os.environ, PULUMI_CONFIG=json.dumps(dict(request.config)),
                   PULUMI_CONFIG_SECRET_KEYS=json.dumps(list(request.configSecretKeys)))
        code = subprocess.run(argv, env=env, cwd=request.pwd or None).returncode
        if code == 0:
            return language_pb2.RunResponse()
        if code == _BAIL:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    def RunPlugin(self, request, context):
        """Runs a plugin written in Python - here, the policy pack - streaming its output."""
        info = request.info
        program = request.program or os.path.join(info.program_directory, info.entry_point or ".")
        argv = [project_python(info), "-u", program, *request.args]
        env = dict(entry.split("=", 1) for entry in request.env if "=" in entry)
        process = subprocess.Popen(argv, cwd=request.pwd or None, env=env or None,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        chunks: "queue.Queue[tuple[str, bytes]]" = queue.Queue()

        def pump(name: str, stream) -> None:
            # os.read returns as soon as anything arrives: the engine waits for the port line.
            while data := os.read(stream.fileno(), 65536):
                chunks.put((name, data))
            chunks.put((name, b""))

        for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
            threading.Thread(target=pump, args=(name, stream), daemon=True).start()
        open_streams = 2
        while open_streams:
            name, data = chunks.get()
            if not data:
                open_streams -= 1
                continue
            yield language_pb2.RunPluginResponse(**{name: data})
        yield language_pb2.RunPluginResponse(exitcode=process.wait())

    def About(self, request, context):
        return language_pb2.AboutResponse(executable=sys.executable, version=sys.version.split()[0])

    def GetProgramDependencies(self, request, context):
        return language_pb2.GetProgramDependenciesResponse()

    def RuntimeOptionsPrompts(self, request, context):
        return language_pb2.RuntimeOptionsResponse()

    def Cancel(self, request, context):
        return empty_pb2.Empty()


def main(args: list[str]) -> None:
    # The engine's address is the host:port argument; flags (-root, -tracing, …) are ignored.
    addresses = [a for a in args if re.fullmatch(r"[\w.\-\[\]:]+:\d+", a)]
    engine = addresses[-1] if addresses else ""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine interrupts its plugins when it is done with them
        server.stop(0)


if __name__ == "__main__":
    main(sys.argv[1:])
