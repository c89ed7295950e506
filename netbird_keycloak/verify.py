"""Checks a stack's live Keycloak the way NetBird uses it, and prints the fix for each failure.

    make verify STACK=dev     (NETBIRD_USER_PASSWORD=... for the token check, or it asks)

It changes nothing. The checks are the failures NetBird users report: the discovery document or
issuer wrong, the device grant off, the admin endpoint wrong or `view-users` missing, and tokens
without `netbird-client` in `aud` or without `sub`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from netbird_keycloak import ROOT
from foundation import urls
from foundation.keycloak_admin import http, jwt_claims


@dataclass
class Check:
    name: str
    ok: Optional[bool]  # None: not checked
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        text = f"{mark}  {self.name}: {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.ok is False and self.fix else "")


def check_discovery(o: Mapping[str, Any]) -> tuple[Check, dict]:
    status, doc = http("GET", o["oidc_configuration_endpoint"])
    name = "discovery document"
    if status != 200 or not isinstance(doc, dict):
        return Check(name, False, f"{o['oidc_configuration_endpoint']} answered {status or doc}",
                     "Keycloak must serve this URL to the NetBird host (configure.sh curls it); "
                     "check keycloak:url and that the realm exists (make up)"), {}
    if doc.get("issuer") != o["issuer_url"]:
        return Check(name, False, f"issuer is {doc.get('issuer')!r}, expected "
                                  f"{o['issuer_url']!r}",
                     "set keycloak:url to the URL Keycloak is reached at (behind a proxy: set "
                     "Keycloak's hostname to it), or NetBird rejects every token"), doc
    return Check(name, True, f"issuer {doc['issuer']}"), doc


def check_device_grant(o: Mapping[str, Any], doc: Mapping[str, Any]) -> Check:
    name = "device authorization (Linux CLI login)"
    endpoint = doc.get("device_authorization_endpoint")
    if not endpoint:
        return Check(name, False, "the discovery document has no device endpoint",
                     "use Keycloak 26 or later")
    # Exactly what NetBird's device flow sends: no PKCE parameters.
    status, body = http("POST", endpoint, {"client_id": o["client_id"],
                                            "audience": o["audience"], "scope": "openid"})
    if status == 200 and isinstance(body, dict) and body.get("device_code"):
        return Check(name, True, f"{o['client_id']} may start the device flow")
    fix = (f"PKCE must be optional on {o['client_id']}: NetBird's device flow sends no "
           "code_challenge (make up restores it)" if "code_challenge" in str(body) else
           f"enable 'OAuth 2.0 Device Authorization Grant' on {o['client_id']} (make up "
           "restores it)")
    return Check(name, False, f"{endpoint} answered {status}: {body}", fix)


def check_backend(o: Mapping[str, Any], doc: Mapping[str, Any]) -> Check:
    name = "backend client reads users (IdP manager)"
    status, body = http("POST", doc.get("token_endpoint", ""), {
        "grant_type": "client_credentials", "client_id": o["backend_client_id"],
        "client_secret": o["backend_client_secret"]})
    if status != 200:
        return Check(name, False, f"client-credentials login of {o['backend_client_id']} "
                                  f"answered {status}",
                     "NETBIRD_IDP_MGMT_CLIENT_SECRET must be the client's current secret: "
                     "regenerate setup.env with make env")
    url = f"{o['admin_endpoint']}/users/count"
    status, body = http("GET", url, token=body["access_token"])
    if status == 200 and isinstance(body, int):
        return Check(name, True, f"GET {url} -> {body} users")
    fixes = {403: f"give {o['backend_client_id']}'s service account the realm-management "
                  "role view-users (make up does)",
             404: "NETBIRD_IDP_MGMT_EXTRA_ADMIN_ENDPOINT must be <keycloak>/admin/realms/<realm>",
             400: "remove the trailing slash from the admin endpoint"}
    return Check(name, False, f"GET {url} answered {status}",
                 fixes.get(status, "check the admin endpoint and the backend client"))


def check_user_token(o: Mapping[str, Any], doc: Mapping[str, Any],
                     password: Optional[str]) -> Check:
    name = "user token carries the audience"
    if not password:
        return Check(name, None, "no password given (set NETBIRD_USER_PASSWORD or run in a "
                                 "terminal to be asked)")
    scopes = f"openid profile email offline_access {o['audience_scope']}"
    status, body = http("POST", doc.get("token_endpoint", ""), {
        "grant_type": "password", "client_id": o["client_id"], "username": o["user_name"],
        "password": password, "scope": scopes})
    if status != 200:
        error = body.get("error_description", body) if isinstance(body, dict) else body
        fix = (f"NETBIRD_AUTH_SUPPORTED_SCOPES must name only scopes {o['client_id']} has"
               if "scope" in str(error) else "check the user's password and that "
               "Direct access grants are on for the client")
        return Check(name, False, f"password grant answered {status}: {error}", fix)
    claims = jwt_claims(body["access_token"])
    aud = claims.get("aud")
    aud = aud if isinstance(aud, list) else [aud]
    if o["audience"] not in aud:
        return Check(name, False, f"aud is {aud}, without {o['audience']!r}",
                     f"the scope {o['audience_scope']} needs its Audience mapper and must be a "
                     f"Default scope of {o['client_id']} (make up restores both)")
    if not claims.get("sub"):
        return Check(name, False, "the access token has no sub",
                     f"keep the built-in 'basic' scope among {o['client_id']}'s default scopes")
    return Check(name, True, f"aud {aud}, sub present, azp {claims.get('azp')}")


def check_groups(o: Mapping[str, Any], doc: Mapping[str, Any], password: Optional[str]
                 ) -> Check:
    claim = o["groups_claim"]
    name = f"user token carries the '{claim}' claim for NetBird's JWT group sync"
    if not password:
        return Check(name, None, "no password given")
    status, body = http("POST", doc.get("token_endpoint", ""), {
        "grant_type": "password", "client_id": o["client_id"], "username": o["user_name"],
        "password": password, "scope": "openid"})
    if status != 200:
        return Check(name, False, f"password grant answered {status}: {body}")
    found = {kind: jwt_claims(body[f"{kind}_token"]).get(claim) for kind in ("access", "id")}
    wanted = sorted(o["user_groups"])
    if any(sorted(groups or []) != wanted for groups in found.values()):
        return Check(name, False, f"tokens carry {found}, expected {wanted}",
                     f"the client scope {claim} needs its Group Membership mapper (full path "
                     f"off) and must be a Default scope of {o['client_id']} (make up restores "
                     "both)")
    return Check(name, True, f"{claim}: {wanted} in the ID and access tokens. In NetBird: "
                             f"Settings → Groups → Enable JWT group sync, claim name '{claim}'")


def run_checks(outputs: Mapping[str, Any], password: Optional[str]) -> list[Check]:
    discovery, doc = check_discovery(outputs)
    checks = [discovery]
    if doc:
        checks += [check_device_grant(outputs, doc), check_backend(outputs, doc),
                   check_user_token(outputs, doc, password)]
        if outputs.get("groups_claim"):
            checks.append(check_groups(outputs, doc, password))
    return checks


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--work-dir", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    from netbird_keycloak.stack import open_stack  # noqa: PLC0415 - needs the Pulumi CLI only here

    outputs = {k: v.value for k, v in open_stack(args.stack, args.work_dir).outputs().items()}
    if not outputs:
        print(f"stack {args.stack!r} has no outputs: run `make up STACK={args.stack}` first")
        return 1
    why = urls.refusal(outputs["issuer_url"], "the user's password and the backend secret")
    if why:  # a stack made before the settings refused such a URL
        print(f"not checked: {why}. Fix keycloak:url, then `make up STACK={args.stack}`.",
              file=sys.stderr)
        return 1
    # The password the stack keeps (its own choice or the generated one), unless told another.
    password = os.environ.get("NETBIRD_USER_PASSWORD") or outputs.get("user_password")
    if password is None and sys.stdin.isatty():
        password = getpass.getpass(f"password of Keycloak user {outputs['user_name']!r} "
                                   "(empty to skip): ") or None
    checks = run_checks(outputs, password)
    for check in checks:
        print(check.line())
    failed = sum(c.ok is False for c in checks)
    print(f"{sum(c.ok is True for c in checks)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
