"""One small HTTP client for JSON APIs (Keycloak's), shared by `make verify`, the tests and the
benchmarks: standard library only, so `make verify` needs nothing beyond Python."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional


def http(method: str, url: str, form: Optional[dict] = None, body: Any = None,
         token: Optional[str] = None, timeout: float = 30) -> tuple[int, Any]:
    """(status, decoded JSON or text); status 0 with the reason when nothing answered."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
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
