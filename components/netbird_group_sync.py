"""NetBirdGroupSync: NetBird's JWT group sync turned on for the groups claim (connector mode with
`netbird:managementUrl` and `netbird:groups`).

With it, each login through the Keycloak connector creates the NetBird groups named in the
token's `netbird:groupsClaim` claim and puts the user in them; access policies then use them.
It is an account setting of NetBird (`/api/accounts/{id}`, whose PUT takes the whole settings
object: the others are sent back as they are). Destroy puts back what the account had before
the stack turned the sync on (off, or on for another claim): NetBird is left as it was found.
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


SETTINGS = ("jwt_groups_enabled", "jwt_groups_claim_name")


def _set(props: dict, wanted: dict) -> tuple[str, dict]:
    """Puts `wanted` (of SETTINGS) into the account's settings; returns the account's id and
    what those settings were before."""
    account = _account(props)
    before = {key: account["settings"].get(key) for key in SETTINGS}
    _call(props, "PUT", f"/accounts/{account['id']}",
          {"settings": {**account["settings"], **wanted}})
    return account["id"], before


def _on(props: dict) -> dict:
    return {"jwt_groups_enabled": True, "jwt_groups_claim_name": props["claim"]}


class _Provider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        ident, before = _set(props, _on(props))
        return CreateResult(id_=ident, outs={**props, "enabled": True, "before": before})

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        keys = ("management_url", "api_token", "claim", "enabled")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys) or
                          olds.get("enabled") is not True, replaces=[],
                          delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        _, before = _set(news, _on(news))
        # What the account had before this stack first turned the sync on is kept.
        return UpdateResult(outs={**news, "enabled": True, "before": olds.get("before", before)})

    def read(self, id_: str, props: dict) -> ReadResult:
        settings = _account(props)["settings"]
        on = settings.get("jwt_groups_enabled") is True and \
            settings.get("jwt_groups_claim_name") == props["claim"]
        return ReadResult(id_=id_, outs={**props, "enabled": on})

    def delete(self, _id: str, props: dict) -> None:
        # A state from before `before` was recorded: the sync was off then (the old delete).
        before = props.get("before") or {"jwt_groups_enabled": False}
        _set(props, {key: value for key, value in before.items() if value is not None})


class NetBirdGroupSync(Resource):
    def __init__(self, name: str, *, management_url: str, api_token: pulumi.Input[str],
                 claim: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_Provider(), name, {
            "management_url": management_url, "api_token": pulumi.Output.secret(api_token),
            "claim": claim, "enabled": True,
        }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["api_token"])))
