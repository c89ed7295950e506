"""MasterRealmHardening: the master realm of a Keycloak this stack deploys gets the NetBird
realm's brute-force detection, password policy and kept login and admin events (every admin
login and change is in the master realm: a security review reads them there).

The master realm holds every admin account, and its token endpoint lives outside `/admin`, so
blocking `/admin` at the proxy still leaves password guessing open there. Keycloak creates the
master realm itself, so pulumi-keycloak's Realm would have to import it (and would try to delete
it on destroy); this resource sets just these fields through the Admin REST API, under the
engine: a preview shows a change, `refresh` notices drift and the next `up` repairs it. Destroy
leaves them: the container goes with the stack anyway. A Keycloak that already runs
(`keycloak:deploy false`) is not this stack's, and its master realm is left alone.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import (CreateResult, DiffResult, ReadResult, Resource, ResourceProvider,
                            UpdateResult)

from components.settings import NetBirdSettings
from foundation.keycloak_admin import admin_login, http

TIMEOUT = 30
# The master realm's fields this resource owns, by the input that sets each.
FIELDS = {"brute_force_failures": "failureFactor",
          "brute_force_wait_seconds": "waitIncrementSeconds",
          "brute_force_max_wait_seconds": "maxFailureWaitSeconds",
          "password_policy": "passwordPolicy",
          "events_seconds": "eventsExpiration"}


class MasterRealmNotHardened(Exception):
    pass


def representation(props: dict) -> dict[str, Any]:
    """The partial realm representation Keycloak updates the master realm with (it leaves every
    field the representation does not hold as it is)."""
    return {"bruteForceProtected": True, "permanentLockout": False,
            "eventsEnabled": True, "adminEventsEnabled": True,
            **{field: props[key] for key, field in FIELDS.items()}}


def _session(props: dict) -> tuple[str, str]:
    base = props["url"].rstrip("/")
    status, token = admin_login(base, **props["login"])
    if status != 200:
        raise MasterRealmNotHardened(f"cannot log in to Keycloak's Admin API at {base} "
                                     f"({status})")
    return base, token["access_token"]


def _apply(props: dict) -> None:
    base, token = _session(props)
    status, answer = http("PUT", f"{base}/admin/realms/master", body=representation(props),
                          token=token, timeout=TIMEOUT)
    if status != 204:
        raise MasterRealmNotHardened(f"Keycloak refused the master realm's brute-force "
                                     f"detection and password policy ({status}: {answer})")


class _Provider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        _apply(props)
        return CreateResult(id_="master", outs=props)

    def read(self, id_: str, props: dict) -> ReadResult:
        base, token = _session(props)
        status, realm = http("GET", f"{base}/admin/realms/master", token=token, timeout=TIMEOUT)
        if status != 200:
            return ReadResult(id_=id_, outs=props)
        live = dict(props)
        for key, field in FIELDS.items():
            live[key] = realm.get(field)
        if not realm.get("bruteForceProtected"):
            live["brute_force_failures"] = None  # off: the next up turns it on again
        if not (realm.get("eventsEnabled") and realm.get("adminEventsEnabled")):
            live["events_seconds"] = None
        return ReadResult(id_=id_, outs=live)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k)
                                      for k in (*FIELDS, "url", "login")),
                          replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        if any(olds.get(k) != news.get(k) for k in FIELDS):
            _apply(news)
        return UpdateResult(outs=news)


class MasterRealmHardening(Resource):
    def __init__(self, name: str, *, url: pulumi.Input[str], login: pulumi.Input[dict],
                 netbird: NetBirdSettings, opts: Optional[pulumi.ResourceOptions] = None):
        """`netbird`: the settings whose defences the master realm gets too."""
        super().__init__(_Provider(), name, {
            "url": url, "login": pulumi.Output.secret(login),
            "brute_force_failures": netbird.brute_force_failures,
            "brute_force_wait_seconds": netbird.brute_force_wait_seconds,
            "brute_force_max_wait_seconds": netbird.brute_force_max_wait_seconds,
            "password_policy": netbird.password_policy,
            "events_seconds": netbird.events_days * 86400,
        }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["login"])))
