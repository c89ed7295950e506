"""NetBirdIdentityProvider: Keycloak registered in NetBird's embedded identity provider.

NetBird 0.62+ runs its own identity provider and adds external ones as connectors: Settings →
Identity Providers in the dashboard, or `/api/identity-providers` of the management API, which
this resource speaks (type `keycloak`: issuer, client id, client secret). NetBird checks the
issuer's discovery document when an entry is created or changed. Created by `up`, kept in step
(a rotated client secret, a renamed realm), its drift found by `refresh`, removed by `destroy`;
an entry for the same issuer and client that is already there is taken over.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Optional

import pulumi
from pulumi.dynamic import (CreateResult, DiffResult, ReadResult, Resource, ResourceProvider,
                            UpdateResult)

from foundation.netbird_api import NetBirdRefused, call, request

KIND = "keycloak"
# What NetBird keeps and shows of an entry; the client secret it keeps but never shows.
SHOWN = ("name", "issuer", "client_id")


def _api(props: dict, method: str, path: str, body: Any = None, ok=(200, 201)) -> Any:
    return call(props["management_url"], props["api_token"], method,
                f"/identity-providers{path}", body, ok)


def _entry(props: dict) -> dict:
    return {"type": KIND, "name": props["name"], "issuer": props["issuer"],
            "client_id": props["client_id"], "client_secret": props["client_secret"]}


class _Provider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        # An entry for this issuer and client already there (added in the dashboard, or by an
        # `up` killed before its record) is taken over, not doubled.
        same = [e for e in _api(props, "GET", "") if (e.get("issuer"), e.get("client_id")) ==
                (props["issuer"], props["client_id"])]
        if same:
            _api(props, "PUT", f"/{urllib.parse.quote(same[0]['id'])}", _entry(props))
            ident = same[0]["id"]
        else:
            ident = _api(props, "POST", "", _entry(props))["id"]
        return CreateResult(id_=ident, outs={**props, "provider_id": ident})

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        keys = ("name", "issuer", "client_id", "client_secret")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        moved = olds.get("management_url") != news.get("management_url")
        return DiffResult(changes=bool(changed) or moved or
                          olds.get("api_token") != news.get("api_token"),
                          replaces=["management_url"] if moved else [],
                          stables=["provider_id"], delete_before_replace=False)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        if any(olds.get(k) != news.get(k) for k in ("name", "issuer", "client_id",
                                                     "client_secret")):
            _api(news, "PUT", f"/{urllib.parse.quote(id_)}", _entry(news))
        return UpdateResult(outs={**news, "provider_id": id_})

    def read(self, id_: str, props: dict) -> ReadResult:
        # NetBird keeps the secret but never shows it: the recorded one stands.
        status, shown = request(props["management_url"], props["api_token"], "GET",
                                f"/identity-providers/{urllib.parse.quote(id_)}")
        if status == 404:
            return ReadResult(id_="", outs={})  # removed in NetBird: the next `up` adds it
        if status != 200:
            raise NetBirdRefused(f"GET /api/identity-providers/{id_}: {status} {shown}")
        return ReadResult(id_=id_, outs={**props, **{k: shown[k] for k in SHOWN},
                                         "provider_id": id_})

    def delete(self, id_: str, props: dict) -> None:
        _api(props, "DELETE", f"/{urllib.parse.quote(id_)}", ok=(200, 204, 404))


class NetBirdIdentityProvider(Resource):
    """Outputs: `provider_id`, NetBird's id of the entry (its login page links
    `/oauth2/auth/<provider_id>`)."""

    provider_id: pulumi.Output[str]

    def __init__(self, name: str, *, management_url: str, api_token: pulumi.Input[str],
                 display_name: str, issuer: pulumi.Input[str], client_id: pulumi.Input[str],
                 client_secret: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_Provider(), name, {
            "management_url": management_url, "api_token": pulumi.Output.secret(api_token),
            "name": display_name, "issuer": issuer, "client_id": client_id,
            "client_secret": pulumi.Output.secret(client_secret), "provider_id": None,
        }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["api_token", "client_secret"])))
