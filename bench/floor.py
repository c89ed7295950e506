"""How far `pulumi up` of one stack is from the floor: the same realm objects created by a plain
Admin REST script. Also a no-op preview against an empty program's preview.

    .venv/bin/python -m bench.floor [--runs 5]        (make bench-floor)

Everything runs against one native Keycloak started for the benchmark, with the toolchain that
`make bootstrap` installs (docs/toolchain.md says which plugins that is on this machine). Prints a
table of medians and the ratios the project aims at.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from bench.measure import scratch
from netbird_keycloak import stack as driver
from foundation.keycloak_admin import KeycloakAdmin
from tests.fixtures import project as scratch_project
from tests.fixtures.local_keycloak import NativeKeycloak


def floor_once(admin: KeycloakAdmin, realm: str) -> float:
    """The same objects as NetBirdRealm, as few Admin REST calls as a careful script needs."""
    started = time.perf_counter()

    def ok(status_body, expected=(200, 201, 204)):
        status, body = status_body
        assert status in expected, (status, body)
        return body

    ok(admin("POST", "", {"realm": realm, "enabled": True}))
    ok(admin("POST", f"/{realm}/users", {
        "username": "netbird", "email": "netbird@netbird.bench.test", "emailVerified": True,
        "firstName": "NetBird", "lastName": "Admin", "enabled": True,
        "credentials": [{"type": "password", "value": secrets.token_urlsafe(16),
                         "temporary": False}]}))
    ok(admin("POST", f"/{realm}/clients", {
        "clientId": "netbird-client", "publicClient": True, "standardFlowEnabled": True,
        "directAccessGrantsEnabled": True, "implicitFlowEnabled": False,
        "rootUrl": "https://netbird.bench.test/",
        "redirectUris": ["https://netbird.bench.test/*", "http://localhost:53000"],
        "webOrigins": ["+"], "attributes": {
            "oauth2.device.authorization.grant.enabled": "true",
            "post.logout.redirect.uris": "https://netbird.bench.test/*"}}))
    ok(admin("POST", f"/{realm}/client-scopes", {
        "name": "netbird-client-audience", "protocol": "openid-connect",
        "attributes": {"include.in.token.scope": "true"}}))
    scope = [s for s in ok(admin("GET", f"/{realm}/client-scopes"))
             if s["name"] == "netbird-client-audience"][0]
    ok(admin("POST", f"/{realm}/client-scopes/{scope['id']}/protocol-mappers/models", {
        "name": "Audience for NetBird Management API", "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper", "config": {
            "included.client.audience": "netbird-client", "access.token.claim": "true",
            "id.token.claim": "false"}}))
    client = ok(admin("GET", f"/{realm}/clients?clientId=netbird-client"))[0]
    ok(admin("PUT", f"/{realm}/clients/{client['id']}/default-client-scopes/{scope['id']}"))
    ok(admin("POST", f"/{realm}/clients", {
        "clientId": "netbird-backend", "publicClient": False, "serviceAccountsEnabled": True,
        "standardFlowEnabled": False, "directAccessGrantsEnabled": False}))
    backend = ok(admin("GET", f"/{realm}/clients?clientId=netbird-backend"))[0]
    sa = ok(admin("GET", f"/{realm}/clients/{backend['id']}/service-account-user"))
    rm = ok(admin("GET", f"/{realm}/clients?clientId=realm-management"))[0]
    role = ok(admin("GET", f"/{realm}/clients/{rm['id']}/roles/view-users"))
    ok(admin("POST", f"/{realm}/users/{sa['id']}/role-mappings/clients/{rm['id']}", [role]))
    return time.perf_counter() - started


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_row(name: str, samples: list[float]) -> tuple[str, float, str]:
    return name, statistics.median(samples), " ".join(f"{s:.2f}" for s in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = scratch("bench-floor-")
    scratch_project.lay_out(work)

    keycloak = NativeKeycloak(18180, 19100, work / "keycloak.log").wait_ready()
    print(f"native Keycloak ready after {keycloak.ready_after:.1f} s", flush=True)
    admin = KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    try:
        floor, up, noop, empty_preview, empty_up = [], [], [], [], []
        (work / "empty-project").mkdir()
        empty = driver.open_stack("empty", work / "empty-project", program=lambda: None,
                                  project="netbird-keycloak-empty")
        for i in range(args.runs):
            floor.append(floor_once(admin, f"floor-{i}"))
            (work / "stacks" / f"Pulumi.bench-{i}.yaml").write_text(
                "config:\n"
                "  netbird:domain: netbird.bench.test\n"
                f"  netbird:realm: bench-{i}\n"
                "  netbird:protectRealm: 'false'\n"
                "  keycloak:deploy: 'false'\n"
                f"  keycloak:url: {keycloak.url}\n")
            stack = driver.open_stack(f"bench-{i}", work, program=None)
            driver.set_secret(stack, "keycloak:adminPassword", keycloak.admin_password)
            up.append(timed(lambda: stack.up(color="never")))
            noop.append(timed(lambda: stack.preview(color="never")))
            empty_up.append(timed(lambda: empty.up(color="never")))
            empty_preview.append(timed(lambda: empty.preview(color="never")))
            print(f"run {i + 1}/{args.runs}: floor {floor[-1]:.2f} s, up {up[-1]:.2f} s, "
                  f"no-op preview {noop[-1]:.2f} s, empty preview {empty_preview[-1]:.2f} s",
                  flush=True)
            stack.destroy(color="never")
    finally:
        keycloak.stop()

    rows = [median_row("REST floor (same objects)", floor),
            median_row("empty program: up (engine fixed start-up)", empty_up),
            median_row("pulumi up of one stack", up),
            median_row("empty program: preview", empty_preview),
            median_row("no-op preview of one stack", noop)]
    print(f"\n{'what':44} {'median s':>9}  runs (s)")
    for name, value, samples in rows:
        print(f"{name:44} {value:9.2f}  {samples}")
    f, e, u = statistics.median(floor), statistics.median(empty_up), statistics.median(up)
    p, q = statistics.median(noop), statistics.median(empty_preview)
    print(f"\nup / floor                         {u / f:8.1f}x")
    print(f"(up - engine start-up) / floor     {(u - e) / f:8.1f}x   aim <= 2.0x "
          f"-> {'met' if u - e <= 2 * f else 'missed'}")
    print(f"no-op preview / empty preview      {p / q:8.2f}x   aim <= 1.3x "
          f"-> {'met' if p <= 1.3 * q else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
