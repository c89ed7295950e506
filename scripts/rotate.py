"""Rotates one secret of a stack, then rewrites what NetBird reads.

    rotate.py --stack S --what backend-secret|admin-client-secret|user-password   (make rotate)

backend-secret       Keycloak issues the `netbird-backend` client a new secret: the stack setting
                     netbird:backendSecretRotated gets a new value and `up` regenerates it (the
                     provider's client_secret_regenerate_when_changed). The old secret stops
                     working at once: restart NetBird's management with the new one.
admin-client-secret  The service account Pulumi logs in with: `up` sets the new secret
                     (keycloak:adminClientSecretNext) while logging in with the current one; the
                     new one becomes keycloak:adminClientSecret and a second `up` records the
                     provider's new login. Deploying stacks only.
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
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from pulumi import automation as auto  # noqa: E402

import adopt  # noqa: E402
import stack as driver  # noqa: E402
from components.settings import Settings  # noqa: E402
from http_json import http  # noqa: E402
from local_keycloak import admin_login, login_for  # noqa: E402

WHAT = ("backend-secret", "admin-client-secret", "user-password")


class RotationFailed(Exception):
    pass


def secret_value() -> auto.ConfigValue:
    return auto.ConfigValue(secrets.token_urlsafe(24), secret=True)


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
    if settings.keycloak.login != "service-account":
        raise RotationFailed("the stack still logs in as the bootstrap admin: run `make up` "
                             "first (it hands over to the service account)")
    new = secret_value()
    stack.set_config("keycloak:adminClientSecretNext", new)
    up()  # logs in with the current secret, sets the new one
    stack.set_config("keycloak:adminClientSecret", new)
    stack.remove_config("keycloak:adminClientSecretNext")
    up()  # the provider logs in with the new one from now on
    return "nothing to do in NetBird: this secret is Pulumi's own"


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
    status, answer = http("PUT", f"{base}/users/{users[0]['id']}/reset-password",
                          body={"type": "password", "value": new.value, "temporary": False},
                          token=token["access_token"])
    if status != 204:  # e.g. the password policy refused it; nothing was stored
        raise RotationFailed(f"Keycloak refused the new password ({status}: {answer})")
    stack.set_config("netbird:userPassword", new)
    up()
    return (f"tell the people who log in as {netbird.user_name!r} that the password changed "
            f"(`pulumi config get netbird:userPassword --stack {stack.name}` shows it)")


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
