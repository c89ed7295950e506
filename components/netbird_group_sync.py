"""NetBirdGroupSync: NetBird's JWT group sync turned on for the groups claim (connector mode with
`netbird:managementUrl` and `netbird:groups`).

With it, each login through the Keycloak connector creates the NetBird groups named in the
token's `netbird:groupsClaim` claim and puts the user in them; access policies then use them.
It is an account setting of NetBird (`/api/accounts/{id}`, whose PUT takes the whole settings
object: the others are sent back as they are). Destroy turns the sync off again.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import (CreateResult, DiffResult, ReadResult, Resource, ResourceProvider,
                            UpdateResult)

from foundation.netbird_api import NetBirdRefused, call

def _call(props: dict, method: str, path: str, body: Any = None) -> Any:
    return call(props["management_url"], props["api_token"], method, path, body, ok=(200,))


def _account(props: dict) -> dict:
    accounts = _call(props, "GET", "/accounts")
    if len(accounts) != 1:
        raise NetBirdRefused(f"netbird:apiToken sees {len(accounts)} NetBird accounts, not one")
    return accounts[0]


def _set(props: dict, enabled: bool) -> str:
    account = _account(props)
    settings = {**account["settings"], "jwt_groups_enabled": enabled,
                "jwt_groups_claim_name": props["claim"]}
    _call(props, "PUT", f"/accounts/{account['id']}", {"settings": settings})
    return account["id"]


class _Provider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        return CreateResult(id_=_set(props, True), outs={**props, "enabled": True})

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        keys = ("management_url", "api_token", "claim", "enabled")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys) or
                          olds.get("enabled") is not True, replaces=[],
                          delete_before_replace=False)

    def update(self, _id: str, _olds: dict, news: dict) -> UpdateResult:
        _set(news, True)
        return UpdateResult(outs={**news, "enabled": True})

    def read(self, id_: str, props: dict) -> ReadResult:
        settings = _account(props)["settings"]
        on = settings.get("jwt_groups_enabled") is True and \
            settings.get("jwt_groups_claim_name") == props["claim"]
        return ReadResult(id_=id_, outs={**props, "enabled": on})

    def delete(self, _id: str, props: dict) -> None:
        _set(props, False)


class NetBirdGroupSync(Resource):
    def __init__(self, name: str, *, management_url: str, api_token: pulumi.Input[str],
                 claim: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_Provider(), name, {
            "management_url": management_url, "api_token": pulumi.Output.secret(api_token),
            "claim": claim, "enabled": True,
        }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["api_token"])))
