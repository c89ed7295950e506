"""UserPassword: the NetBird user's password in Keycloak follows the stack's `user_password`.

pulumi-keycloak sets a user's password only when it creates the user, so a rotated password
(`make rotate WHAT=user-password`: the program generates a new one, components/stack_secrets.py)
or one the stack file changes reaches Keycloak through this resource, in the same `up` that
generates it, under the engine's lock and state: the password the state records is the one
Keycloak holds once `up` is done. Destroying it changes nothing (the user goes with the realm).

Only a stack whose password can change after the user was created registers it (`registered`):
each run with it starts a Python process for the SDK's dynamic provider, on the run's critical
path (it waits for the user), which a stack that never rotates does not need.
"""

from __future__ import annotations

import urllib.parse
from typing import Mapping, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from foundation.keycloak_admin import admin_login, http

TIMEOUT = 30


class PasswordNotSet(Exception):
    pass


def _set_password(props: dict) -> None:
    base = props["url"].rstrip("/")
    status, token = admin_login(base, **props["login"])
    if status != 200:
        raise PasswordNotSet(f"cannot log in to Keycloak's Admin API at {base} ({status})")
    path = (f"{base}/admin/realms/{urllib.parse.quote(props['realm'])}/users/"
            f"{urllib.parse.quote(props['user_id'])}/reset-password")
    status, answer = http("PUT", path, body={"type": "password", "value": props["password"],
                                             "temporary": False},
                          token=token["access_token"], timeout=TIMEOUT)
    # An update killed after Keycloak took the password is run again by the next `up`, and a
    # create may follow the user's creation with it: the password history then refuses the same
    # (random, never reused) value: it is set already.
    if status == 204 or (status == 400 and "history" in str(answer).lower()):
        return
    raise PasswordNotSet(f"Keycloak refused the new password of user {props['user_id']} in "
                         f"realm {props['realm']} ({status}: {answer}); the old one still works")


def registered(name: str, *, chosen: bool, rotated: bool, recorded: Mapping[str, str]) -> bool:
    """Whether this run registers the UserPassword `name` (pure): when the stack file sets the
    password or a rotation stamp (the password can then differ from the one the user was
    created with), and when the state records one already (dropping it would show as a
    delete). `recorded`: {resource name: id} of the state."""
    return chosen or rotated or name in recorded


def set_on_create(user: str, recorded: Mapping[str, str]) -> bool:
    """Whether a new UserPassword must set the password (pure): yes unless this run creates the
    user, with this password."""
    return user in recorded


class _Provider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        if props.get("set_on_create"):
            _set_password(props)
        return CreateResult(id_=props["user_id"], outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        changed = olds.get("password") != news.get("password")
        return DiffResult(changes=changed or any(olds.get(k) != news.get(k)
                                                 for k in ("url", "login")),
                          replaces=[k for k in ("realm", "user_id")
                                    if olds.get(k) != news.get(k)],
                          delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        if olds.get("password") != news["password"]:
            _set_password(news)
        return UpdateResult(outs=news)


class UserPassword(Resource):
    def __init__(self, name: str, *, url: pulumi.Input[str], login: pulumi.Input[dict],
                 realm: pulumi.Input[str], user_id: pulumi.Input[str],
                 password: pulumi.Input[str], set_on_create: bool,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_Provider(), name, {
            "url": url, "login": pulumi.Output.secret(login), "realm": realm,
            "user_id": user_id, "password": pulumi.Output.secret(password),
            "set_on_create": set_on_create,
        }, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["login", "password"])))


def register_for(name: str, user: str, *, chosen: bool, rotated: bool, recorded: Mapping[str, str],
                 url: pulumi.Input[str], login: pulumi.Input[dict], realm: pulumi.Input[str],
                 user_id: pulumi.Input[str],
                 password: pulumi.Input[str]) -> Optional["UserPassword"]:
    """The UserPassword of `user` where this stack needs one (registered), else None: a
    changed password reaches Keycloak through it (pulumi-keycloak sets it only when creating
    the user)."""
    if not registered(name, chosen=chosen, rotated=rotated, recorded=recorded):
        return None
    return UserPassword(name, url=url, login=login, realm=realm, user_id=user_id,
                        password=password, set_on_create=set_on_create(user, recorded))
