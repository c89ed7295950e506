"""Renders what NetBird's dashboard asks for when Keycloak is added as a connector of its
embedded identity provider (Settings → Identity Providers → Keycloak), as JSON. Pure."""

from __future__ import annotations

import json
from typing import Any, Mapping

_FIELDS = {"issuer": "issuer_url", "clientId": "connector_client_id",
           "clientSecret": "connector_client_secret", "redirectUrl": "connector_redirect_url"}


def render_connector_json(outputs: Mapping[str, Any], stack: str) -> str:
    missing = [out for out in _FIELDS.values() if not outputs.get(out)]
    if missing:
        raise ValueError("the stack has no output " + ", ".join(missing) + "; run `make up` "
                         "for this stack first")
    document = {"stack": stack, "type": "keycloak", "name": "Keycloak"}
    document.update({field: outputs[out] for field, out in _FIELDS.items()})
    return json.dumps(document, indent=2) + "\n"
