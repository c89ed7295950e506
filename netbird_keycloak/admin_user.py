"""A permanent master-realm admin for a person, after the bootstrap admin was retired.

    admin_user.py --stack S [--name ops-admin]      (make admin-user STACK=S [NAME=…])

Logged in the way Pulumi is (the service account), it creates the user with the master realm's
`admin` role and a generated password, and writes both with the admin console's URL to
out/<stack>/admin-user.txt (0600): the password is never printed. On first login Keycloak asks
the person to set a password of their own. The account is a person's, so Pulumi does not manage
it: remove it in the admin console when it is no longer needed.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import urllib.parse
from pathlib import Path

from components.setup_env import write_private
from netbird_keycloak import ROOT, stack_settings
from netbird_keycloak import stack as driver
from foundation.keycloak_admin import http
from foundation.keycloak_admin import admin_login, login_for


def create_admin(base: str, token: str, name: str, password: str) -> None:
    master = f"{base}/admin/realms/master"
    status, answer = http("POST", f"{master}/users", token=token, body={
        "username": name, "enabled": True, "requiredActions": ["UPDATE_PASSWORD"],
        "credentials": [{"type": "password", "value": password, "temporary": True}]})
    if status == 409:
        raise SystemExit(f"a master-realm user {name!r} exists already: choose another NAME=")
    if status != 201:
        raise SystemExit(f"Keycloak refused to create {name!r} ({status}: {answer})")
    status, users = http("GET", f"{master}/users?exact=true&username="
                                f"{urllib.parse.quote(name)}", token=token)
    status, role = http("GET", f"{master}/roles/admin", token=token)
    status, answer = http("POST", f"{master}/users/{users[0]['id']}/role-mappings/realm",
                          token=token, body=[role])
    if status != 204:
        raise SystemExit(f"created {name!r} but could not give it the admin role ({status}: "
                         f"{answer}); give it in the admin console")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--name", default="ops-admin")
    parser.add_argument("--work-dir", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args(argv)
    if not driver.stack_file(args.work_dir.resolve(), args.stack).exists():
        raise SystemExit(driver.no_stack_file(args.work_dir.resolve(), args.stack))
    settings = stack_settings.decrypted_settings(driver.open_stack(args.stack, args.work_dir.resolve()))
    if settings is None:
        raise SystemExit(f"the settings of stack {args.stack!r} are not valid: `make preview "
                         f"STACK={args.stack}` lists them")
    keycloak = settings.keycloak
    status, token = admin_login(keycloak.admin_base_url, **login_for(keycloak))
    if status != 200:
        raise SystemExit(f"cannot log in to Keycloak's Admin API at {keycloak.admin_base_url} "
                         f"({status}): is the stack deployed (`make up STACK={args.stack}`)?")
    password = secrets.token_urlsafe(18)
    create_admin(keycloak.admin_base_url, token["access_token"], args.name, password)
    path = args.out / args.stack / "admin-user.txt"
    write_private(path, f"console: {keycloak.url}/admin/master/console/\n"
                        f"username: {args.name}\npassword: {password}\n"
                        "(temporary: Keycloak asks for a new one at the first login)\n")
    print(f"created permanent admin {args.name!r} in the master realm of stack {args.stack!r}; "
          f"its first password is in {path} (0600)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
