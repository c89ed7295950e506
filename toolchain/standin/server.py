"""A Pulumi resource-provider plugin server for the stand-in providers.

Why this exists: on machines that reach only package registries, the real `pulumi-resource-keycloak`
and `pulumi-resource-docker` plugins cannot be had (no plugin downloads, and the Go module proxy
refuses their provider modules). The stand-ins implement, over the same gRPC protocol and with the
same type tokens and property names, exactly the resources this program declares, so the real
Pulumi engine can run the real program against a real Keycloak and a real Docker engine. They are
used only when the real plugins are absent (see scripts/bootstrap.sh) and say so in their version.

A resource type is a `Resource` subclass: `create`, `read`, `update`, `delete` over plain dicts of
the SDK's camelCase properties, plus which input changes force a replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from typing import Any, Callable, Iterator, Optional

import grpc
from google.protobuf import any_pb2, empty_pb2, json_format, struct_pb2
from google.rpc import status_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's marker for a not-yet-known value


class ProviderError(Exception):
    """An error the operator should read as it is (no traceback)."""


class CreatedButFailed(ProviderError):
    """The object exists in the managed system, but a later step of its creation failed (e.g. the
    server stopped between the POST and the read-back). Reported to the engine as "initialization
    failed" with the id, as terraform-based providers do, so the state records the object and the
    next `up` updates it instead of creating it again (which would meet a 409)."""

    def __init__(self, id_: str, properties: dict, reason: str):
        super().__init__(reason)
        self.id, self.properties = id_, properties


def to_dict(struct: Optional[struct_pb2.Struct]) -> dict:
    if struct is None:
        return {}
    data = json_format.MessageToDict(struct)
    return _ints(data)


_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _ints(value: Any) -> Any:
    # Struct carries every number as a double; Keycloak and Docker want integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if _SECRET_SIG in value:  # the engine may send secrets wrapped even when told not to
            return _ints(value.get("value"))
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def to_struct(data: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update({k: v for k, v in data.items() if v is not None})
    return struct


def has_unknowns(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknowns(v) for v in value)
    return False


class Resource:
    """One resource type. Subclasses set `replace_on` and implement the four operations."""

    replace_on: tuple[str, ...] = ()
    defaults: dict[str, Any] = {}

    def __init__(self, provider: "StandinProvider"):
        self.provider = provider

    @property
    def api(self) -> Any:
        return self.provider.api

    def check(self, news: dict) -> dict:
        return {**self.defaults, **news}

    def create(self, inputs: dict) -> tuple[str, dict]:
        raise NotImplementedError

    @staticmethod
    @contextlib.contextmanager
    def finishing(id_: str, inputs: dict) -> Iterator[None]:
        """Wraps what follows the call that created object `id_`: a failure there is reported
        as CreatedButFailed, so the engine keeps the object instead of creating it again."""
        try:
            yield
        except ProviderError as error:
            raise CreatedButFailed(id_, inputs, str(error)) from None

    def read(self, id_: str, state: dict) -> Optional[dict]:
        """The live state, or None when the object no longer exists."""
        raise NotImplementedError

    def update(self, id_: str, olds: dict, news: dict) -> dict:
        raise NotImplementedError

    def delete(self, id_: str, state: dict) -> None:
        raise NotImplementedError


class StandinProvider(provider_pb2_grpc.ResourceProviderServicer):
    name = ""
    version = ""
    resources: dict[str, type[Resource]] = {}
    functions: dict[str, Callable[["StandinProvider", dict], dict]] = {}

    def __init__(self) -> None:
        self.config: dict = {}
        self._api: Any = None

    def make_api(self, config: dict) -> Any:
        """The client for the system this provider manages, built from the provider config."""
        raise NotImplementedError

    @property
    def api(self) -> Any:
        # Built at first use, not in Configure: like initial_login=false, no call before needed.
        if self._api is None:
            self._api = self.make_api(self.config)
        return self._api

    # Configuration -----------------------------------------------------------------------------
    def configure(self, config: dict) -> None:
        self.config = config
        self._api = None

    def _handle(self, context, fn):
        try:
            return fn()
        except CreatedButFailed as error:
            detail = any_pb2.Any()
            detail.Pack(provider_pb2.ErrorResourceInitFailed(
                id=error.id, properties=to_struct(error.properties),
                inputs=to_struct(error.properties), reasons=[str(error)]))
            status = status_pb2.Status(code=grpc.StatusCode.UNKNOWN.value[0],
                                       message=str(error), details=[detail])
            context.abort(grpc.StatusCode.UNKNOWN, str(error),
                          (("grpc-status-details-bin", status.SerializeToString()),))
        except ProviderError as error:
            context.abort(grpc.StatusCode.UNKNOWN, str(error))
        except Exception as error:  # noqa: BLE001 - reported to the engine with the cause
            traceback.print_exc(file=sys.stderr)
            context.abort(grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}")

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=self.version)

    def GetSchema(self, request, context):
        return provider_pb2.GetSchemaResponse(schema="{}")

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        olds, news = to_dict(request.old_inputs), to_dict(request.news)
        changed = sorted(k for k in set(olds) | set(news) if olds.get(k) != news.get(k))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed
            else provider_pb2.DiffResponse.DIFF_NONE, diffs=changed)

    def Configure(self, request, context):
        config = to_dict(request.args)
        if not config:
            config = {k.split(":")[-1]: v for k, v in request.variables.items()}
        self.configure(config)
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=False)

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    def Attach(self, request, context):
        return empty_pb2.Empty()

    # Resources ---------------------------------------------------------------------------------
    def _resource(self, urn: str) -> Resource:
        token = urn.split("::")[2].split("$")[-1]
        if token not in self.resources:
            raise ProviderError(f"the stand-in {self.name} provider does not implement {token}; "
                                "install the real provider plugin to use it")
        return self.resources[token](self)

    def Check(self, request, context):
        def run():
            news = to_dict(request.news)
            return provider_pb2.CheckResponse(
                inputs=to_struct(self._resource(request.urn).check(news)))
        return self._handle(context, run)

    def Diff(self, request, context):
        def run():
            resource = self._resource(request.urn)
            olds = to_dict(request.old_inputs) or to_dict(request.olds)
            news = to_dict(request.news)
            keys = set(olds) | set(news)
            changed = sorted(k for k in keys if olds.get(k) != news.get(k)
                             and k not in request.ignoreChanges)
            replaces = [k for k in changed if k in resource.replace_on]
            detailed = {k: provider_pb2.PropertyDiff(
                kind=(provider_pb2.PropertyDiff.UPDATE_REPLACE if k in replaces
                      else provider_pb2.PropertyDiff.UPDATE),
                inputDiff=True) for k in changed}
            return provider_pb2.DiffResponse(
                changes=provider_pb2.DiffResponse.DIFF_SOME if changed
                else provider_pb2.DiffResponse.DIFF_NONE,
                diffs=changed, replaces=replaces, detailedDiff=detailed,
                hasDetailedDiff=True, deleteBeforeReplace=bool(replaces))
        return self._handle(context, run)

    def Create(self, request, context):
        def run():
            inputs = to_dict(request.properties)
            id_, outputs = self._resource(request.urn).create(inputs)
            return provider_pb2.CreateResponse(id=id_, properties=to_struct({**inputs, **outputs}))
        return self._handle(context, run)

    def Read(self, request, context):
        def run():
            state = to_dict(request.properties)
            inputs = to_dict(request.inputs)
            live = self._resource(request.urn).read(request.id, {**inputs, **state})
            if live is None:
                return provider_pb2.ReadResponse(id="")
            # Live values replace the recorded inputs, so `refresh` shows drift and `up` mends it.
            new_inputs = {k: live.get(k, v) for k, v in inputs.items()}
            return provider_pb2.ReadResponse(id=request.id, properties=to_struct({**state, **live}),
                                             inputs=to_struct(new_inputs))
        return self._handle(context, run)

    def Update(self, request, context):
        def run():
            olds, news = to_dict(request.olds), to_dict(request.news)
            outputs = self._resource(request.urn).update(request.id, olds, news)
            return provider_pb2.UpdateResponse(properties=to_struct({**olds, **news, **outputs}))
        return self._handle(context, run)

    def Delete(self, request, context):
        def run():
            self._resource(request.urn).delete(request.id, to_dict(request.properties))
            return empty_pb2.Empty()
        return self._handle(context, run)

    def Invoke(self, request, context):
        def run():
            if request.tok not in self.functions:
                raise ProviderError(f"the stand-in {self.name} provider has no function "
                                    f"{request.tok}")
            result = self.functions[request.tok](self, to_dict(request.args))
            return provider_pb2.InvokeResponse(**{"return": to_struct(result)})
        return self._handle(context, run)


def serve(provider: StandinProvider) -> None:
    """Plugin entry point: serve on a free loopback port and tell the engine which."""

    async def run() -> None:
        server = grpc.aio.server()
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(_Async(provider), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # the engine interrupts its plugins when it is done with them
        pass


class _Async(provider_pb2_grpc.ResourceProviderServicer):
    """Runs the blocking HTTP work of each call in a thread, so parallel steps stay parallel."""

    def __init__(self, inner: StandinProvider):
        self.inner = inner

    def __getattribute__(self, name):
        inner = object.__getattribute__(self, "inner")
        method = getattr(inner, name, None)
        if name.startswith("_") or not callable(method) or not name[:1].isupper():
            return object.__getattribute__(self, name)

        async def call(request, context):
            try:
                return await asyncio.to_thread(method, request, _SyncContext(context))
            except _Abort as error:
                await context.abort(error.code, error.details, error.trailing_metadata)
            except NotImplementedError:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not implemented")
        return call


class _SyncContext:
    """`context.abort` of grpc.aio is a coroutine; the threads need a plain exception instead."""

    def __init__(self, context):
        self.context = context

    def abort(self, code, details, trailing_metadata=()):
        raise _Abort(code, details, trailing_metadata)

    def set_code(self, code):
        pass

    def set_details(self, details):
        pass


class _Abort(Exception):
    def __init__(self, code, details, trailing_metadata=()):
        super().__init__(details)
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata
