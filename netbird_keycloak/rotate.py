"""Rotates one secret of a stack, then rewrites what NetBird reads.

    rotate.py --stack S --what backend-secret|admin-client-secret|user-password   (make rotate)

backend-secret       Keycloak issues the `netbird-backend` client a new secret: the stack setting
                     netbird:backendSecretRotated gets a new value and `up` regenerates it (the
                     provider's client_secret_regenerate_when_changed). The old secret stops
                     working at once: restart NetBird's management with the new one.
admin-client-secret  The service account Pulumi logs in with: the new secret goes into
                     keycloak:adminClientSecret and `up` hands it to Keycloak while logging in
                     with the one the state records (components/pulumi_service_account.py).
                     A rotation that was interrupted is finished, never given a third secret.
                     Deploying stacks only.
user-password        The first NetBird user's password: pulumi-keycloak sets a user's password
                     only when it creates the user, so the new one is set through the Admin API
                     (logged in the way Pulumi is) and stored as netbird:userPassword.

Each ends with an `up` (nothing else changes) and out/<stack>/setup.env (or the connector file)
written again. New secrets are generated here and never printed.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Optional

from pulumi import automation as auto

from components import wiring
from components.settings import Settings
from netbird_keycloak import ROOT, adopt
from netbird_keycloak import stack as driver
from netbird_keycloak.keycloak_admin import http
from netbird_keycloak.keycloak_admin import admin_login, login_for

WHAT = ("backend-secret", "admin-client-secret", "user-password")


class RotationFailed(Exception):
    pass


def secret_value() -> str:
    return secrets.token_urlsafe(24)


def rotate_backend_secret(stack: auto.Stack, settings: Settings, up: Callable[[], None]) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if settings.netbird.backend_secret_rotated == stamp:  # twice within a second
        time.sleep(1)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stack.set_config("netbird:backendSecretRotated", auto.ConfigValue(stamp))
    up()
    return ("NetBird: put the new NETBIRD_IDP_MGMT_CLIENT_SECRET from the file above into "
            "management.json (IdpManagerConfig.ClientConfig.ClientSecret) and restart "
            "management; the old secret no longer works")


def rotate_admin_client_secret(stack: auto.Stack, settings: Settings,
                               up: Callable[[], None]) -> str:
    if not settings.keycloak.deploy:
        raise RotationFailed("keycloak:deploy is false: rotate the client's secret in that "
                             "Keycloak, then `pulumi config set --secret "
                             "keycloak:adminClientSecret …`")
    recorded = recorded_admin_client_secret(stack)
    if recorded is None:
        raise RotationFailed("the stack was never deployed: `make up` first")
    chosen = stack.get_all_config().get("keycloak:adminClientSecret")
    if chosen is None or chosen.value == recorded:
        driver.set_secret(stack, "keycloak:adminClientSecret", secret_value())
    up()  # logs in with the recorded secret (or the pending one), gives Keycloak the new one
    return "nothing to do in NetBird: this secret is Pulumi's own"


def recorded_admin_client_secret(stack: auto.Stack) -> Optional[str]:
    """The secret the state records Keycloak as holding, None before the first deploy."""
    for resource in stack.export_stack().deployment.get("resources") or []:
        if resource["urn"].endswith(f"::{wiring.SERVICE_ACCOUNT}"):
            value = (resource.get("outputs") or {}).get("client_secret")
            return adopt.state_value(value)
    return None


def rotate_user_password(stack: auto.Stack, settings: Settings, up: Callable[[], None]) -> str:
    keycloak, netbird = settings.keycloak, settings.netbird
    status, token = admin_login(keycloak.admin_base_url, **login_for(keycloak))
    if status != 200:
        raise RotationFailed(f"cannot log in to Keycloak's Admin API ({status})")
    base = f"{keycloak.admin_base_url}/admin/realms/{netbird.realm}"
    status, users = http("GET", f"{base}/users?exact=true&username="
                                f"{urllib.parse.quote(netbird.user_name)}",
                         token=token["access_token"])
    if status != 200 or len(users or []) != 1:
        raise RotationFailed(f"user {netbird.user_name!r} not found in realm {netbird.realm!r}")
    new = secret_value()
    # Stored first: a rotation stopped after Keycloak took it never loses the password.
    old = stack.get_all_config().get("netbird:userPassword")
    driver.set_secret(stack, "netbird:userPassword", new)
    status, answer = http("PUT", f"{base}/users/{users[0]['id']}/reset-password",
                          body={"type": "password", "value": new, "temporary": False},
                          token=token["access_token"])
    if status != 204:  # e.g. the password policy refused it: the stored one is still right
        if old is None:
            stack.remove_config("netbird:userPassword")
        else:
            driver.set_secret(stack, "netbird:userPassword", old.value)
        raise RotationFailed(f"Keycloak refused the new password ({status}: {answer})")
    up()
    return (f"tell the people who log in as {netbird.user_name!r} that the password changed "
            f"(`pulumi stack output user_password --show-secrets --stack {stack.name}` shows "
            "it)")


ROTATIONS = {"backend-secret": rotate_backend_secret,
             "admin-client-secret": rotate_admin_client_secret,
             "user-password": rotate_user_password}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--what", required=True, choices=WHAT)
    parser.add_argument("--work-dir", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args(argv)
    show: Callable[[str], None] = lambda line: print(line, flush=True)  # noqa: E731
    if not driver.stack_file(args.work_dir.resolve(), args.stack).exists():
        print(driver.no_stack_file(args.work_dir.resolve(), args.stack), file=sys.stderr)
        return 1
    stack = driver.open_stack(args.stack, args.work_dir.resolve())
    settings = adopt.decrypted_settings(stack)
    if settings is None:
        print(f"the settings of stack {args.stack!r} are not valid: `make preview "
              f"STACK={args.stack}` lists them", file=sys.stderr)
        return 1

    def up() -> None:
        driver.run_locked("up", stack, args.out, False, show, [])
    try:
        advice = ROTATIONS[args.what](stack, settings, up)
    except (RotationFailed, auto.CommandError) as error:
        print(f"rotate {args.what} of stack {args.stack!r} failed: "
              f"{driver._first_error(str(error))}", file=sys.stderr)
        return 1
    show(f"rotated {args.what} of stack {args.stack!r}. {advice}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
