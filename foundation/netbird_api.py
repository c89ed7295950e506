"""The one client of NetBird's management API (`/api/…`, a personal access token): used by the
program's NetBird resources and by the tests' NetBird server."""

from __future__ import annotations

from typing import Any

from foundation.keycloak_admin import http

TIMEOUT = 30


class NetBirdRefused(Exception):
    pass


def request(base: str, token: str, method: str, path: str, body: Any = None
            ) -> tuple[int, Any]:
    """(status, decoded answer) of `METHOD base/api/path`; status 0 when nothing answered."""
    return http(method, f"{base.rstrip('/')}/api{path}", body=body, timeout=TIMEOUT,
                headers={"Authorization": f"Token {token}"})


def call(base: str, token: str, method: str, path: str, body: Any = None,
         ok: tuple[int, ...] = (200, 201)) -> Any:
    """The answer of a call that must succeed, else NetBirdRefused saying what to do."""
    status, answer = request(base, token, method, path, body)
    if status == 0:
        raise NetBirdRefused(f"NetBird's management API at {base} does not answer: {answer}")
    if status == 401:
        raise NetBirdRefused("NetBird refused netbird:apiToken (401): create a personal access "
                             "token of an owner or admin and set it with `pulumi config set "
                             "--secret netbird:apiToken`")
    if status not in ok:
        raise NetBirdRefused(f"{method} /api{path}: {status} {answer}")
    return answer
