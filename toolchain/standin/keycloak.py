"""Stand-in `keycloak` provider: the resources netbird-keycloak declares, over Keycloak's Admin REST API.

Semantics follow pulumi-keycloak 6.13 (terraform-provider-keycloak 5.9) where this program relies
on them: ClientDefaultScopes is authoritative over the client's list, a realm with deletion
protection refuses to be deleted, a user's initial password is applied only at creation, and
`refresh` of a deleted object reports it gone so the next `up` creates it again.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from standin.server import ProviderError, Resource, StandinProvider, serve

VERSION = "6.13.0"


class KeycloakApi:
    def __init__(self, config: dict):
        url = config.get("url")
        if not url:
            raise ProviderError("keycloak provider: `url` is not set")
        self.base = url.rstrip("/")
        self.realm = config.get("realm") or "master"
        self.client_id = config.get("clientId") or "admin-cli"
        self.username = config.get("username")
        self.password = config.get("password")
        self.client_secret = config.get("clientSecret")
        self.timeout = int(config.get("clientTimeout") or 60)
        self._token: Optional[str] = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def _login(self) -> str:
        with self._lock:
            if self._token and time.monotonic() < self._expires - 10:
                return self._token
            form = {"client_id": self.client_id}
            if self.client_secret:
                form.update(grant_type="client_credentials", client_secret=self.client_secret)
            else:
                form.update(grant_type="password", username=self.username or "",
                            password=self.password or "")
            status, body, _ = self._raw(
                "POST", f"/realms/{self.realm}/protocol/openid-connect/token",
                urllib.parse.urlencode(form).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
            if status != 200:
                raise ProviderError(f"keycloak provider: login to {self.base} as "
                                    f"{self.username or self.client_id} failed with HTTP {status}")
            token = json.loads(body)
            self._token = token["access_token"]
            self._expires = time.monotonic() + token.get("expires_in", 60)
            return self._token

    def _raw(self, method: str, path: str, data: Optional[bytes], headers: dict):
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise ProviderError(f"keycloak provider: {method} {self.base}{path}: {error}") from None

    def call(self, method: str, path: str, body: Any = None, ok=(200, 201, 204),
             missing_ok: bool = False):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            status, raw, headers = self._raw(method, "/admin/realms" + path, data, {
                "Authorization": f"Bearer {self._login()}", "Content-Type": "application/json"})
            if status == 401 and attempt == 1:
                self._token = None
                continue
            break
        if status == 404 and missing_ok:
            return None, None
        if status not in ok:
            raise ProviderError(f"keycloak provider: {method} /admin/realms{path} answered HTTP "
                                f"{status}: {raw.decode(errors='replace')[:300]}")
        location = headers.get("Location") if headers else None
        return (json.loads(raw) if raw else None), location


def _new_id(location: Optional[str]) -> str:
    if not location:
        raise ProviderError("keycloak provider: Keycloak created an object but sent no Location")
    return location.rstrip("/").rsplit("/", 1)[-1]


class Realm(Resource):
    replace_on = ("realm",)
    defaults = {"enabled": True, "terraformDeletionProtection": False}

    def _body(self, i: dict) -> dict:
        return {"realm": i["realm"], "enabled": i.get("enabled", True)}

    def create(self, i):
        self.api.call("POST", "", self._body(i))
        with self.finishing(i["realm"], i):
            return i["realm"], self.read(i["realm"], i) or {}

    def read(self, id_, state):
        realm, _ = self.api.call("GET", f"/{id_}", missing_ok=True)
        if realm is None:
            return None
        return {"realm": realm["realm"], "enabled": realm.get("enabled", True),
                "internalId": realm.get("id")}

    def update(self, id_, olds, news):
        self.api.call("PUT", f"/{id_}", self._body(news))
        return {}

    def delete(self, id_, state):
        if state.get("terraformDeletionProtection"):
            raise ProviderError(f"realm {id_!r} has deletion protection: set "
                                "netbird:protectRealm false and run `up` before deleting it")
        self.api.call("DELETE", f"/{id_}", missing_ok=True)


class User(Resource):
    replace_on = ("realmId",)
    _fields = ("username", "email", "emailVerified", "firstName", "lastName", "enabled")

    def _body(self, i):
        return {k: i[k] for k in self._fields if k in i}

    def create(self, i):
        body = self._body(i)
        password = i.get("initialPassword")
        if password:
            body["credentials"] = [{"type": "password", "value": password["value"],
                                    "temporary": bool(password.get("temporary", False))}]
        _, location = self.api.call("POST", f"/{i['realmId']}/users", body)
        return _new_id(location), {}

    def read(self, id_, state):
        user, _ = self.api.call("GET", f"/{state['realmId']}/users/{id_}", missing_ok=True)
        if user is None:
            return None
        return {k: user[k] for k in self._fields if k in user}

    def update(self, id_, olds, news):
        # The initial password is applied at creation only, as in pulumi-keycloak.
        self.api.call("PUT", f"/{news['realmId']}/users/{id_}", self._body(news))
        return {}

    def delete(self, id_, state):
        self.api.call("DELETE", f"/{state['realmId']}/users/{id_}", missing_ok=True)


class Client(Resource):
    replace_on = ("realmId",)

    def _body(self, i):
        attributes = {
            "pkce.code.challenge.method": i.get("pkceCodeChallengeMethod", ""),
            "post.logout.redirect.uris": "##".join(i.get("validPostLogoutRedirectUris", [])),
            "oauth2.device.authorization.grant.enabled":
                str(bool(i.get("oauth2DeviceAuthorizationGrantEnabled", False))).lower(),
        }
        return {
            "clientId": i["clientId"], "name": i.get("name", ""), "enabled": i.get("enabled", True),
            "protocol": "openid-connect",
            "publicClient": i["accessType"] == "PUBLIC",
            "bearerOnly": i["accessType"] == "BEARER-ONLY",
            "standardFlowEnabled": i.get("standardFlowEnabled", True),
            "implicitFlowEnabled": i.get("implicitFlowEnabled", False),
            "directAccessGrantsEnabled": i.get("directAccessGrantsEnabled", True),
            "serviceAccountsEnabled": i.get("serviceAccountsEnabled", False),
            "rootUrl": i.get("rootUrl", ""), "redirectUris": i.get("validRedirectUris", []),
            "webOrigins": i.get("webOrigins", []), "attributes": attributes,
        }

    def _computed(self, realm: str, id_: str, i: dict) -> dict:
        out: dict = {"clientSecret": "", "serviceAccountUserId": ""}
        if i["accessType"] == "CONFIDENTIAL":
            secret, _ = self.api.call("GET", f"/{realm}/clients/{id_}/client-secret")
            out["clientSecret"] = secret.get("value", "")
        if i.get("serviceAccountsEnabled"):
            user, _ = self.api.call("GET", f"/{realm}/clients/{id_}/service-account-user")
            out["serviceAccountUserId"] = user["id"]
        return out

    def create(self, i):
        _, location = self.api.call("POST", f"/{i['realmId']}/clients", self._body(i))
        id_ = _new_id(location)
        with self.finishing(id_, i):
            return id_, self._computed(i["realmId"], id_, i)

    def read(self, id_, state):
        realm = state["realmId"]
        c, _ = self.api.call("GET", f"/{realm}/clients/{id_}", missing_ok=True)
        if c is None:
            return None
        a = c.get("attributes", {})
        post_logout = a.get("post.logout.redirect.uris", "")
        access = "PUBLIC" if c.get("publicClient") else (
            "BEARER-ONLY" if c.get("bearerOnly") else "CONFIDENTIAL")
        live = {
            "clientId": c["clientId"], "enabled": c.get("enabled"), "accessType": access,
            "standardFlowEnabled": c.get("standardFlowEnabled"),
            "implicitFlowEnabled": c.get("implicitFlowEnabled"),
            "directAccessGrantsEnabled": c.get("directAccessGrantsEnabled"),
            "serviceAccountsEnabled": c.get("serviceAccountsEnabled"),
            "oauth2DeviceAuthorizationGrantEnabled":
                a.get("oauth2.device.authorization.grant.enabled") == "true",
            "pkceCodeChallengeMethod": a.get("pkce.code.challenge.method", ""),
            "rootUrl": c.get("rootUrl", ""), "validRedirectUris": c.get("redirectUris", []),
            "validPostLogoutRedirectUris": post_logout.split("##") if post_logout else [],
            "webOrigins": c.get("webOrigins", []),
        }
        live.update(self._computed(realm, id_, live))
        # Keycloak returns lists in its own order; keep the declared order when they match.
        for key in ("validRedirectUris", "webOrigins", "validPostLogoutRedirectUris"):
            if sorted(live[key]) == sorted(state.get(key, [])):
                live[key] = state.get(key, live[key])
        return live

    def update(self, id_, olds, news):
        self.api.call("PUT", f"/{news['realmId']}/clients/{id_}", self._body(news))
        return self._computed(news["realmId"], id_, news)

    def delete(self, id_, state):
        self.api.call("DELETE", f"/{state['realmId']}/clients/{id_}", missing_ok=True)


class ClientScope(Resource):
    replace_on = ("realmId",)
    defaults = {"includeInTokenScope": True}

    def _body(self, i):
        return {"name": i["name"], "description": i.get("description", ""),
                "protocol": "openid-connect",
                "attributes": {"include.in.token.scope":
                               str(bool(i.get("includeInTokenScope", True))).lower()}}

    def create(self, i):
        _, location = self.api.call("POST", f"/{i['realmId']}/client-scopes", self._body(i))
        return _new_id(location), {}

    def read(self, id_, state):
        s, _ = self.api.call("GET", f"/{state['realmId']}/client-scopes/{id_}", missing_ok=True)
        if s is None:
            return None
        return {"name": s["name"], "description": s.get("description", ""),
                "includeInTokenScope":
                    s.get("attributes", {}).get("include.in.token.scope") == "true"}

    def update(self, id_, olds, news):
        self.api.call("PUT", f"/{news['realmId']}/client-scopes/{id_}", self._body(news))
        return {}

    def delete(self, id_, state):
        self.api.call("DELETE", f"/{state['realmId']}/client-scopes/{id_}", missing_ok=True)


class AudienceProtocolMapper(Resource):
    replace_on = ("realmId", "clientScopeId", "clientId")
    defaults = {"addToIdToken": True, "addToAccessToken": True, "addToTokenIntrospection": True}

    def _path(self, i):
        owner = (f"client-scopes/{i['clientScopeId']}" if i.get("clientScopeId")
                 else f"clients/{i['clientId']}")
        return f"/{i['realmId']}/{owner}/protocol-mappers/models"

    def _body(self, i):
        config = {
            "id.token.claim": str(bool(i.get("addToIdToken", True))).lower(),
            "access.token.claim": str(bool(i.get("addToAccessToken", True))).lower(),
            "introspection.token.claim": str(bool(i.get("addToTokenIntrospection", True))).lower(),
        }
        if i.get("includedClientAudience"):
            config["included.client.audience"] = i["includedClientAudience"]
        if i.get("includedCustomAudience"):
            config["included.custom.audience"] = i["includedCustomAudience"]
        return {"name": i["name"], "protocol": "openid-connect",
                "protocolMapper": "oidc-audience-mapper", "config": config}

    def check(self, news):
        news = super().check(news)
        if bool(news.get("clientId")) == bool(news.get("clientScopeId")):
            raise ProviderError("AudienceProtocolMapper needs exactly one of clientId and "
                                "clientScopeId")
        return news

    def create(self, i):
        _, location = self.api.call("POST", self._path(i), self._body(i))
        return _new_id(location), {}

    def read(self, id_, state):
        m, _ = self.api.call("GET", f"{self._path(state)}/{id_}", missing_ok=True)
        if m is None:
            return None
        c = m.get("config", {})
        return {"name": m["name"],
                "includedClientAudience": c.get("included.client.audience", ""),
                "addToIdToken": c.get("id.token.claim") == "true",
                "addToAccessToken": c.get("access.token.claim") == "true"}

    def update(self, id_, olds, news):
        self.api.call("PUT", f"{self._path(news)}/{id_}", {**self._body(news), "id": id_})
        return {}

    def delete(self, id_, state):
        self.api.call("DELETE", f"{self._path(state)}/{id_}", missing_ok=True)


class ClientDefaultScopes(Resource):
    replace_on = ("realmId", "clientId")

    def _bound(self, realm, client):
        scopes, _ = self.api.call("GET", f"/{realm}/clients/{client}/default-client-scopes",
                                  missing_ok=True)
        return None if scopes is None else {s["name"]: s["id"] for s in scopes}

    def _apply(self, i):
        realm, client = i["realmId"], i["clientId"]
        wanted = i["defaultScopes"]
        all_scopes, _ = self.api.call("GET", f"/{realm}/client-scopes")
        ids = {s["name"]: s["id"] for s in all_scopes}
        unknown = [name for name in wanted if name not in ids]
        if unknown:
            raise ProviderError(f"ClientDefaultScopes: realm {realm!r} has no client scope "
                                f"{', '.join(unknown)}")
        bound = self._bound(realm, client) or {}
        # Authoritative, as in pulumi-keycloak: whatever is not listed is detached.
        for name, scope_id in bound.items():
            if name not in wanted:
                self.api.call("DELETE", f"/{realm}/clients/{client}/default-client-scopes/"
                                        f"{scope_id}")
        for name in wanted:
            if name not in bound:
                self.api.call("PUT", f"/{realm}/clients/{client}/default-client-scopes/"
                                     f"{ids[name]}")

    def create(self, i):
        id_ = f"{i['realmId']}/{i['clientId']}"
        with self.finishing(id_, i):  # some scopes may be bound already: the update redoes it
            self._apply(i)
        return id_, {}

    def read(self, id_, state):
        bound = self._bound(state["realmId"], state["clientId"])
        if bound is None:
            return None
        declared = state.get("defaultScopes", [])
        live = sorted(bound)
        return {"defaultScopes": declared if sorted(declared) == live else live}

    def update(self, id_, olds, news):
        self._apply(news)
        return {}

    def delete(self, id_, state):
        bound = self._bound(state["realmId"], state["clientId"]) or {}
        for name in state.get("defaultScopes", []):
            if name in bound:
                self.api.call("DELETE", f"/{state['realmId']}/clients/{state['clientId']}/"
                                        f"default-client-scopes/{bound[name]}", missing_ok=True)


class ClientServiceAccountRole(Resource):
    replace_on = ("realmId", "serviceAccountUserId", "clientId", "role")

    def _mappings(self, i):
        return f"/{i['realmId']}/users/{i['serviceAccountUserId']}/role-mappings/clients/" \
               f"{i['clientId']}"

    def create(self, i):
        role, _ = self.api.call("GET", f"/{i['realmId']}/clients/{i['clientId']}/roles/"
                                       f"{urllib.parse.quote(i['role'])}")
        self.api.call("POST", self._mappings(i), [role])
        return f"{i['realmId']}/{i['serviceAccountUserId']}/{i['clientId']}/{role['id']}", {}

    def read(self, id_, state):
        roles, _ = self.api.call("GET", self._mappings(state), missing_ok=True)
        if roles is None or state["role"] not in {r["name"] for r in roles}:
            return None
        return {"role": state["role"]}

    def update(self, id_, olds, news):
        return {}

    def delete(self, id_, state):
        roles, _ = self.api.call("GET", self._mappings(state), missing_ok=True)
        mine = [r for r in roles or [] if r["name"] == state["role"]]
        if mine:
            self.api.call("DELETE", self._mappings(state), mine, missing_ok=True)


def get_client(provider: StandinProvider, args: dict) -> dict:
    api = provider.api
    found, _ = api.call("GET", f"/{args['realmId']}/clients?clientId="
                               f"{urllib.parse.quote(args['clientId'])}")
    if not found:
        raise ProviderError(f"getClient: realm {args['realmId']!r} has no client "
                            f"{args['clientId']!r}")
    return {"id": found[0]["id"], "clientId": found[0]["clientId"], "realmId": args["realmId"],
            "name": found[0].get("name", "")}


class KeycloakProvider(StandinProvider):
    name = "keycloak"
    version = VERSION
    resources = {
        "keycloak:index/realm:Realm": Realm,
        "keycloak:index/user:User": User,
        "keycloak:openid/client:Client": Client,
        "keycloak:openid/clientScope:ClientScope": ClientScope,
        "keycloak:openid/audienceProtocolMapper:AudienceProtocolMapper": AudienceProtocolMapper,
        "keycloak:openid/clientDefaultScopes:ClientDefaultScopes": ClientDefaultScopes,
        "keycloak:openid/clientServiceAccountRole:ClientServiceAccountRole":
            ClientServiceAccountRole,
    }
    functions = {"keycloak:openid/getClient:getClient": get_client}

    def make_api(self, config):
        return KeycloakApi(config)


if __name__ == "__main__":
    serve(KeycloakProvider())
