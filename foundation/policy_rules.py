"""The guardrails. Each check is a plain function of a resource's inputs, so it is unit tested
without Pulumi; RULES wires them to resource types. Two things run them: the program itself, on
every resource it registers, however it is started (components/guardrails.py), and the policy
pack `policy/` for `--policy-pack` (pull-request previews), which adds the one rule over the
whole stack."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

CLIENT = "keycloak:openid/client:Client"
REALM = "keycloak:index/realm:Realm"
USER = "keycloak:index/user:User"
MAPPER = "keycloak:openid/audienceProtocolMapper:AudienceProtocolMapper"
DEFAULT_SCOPES = "keycloak:openid/clientDefaultScopes:ClientDefaultScopes"
KEYCLOAK_PROVIDER = "pulumi:providers:keycloak"
# The loopback PKCE ports, and a NetBird on this machine (a trial, the tests): its callback path.
LOOPBACK = re.compile(r"^http://(localhost|127\.0\.0\.1|\[::1\]):\d{1,5}(/[^*]*)?$")
DEV_STACKS = ("dev",)


def known(value: Any) -> bool:
    # In a preview, values computed from other resources are not known yet: judge them at `up`.
    return value is not None and not (isinstance(value, str) and value.startswith("04da6b54"))


def redirect_problems(props: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in ("validRedirectUris", "validPostLogoutRedirectUris"):
        for uri in props.get(key) or []:
            if not known(uri):
                continue
            if uri.strip() in ("*", "/*", "+") or uri.startswith("*"):
                problems.append(f"{key} holds the bare wildcard {uri!r}: any site could receive "
                                "tokens")
            elif not uri.startswith("https://") and not LOOPBACK.match(uri):
                problems.append(f"{key} holds {uri!r}: only https:// and loopback addresses "
                                "(http://localhost:<port>) are allowed")
    for origin in props.get("webOrigins") or []:
        if known(origin) and origin.strip() == "*":
            problems.append("webOrigins holds '*': use '+' (the redirect URIs' origins)")
    return problems


def public_client_problems(props: Mapping[str, Any], client_id: str) -> list[str]:
    if props.get("clientId") != client_id or not known(props.get("accessType")):
        return []
    if props.get("accessType") != "PUBLIC":
        return [f"{client_id} must be a public client: NetBird's dashboard and CLI cannot keep "
                "a secret, and a confidential client makes every login fail"]
    if props.get("pkceCodeChallengeMethod") not in ("", "S256", None):
        return [f"{client_id} allows PKCE method {props['pkceCodeChallengeMethod']!r}: use S256 "
                "or leave it optional (NetBird's clients send S256)"]
    return []


def mapper_problems(props: Mapping[str, Any]) -> list[str]:
    if props.get("addToAccessToken") is False:
        return ["the audience mapper does not add to the access token: NetBird rejects such "
                "tokens ('invalid JWT token audience field')"]
    return []


def default_scope_problems(props: Mapping[str, Any]) -> list[str]:
    scopes = props.get("defaultScopes")
    # pulumi-policy hands lists over as read-only proxies, not list instances.
    if known(scopes) and not isinstance(scopes, str) and "basic" not in list(scopes):
        return ["the client's default scopes lack 'basic': access tokens lose 'sub' and NetBird "
                "cannot identify users"]
    return []


def admin_name_problems(username: Optional[str]) -> list[str]:
    if known(username) and str(username).lower() == "admin":
        return ["an admin account named 'admin' is the first one every scanner tries: set "
                "keycloak:adminUser"]
    return []


def stack_of(urn: str) -> str:
    return urn.split("::")[0].split(":")[-1]


def realm_protection_problems(protected: bool, stack: str,
                              dev_stacks: Iterable[str] = DEV_STACKS) -> list[str]:
    if not protected and stack not in dev_stacks:
        return [f"realm is not protected in stack {stack!r}: a rename or destroy would "
                "delete every user; set netbird:protectRealm true"]
    return []


def audience_mapper_missing(resources: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    # The public client is the one NetBird's dashboard and CLI use; the embedded-IdP connector
    # (a confidential client) needs no audience mapper.
    clients = [props for kind, props in resources
               if kind == CLIENT and props.get("accessType") == "PUBLIC"]
    mappers = [props for kind, props in resources if kind == MAPPER]
    if clients and not any(m.get("addToAccessToken") is not False for m in mappers):
        return ["no audience mapper adds the NetBird client to access tokens"]
    return []


@dataclass(frozen=True)
class Rule:
    """A guardrail judging one resource: `check(props, protected, stack)` lists its problems."""

    name: str
    description: str
    types: tuple[str, ...]
    check: Callable[[Mapping[str, Any], bool, str], list[str]]
    advisory: bool = False  # warns without stopping

    def problems(self, resource_type: str, props: Mapping[str, Any], protected: bool,
                 stack: str) -> list[str]:
        return self.check(props, protected, stack) if resource_type in self.types else []


@dataclass(frozen=True)
class StackRule:
    """A guardrail judging the whole stack, from (resource type, props) of every resource: only
    a policy pack sees them all at once."""

    name: str
    description: str
    check: Callable[[list[tuple[str, Mapping[str, Any]]]], list[str]]


RULES = [
    Rule("redirect-uris-https-or-loopback",
         "Redirect URIs are https://, or http://localhost:<port> for NetBird's PKCE; no bare "
         "wildcard redirect or web origin.",
         (CLIENT,), lambda props, *_: redirect_problems(props)),
    Rule("netbird-client-public",
         "netbird-client is a public client with PKCE S256 or PKCE left optional.",
         (CLIENT,), lambda props, *_: public_client_problems(props, "netbird-client")),
    Rule("audience-mapper-adds-to-access-token",
         "The audience mapper puts the NetBird client into access tokens.",
         (MAPPER,), lambda props, *_: mapper_problems(props)),
    Rule("default-scopes-keep-basic",
         "The client's default scopes keep 'basic' (it carries 'sub').",
         (DEFAULT_SCOPES,), lambda props, *_: default_scope_problems(props)),
    Rule("no-admin-named-admin",
         "Neither the Keycloak admin nor a realm user is named 'admin'.",
         (KEYCLOAK_PROVIDER, USER), lambda props, *_: admin_name_problems(props.get("username"))),
    # Advisory: retiring a customer means unprotecting its realm on purpose; the warning still
    # shows in every preview and pull-request comment.
    Rule("realm-protected-outside-dev", "Realms are protected in every stack but dev.",
         (REALM,), lambda props, protected, stack: realm_protection_problems(protected, stack),
         advisory=True),
]
STACK_RULES = [
    StackRule("audience-mapper-present",
              "A stack with a public client has an audience mapper for access tokens.",
              audience_mapper_missing),
]
