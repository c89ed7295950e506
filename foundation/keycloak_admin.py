"""The one Keycloak Admin REST client of the project: the program's hand-off
(components/pulumi_service_account.py), adoption, rotation, `make admin-user`, `make verify`, the
tests and the benchmarks all use it. Standard library only: the engine's dynamic-provider process
loads it too."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A bearer token never follows a redirect: a redirect is answered as it is."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, form: Optional[dict] = None, body: Any = None,
         token: Optional[str] = None, timeout: float = 30,
         headers: Optional[dict[str, str]] = None) -> tuple[int, Any]:
    """(status, decoded JSON or text); status 0 with the reason when nothing answered."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, unverified: for looking at what Keycloak put in, not for trust."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def admin_login(base: str, user: str = "", password: str = "", client_id: str = "admin-cli",
                client_secret: str = "") -> tuple[int, Any]:
    """A master-realm Admin API token: client credentials when a client secret is given (the
    service account Pulumi logs in with), else an admin user's password through admin-cli."""
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret} if client_secret else \
        {"grant_type": "password", "client_id": client_id, "username": user,
         "password": password}
    return http("POST", f"{base.rstrip('/')}/realms/master/protocol/openid-connect/token",
                form=form, timeout=10)


def login_for(keycloak) -> dict[str, str]:
    """admin_login's arguments for a stack's KeycloakSettings, the way Pulumi logs in."""
    if keycloak.login == "service-account":
        return {"client_id": keycloak.admin_client_id,
                "client_secret": keycloak.admin_client_secret}
    return {"user": keycloak.admin_user, "password": keycloak.admin_password}


class KeycloakAdmin:
    """A master-realm admin session, to look at and tamper with Keycloak behind Pulumi's back:
    as an admin user, or as a service-account client (`client_secret`)."""

    def __init__(self, base: str, user: str = "", password: str = "", **client: str):
        self.base = base.rstrip("/")
        self.login = dict(user=user, password=password, **client)
        self.refresh()

    def refresh(self) -> None:
        status, token = admin_login(self.base, **self.login)
        assert status == 200, f"admin login failed: {status} {token}"
        self.token = token["access_token"]

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, answer = http(method, f"{self.base}/admin/realms{path}", body=body,
                              token=self.token)
        if status == 401:  # admin-cli tokens live a minute; long runs log in again
            self.refresh()
            status, answer = http(method, f"{self.base}/admin/realms{path}", body=body,
                                  token=self.token)
        return status, answer

    def get(self, path: str) -> Any:
        status, body = self(path=path, method="GET")
        assert status == 200, f"GET {path}: {status} {body}"
        return body
