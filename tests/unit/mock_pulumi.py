"""Pulumi mocks for unit tests (no engine, no Keycloak, no Docker): they record every resource
the program registers, with its inputs, options and provider, so tests can assert on them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import runpy
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.runtime import settings as runtime_settings

from components import guardrails

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict
    provider: Optional[str]
    custom: bool
    import_id: Optional[str] = None  # the `import_` option: adopted, not created


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.calls: list[tuple[str, dict, Optional[str]]] = []
        # Stack transforms the program registered (the mock monitor has no callback server):
        # applied here to every resource, as the engine would before registering it.
        self.transforms: list = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        for transform in self.transforms:
            judged = transform(pulumi.ResourceTransformArgs(
                custom=args.custom, type_=args.typ, name=args.name, props=dict(args.inputs),
                opts=pulumi.ResourceOptions()))
            if asyncio.iscoroutine(judged):  # an async transform: on a loop of its own
                with concurrent.futures.ThreadPoolExecutor(1) as thread:
                    thread.submit(asyncio.run, judged).result()
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider,
                                         args.custom, args.resource_id or None))
        state = dict(args.inputs)
        if args.typ == "keycloak:index/realm:Realm":
            return [args.inputs["realm"], state]
        if args.typ == "keycloak:openid/client:Client":
            if args.inputs.get("accessType") == "CONFIDENTIAL":
                state["clientSecret"] = "mock-backend-secret"
            if args.inputs.get("serviceAccountsEnabled"):
                state["serviceAccountUserId"] = f"sa-{args.name}"
        if args.typ == "pulumi:index:Stash":  # what Pulumi's built-in keeps: the first input
            state["output"] = args.inputs.get("input")
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = "sha256:mockimage"
        return [f"{args.name}-id" if args.custom else "", state]

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, dict(args.args), args.provider))
        if args.token == "keycloak:openid/getClient:getClient":
            return {"id": "realm-management-uuid", "clientId": args.args["clientId"],
                    "realmId": args.args["realmId"]}
        return {}

    def by_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: Optional[str] = None) -> Registered:
        found = [r for r in self.by_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {len(found)}"
        return found[0]


@dataclass
class ProgramRun:
    mocks: RecordingMocks
    exports: dict[str, Any]
    secret_exports: set[str]
    error: Optional[BaseException]


def run_program(config: dict[str, str], secret_keys: list[str], stack: str = "dev",
                preview: bool = False, recorded: Optional[list[dict]] = None) -> ProgramRun:
    """Runs __main__.py under mocks and resolves its exports (values and which are secret).
    The stack's state is a file backend's of its own, recording `recorded` (default: nothing,
    as before a stack's first up)."""
    with tempfile.TemporaryDirectory() as backend:
        state = os.path.join(backend, ".pulumi", "stacks", "netbird-keycloak", f"{stack}.json")
        os.makedirs(os.path.dirname(state))
        with open(state, "w") as out:
            json.dump({"checkpoint": {"latest": {"resources": recorded or []}}}, out)
        # The program reads the state and asks the stack's Docker engine what it holds before
        # any resource (components/wiring.py). Under mocks the engine is one that does not
        # exist: a real one may run this very stack's Keycloak, which the program would take
        # for a container an interrupted up left unrecorded, and remove.
        isolated = {"PULUMI_BACKEND_URL": f"file://{backend}",
                    "DOCKER_HOST": f"unix://{backend}/no-docker-engine.sock"}
        saved = {name: os.environ.get(name) for name in isolated}
        os.environ.update(isolated)
        try:
            return _run_program(config, secret_keys, stack, preview)
        finally:
            for name, value in saved.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value


def _run_program(config: dict[str, str], secret_keys: list[str], stack: str,
                 preview: bool) -> ProgramRun:
    mocks = RecordingMocks()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    exports: dict[str, Any] = {}
    secret: set[str] = set()
    error: Optional[BaseException] = None
    registering = guardrails.register
    try:
        # A fresh stack resource per run, or one run's exports would leak into the next.
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project="netbird-keycloak", stack=stack, preview=preview)
        # The mock monitor runs no transforms: the mocks collect the program's and apply them.
        guardrails.register = lambda: mocks.transforms.append(guardrails.judge)
        pulumi.runtime.set_all_config(config, secret_keys)

        @pulumi.runtime.test
        def program():
            runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__")
            outputs = {name: pulumi.Output.from_input(value) for name, value
                       in pulumi.runtime.get_root_resource().outputs.items()}

            async def collect():
                for name, output in outputs.items():
                    exports[name] = await output.future()
                    if await output.is_secret():
                        secret.add(name)

            return asyncio.ensure_future(collect())

        try:
            program()
        except Exception as raised:  # noqa: BLE001 - returned to the test to assert on
            error = raised
    finally:
        guardrails.register = registering
        pulumi.runtime.set_all_config({}, [])
        loop.close()
    return ProgramRun(mocks, exports, secret, error)



_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker for a secret value


def is_secret_input(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270"


def reveal(value: Any) -> Any:
    """The plain value inside a secret input (unit tests only)."""
    return value["value"] if is_secret_input(value) else value
