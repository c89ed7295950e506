"""Stand-in `docker` provider: RemoteImage, Volume, Network and Container over the Docker Engine
API.

Semantics follow pulumi-docker 5.1 where this program relies on them: an image present locally is
never pulled, `keepLocally` keeps it on delete, a container with `wait` is created only once its
healthcheck reports healthy, and almost every container input forces a replacement.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.parse
from typing import Any, Optional

from standin.server import ProviderError, Resource, StandinProvider, serve

VERSION = "5.1.0"
_NS = 1_000_000_000


def _duration_ns(text: Optional[str], default: str) -> int:
    text = text or default
    units = {"ms": _NS // 1000, "s": _NS, "m": 60 * _NS, "h": 3600 * _NS}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(text)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class _SshConnection(http.client.HTTPConnection):
    """The Engine API through `ssh HOST docker system dial-stdio`, as the Docker CLI and
    pulumi-docker reach ssh:// hosts: the remote docker CLI relays stdin/stdout to its engine."""

    def __init__(self, target: str, port: Optional[int], ssh_opts: list[str], timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-T",
                    *(["-p", str(port)] if port else []), *ssh_opts,
                    "--", target, "docker", "system", "dial-stdio"]
        self.process: Optional[subprocess.Popen] = None

    def connect(self):
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(self.ssh, stdin=theirs, stdout=theirs,
                                        stderr=subprocess.PIPE)
        theirs.close()
        ours.settimeout(self.timeout)
        self.sock = ours

    def ssh_error(self) -> str:
        """What ssh said when the connection failed (authentication, host key, no docker)."""
        if not self.process:
            return ""
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            return ""
        return " ".join(err.decode(errors="replace").split())[:300]

    def close(self):
        super().close()
        if self.process:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def _tls_context(cert_path: str) -> ssl.SSLContext:
    """Docker's TLS layout: the engine's CA and this client's certificate and key."""
    files = {name: os.path.join(cert_path, name) for name in ("ca.pem", "cert.pem", "key.pem")}
    missing = [path for path in files.values() if not os.path.isfile(path)]
    if missing:
        raise ProviderError(f"docker provider: certPath {cert_path!r} lacks "
                            f"{', '.join(os.path.basename(m) for m in missing)}")
    context = ssl.create_default_context(cafile=files["ca.pem"])
    context.load_cert_chain(files["cert.pem"], files["key.pem"])
    return context


class DockerApi:
    def __init__(self, host: Optional[str], ssh_opts: Optional[list[str]] = None,
                 cert_path: Optional[str] = None):
        host = host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self.host = host
        if host.startswith("unix://"):
            self._connect = lambda timeout: _UnixConnection(host[len("unix://"):], timeout)
        elif host.startswith("tcp://") and cert_path:
            netloc, context = host[len("tcp://"):], _tls_context(cert_path)
            self._connect = lambda timeout: http.client.HTTPSConnection(netloc, timeout=timeout,
                                                                        context=context)
        elif host.startswith("tcp://"):
            netloc = host[len("tcp://"):]
            self._connect = lambda timeout: http.client.HTTPConnection(netloc, timeout=timeout)
        elif host.startswith("ssh://"):
            where = urllib.parse.urlsplit(host)
            target = f"{where.username}@{where.hostname}" if where.username else where.hostname
            self._connect = lambda timeout: _SshConnection(target, where.port,
                                                           list(ssh_opts or []), timeout)
        else:
            raise ProviderError(f"docker provider: the stand-in provider reaches unix://, "
                                f"tcp:// and ssh:// hosts, not {host!r}")

    def call(self, method: str, path: str, body: Any = None, ok=(200, 201, 204, 304),
             missing_ok: bool = False, timeout: float = 60):
        connection = self._connect(timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            connection.request(method, "/v1.41" + path, body=data,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
        except OSError as error:
            said = connection.ssh_error() if isinstance(connection, _SshConnection) else ""
            raise ProviderError(f"docker provider: cannot reach the Docker engine at "
                                f"{self.host}: {error}" + (f" (ssh: {said})" if said else "")
                                ) from None
        finally:
            connection.close()
        if response.status == 404 and missing_ok:
            return None
        if response.status not in ok:
            raise ProviderError(f"docker provider: {method} {path} answered HTTP "
                                f"{response.status}: {raw.decode(errors='replace')[:300]}")
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")


class RemoteImage(Resource):
    replace_on = ("name",)

    def create(self, i):
        name = i["name"]
        image = self.api.call("GET", f"/images/{urllib.parse.quote(name, safe='')}/json",
                              missing_ok=True)
        if image is None:  # only a missing image is pulled
            repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
            query = urllib.parse.urlencode({"fromImage": repo or name, "tag": tag or "latest"})
            self.api.call("POST", f"/images/create?{query}", timeout=900)
            image = self.api.call("GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
        return image["Id"], {"imageId": image["Id"], "repoDigest": (image.get("RepoDigests")
                                                                   or [""])[0]}

    def read(self, id_, state):
        image = self.api.call("GET", f"/images/{urllib.parse.quote(id_, safe='')}/json",
                              missing_ok=True)
        return None if image is None else {"imageId": image["Id"]}

    def update(self, id_, olds, news):
        return {}

    def delete(self, id_, state):
        if not state.get("keepLocally"):
            self.api.call("DELETE", f"/images/{urllib.parse.quote(id_, safe='')}",
                          missing_ok=True, ok=(200, 409))


class Volume(Resource):
    replace_on = ("name", "driver", "driverOpts", "labels")

    def create(self, i):
        volume = self.api.call("POST", "/volumes/create", {"Name": i["name"]})
        return volume["Name"], {"mountpoint": volume.get("Mountpoint", "")}

    def read(self, id_, state):
        volume = self.api.call("GET", f"/volumes/{id_}", missing_ok=True)
        return None if volume is None else {"name": volume["Name"]}

    def update(self, id_, olds, news):
        return {}

    def delete(self, id_, state):
        self.api.call("DELETE", f"/volumes/{id_}", missing_ok=True)


class Network(Resource):
    replace_on = ("name", "driver", "internal")
    defaults = {"driver": "bridge"}

    def create(self, i):
        network = self.api.call("POST", "/networks/create", {
            "Name": i["name"], "Driver": i.get("driver", "bridge"), "CheckDuplicate": True,
            "Internal": bool(i.get("internal", False))})
        return network["Id"], {}

    def read(self, id_, state):
        network = self.api.call("GET", f"/networks/{id_}", missing_ok=True)
        return None if network is None else {"name": network["Name"]}

    def update(self, id_, olds, news):
        return {}

    def delete(self, id_, state):
        self.api.call("DELETE", f"/networks/{id_}", missing_ok=True)


class Container(Resource):
    replace_on = ("name", "image", "command", "envs", "ports", "networkMode", "volumes",
                  "healthcheck", "entrypoints", "memory")

    def _spec(self, i: dict) -> dict:
        host: dict = {"NetworkMode": i.get("networkMode", "bridge"),
                      "RestartPolicy": {"Name": i.get("restart", "no")},
                      "Binds": [f"{v.get('volumeName') or v.get('hostPath')}:{v['containerPath']}"
                                + (":ro" if v.get("readOnly") else "")
                                for v in i.get("volumes", [])],
                      "PortBindings": {}}
        exposed = {}
        for port in i.get("ports", []):
            key = f"{port['internal']}/{port.get('protocol', 'tcp')}"
            exposed[key] = {}
            host["PortBindings"][key] = [{"HostIp": port.get("ip", "0.0.0.0"),
                                          "HostPort": str(port.get("external", ""))}]
        if i.get("memory"):
            host["Memory"] = int(i["memory"]) * 1024 * 1024
        spec: dict = {"Image": i["image"], "Cmd": i.get("command"), "Env": i.get("envs", []),
                      "ExposedPorts": exposed, "HostConfig": host}
        check = i.get("healthcheck")
        if check:
            spec["Healthcheck"] = {
                "Test": check["tests"], "Interval": _duration_ns(check.get("interval"), "0s"),
                "Timeout": _duration_ns(check.get("timeout"), "0s"),
                "Retries": int(check.get("retries", 0)),
                "StartPeriod": _duration_ns(check.get("startPeriod"), "0s")}
        return spec

    def create(self, i):
        if i.get("wait") and not i.get("healthcheck"):
            raise ProviderError("Container: `wait` needs a healthcheck")
        created = self.api.call("POST", f"/containers/create?name={i['name']}", self._spec(i))
        id_ = created["Id"]
        with self.finishing(id_, i):  # recorded with its id: the next `up` starts it again
            self._start(id_, i)
            return id_, self._outputs(id_)

    def _start(self, id_: str, i: dict) -> None:
        if not self.api.call("GET", f"/containers/{id_}/json")["State"].get("Running"):
            self.api.call("POST", f"/containers/{id_}/start")
        if i.get("wait"):
            self._wait_healthy(id_, i["name"], int(i.get("waitTimeout", 60)))

    def _wait_healthy(self, id_: str, name: str, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        status = "starting"
        while time.monotonic() < deadline:
            state = self.api.call("GET", f"/containers/{id_}/json")["State"]
            if not state.get("Running"):
                raise ProviderError(f"container {name} stopped while starting (exit code "
                                    f"{state.get('ExitCode')}); see `docker logs {name}`")
            status = state.get("Health", {}).get("Status", "none")
            if status == "healthy":
                return
            time.sleep(2)
        raise ProviderError(f"container {name} was not healthy within {timeout} s (last status "
                            f"{status}); see `docker logs {name}`")

    def _outputs(self, id_: str) -> dict:
        info = self.api.call("GET", f"/containers/{id_}/json")
        return {"hostname": info["Config"].get("Hostname", ""),
                "exitCode": info["State"].get("ExitCode")}

    def read(self, id_, state):
        info = self.api.call("GET", f"/containers/{id_}/json", missing_ok=True)
        if info is None:
            return None
        return {"name": info["Name"].lstrip("/")}

    def update(self, id_, olds, news):
        if olds.get("restart") != news.get("restart"):
            self.api.call("POST", f"/containers/{id_}/update",
                          {"RestartPolicy": {"Name": news.get("restart", "no")}})
        # Also the path of a container whose creation failed part-way (e.g. not healthy in time).
        self._start(id_, news)
        return self._outputs(id_)

    def delete(self, id_, state):
        # Named volumes survive (v=false): they hold Keycloak's data.
        self.api.call("DELETE", f"/containers/{id_}?force=true&v=false", missing_ok=True)


class DockerProvider(StandinProvider):
    name = "docker"
    version = VERSION
    resources = {
        "docker:index/remoteImage:RemoteImage": RemoteImage,
        "docker:index/volume:Volume": Volume,
        "docker:index/network:Network": Network,
        "docker:index/container:Container": Container,
    }

    def make_api(self, config):
        ssh_opts = config.get("sshOpts")
        if isinstance(ssh_opts, str):  # provider config may arrive JSON-encoded
            ssh_opts = json.loads(ssh_opts)
        return DockerApi(config.get("host"), ssh_opts, config.get("certPath"))


if __name__ == "__main__":
    serve(DockerProvider())
