"""The peers of bench/peers.py and tests/e2e/test_peers.py: OpenTofu with
terraform-provider-keycloak (both built by `scripts/bootstrap.sh peers` from real sources), and
Keycloak's own realm import. Nothing here imitates either: it runs them."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]

from bench.measure import Measured, measured
from foundation.keycloak_admin import KeycloakAdmin
from tests.fixtures.local_keycloak import CACHE, NativeKeycloak

PEERS = CACHE / "peers"
TOFU = PEERS / "tofu"  # the version toolchain/opentofu/go.mod requires
MIRROR = PEERS / "mirror"
PROVIDER_ADDRESS = "registry.opentofu.org/keycloak/keycloak"
CONFIGURATION = ROOT / "bench" / "peers" / "netbird.tf"
# The provider version netbird.tf pins (the upstream of pulumi-keycloak's source snapshot).
PROVIDER_VERSION = re.search(r'keycloak = \{[^}]*version\s*=\s*"([0-9.]+)"',
                             CONFIGURATION.read_text()).group(1)
BUILTIN_DEFAULT_SCOPES = ["basic", "acr", "profile", "email", "roles", "web-origins"]


def missing() -> list[str]:
    """What `make bootstrap` (step peers) has not built yet."""
    plugin = (MIRROR / PROVIDER_ADDRESS / PROVIDER_VERSION / "linux_amd64" /
              f"terraform-provider-keycloak_v{PROVIDER_VERSION}")
    return [f"no {path}: run `bash scripts/bootstrap.sh peers`"
            for path in (TOFU, plugin) if not os.access(path, os.X_OK)]


def state_encryption(passphrase: str) -> str:
    """OpenTofu's state encryption (its TF_ENCRYPTION setting): the state and plan files
    encrypted with a key derived from a passphrase (PBKDF2, OpenTofu's defaults), the guarantee
    Pulumi's passphrase secrets provider gives this program's state."""
    return (f'key_provider "pbkdf2" "bench" {{\n  passphrase = "{passphrase}"\n}}\n'
            'method "aes_gcm" "bench" {\n  keys = key_provider.pbkdf2.bench\n}\n'
            'state {\n  method = method.aes_gcm.bench\n  enforced = true\n}\n'
            'plan {\n  method = method.aes_gcm.bench\n  enforced = true\n}\n')


class Tofu:
    """One OpenTofu working directory for bench/peers/netbird.tf, a workspace per customer,
    the provider installed from the local filesystem mirror (so `tofu init` works offline).
    `encrypted`: its states are encrypted (state_encryption); by default they hold the realm's
    secrets in plain text, as OpenTofu writes them unless told otherwise."""

    def __init__(self, work: Path, keycloak: NativeKeycloak, domain: str,
                 encrypted: bool = False):
        work.mkdir(parents=True, exist_ok=True)
        shutil.copy(CONFIGURATION, work / "netbird.tf")
        (work / "tofurc").write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path = "{MIRROR}"\n'
            f'    include = ["{PROVIDER_ADDRESS}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{PROVIDER_ADDRESS}"]\n  }}\n}}\n')
        self.work, self.user_password = work, secrets.token_urlsafe(18)
        self.env = dict(os.environ, TF_CLI_CONFIG_FILE=str(work / "tofurc"), TF_INPUT="0",
                        TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
                        TF_VAR_keycloak_url=keycloak.url, TF_VAR_admin_user=keycloak.admin_user,
                        TF_VAR_admin_password=keycloak.admin_password, TF_VAR_domain=domain,
                        TF_VAR_user_password=self.user_password)
        if encrypted:
            self.env["TF_ENCRYPTION"] = state_encryption(secrets.token_urlsafe(24))
        started = time.perf_counter()
        self._tofu("init", "-no-color")
        self.init_seconds = time.perf_counter() - started
        self.workspaces: set[str] = set()

    def _tofu(self, *args: str, workspace: Optional[str] = None,
              variables: Optional[dict] = None, codes: tuple[int, ...] = (0,)) -> str:
        env = dict(self.env, **{f"TF_VAR_{k}": v if isinstance(v, str) else json.dumps(v)
                                for k, v in (variables or {}).items()})
        if workspace:
            env["TF_WORKSPACE"] = workspace
        done = subprocess.run([str(TOFU), *args], cwd=self.work, env=env, capture_output=True,
                              text=True)
        if done.returncode not in codes:
            raise RuntimeError(f"tofu {' '.join(args)} ({workspace}) exited "
                               f"{done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done.stdout

    def workspace(self, name: str) -> None:
        if name not in self.workspaces:
            self._tofu("workspace", "new", name, codes=(0, 1))  # 1: it exists already
            self.workspaces.add(name)

    def apply(self, workspace: str, **variables) -> float:
        self.workspace(workspace)
        started = time.perf_counter()
        self._tofu("apply", "-auto-approve", "-no-color", workspace=workspace,
                   variables=variables)
        return time.perf_counter() - started

    def plan(self, workspace: str, **variables) -> float:
        """A plan that must find nothing to do (-detailed-exitcode: 2 means changes)."""
        started = time.perf_counter()
        self._tofu("plan", "-no-color", "-detailed-exitcode", workspace=workspace,
                   variables=variables)
        return time.perf_counter() - started

    def destroy(self, workspace: str, **variables) -> None:
        self._tofu("destroy", "-auto-approve", "-no-color", workspace=workspace,
                   variables=variables)

    def outputs(self, workspace: str) -> dict:
        """The outputs, named as the program's stack outputs (secrets included)."""
        raw = json.loads(self._tofu("output", "-json", workspace=workspace))
        return {name: value["value"] for name, value in raw.items()}

    def forget(self, workspaces: list[str]) -> None:
        """Fresh deployments for the next run: each workspace's state goes, the workspace stays."""
        for name in workspaces:
            self.workspace(name)
            for state in (self.work / "terraform.tfstate.d" / name).glob("terraform.tfstate*"):
                state.unlink()

    def fleet(self, names: list[str], parallel: int) -> Measured:
        """`tofu apply` of one workspace per customer (realm = workspace), `parallel` at a
        time through xargs."""
        script = (f'xargs -P {parallel} -I NAME env TF_WORKSPACE=NAME TF_VAR_realm=NAME '
                  f'"{TOFU}" apply -auto-approve -no-color > /dev/null')
        return measured(["bash", "-c", f"printf '%s\\n' {' '.join(names)} | {script}"],
                        cwd=self.work, env=self.env)


def realm_import_template(admin: KeycloakAdmin) -> dict:
    """Keycloak's built-in client scopes and default scope lists, read from a new realm: a
    realm import that lists client scopes replaces the built-ins, so it must carry them."""
    name = f"peers-template-{secrets.token_hex(3)}"
    status, _ = admin("POST", "", {"realm": name, "enabled": True})
    assert status == 201, status
    try:
        scopes = [{k: v for k, v in scope.items() if k != "id"} | {
            "protocolMappers": [{k: v for k, v in m.items() if k != "id"}
                                for m in scope.get("protocolMappers", [])]}
            for scope in admin.get(f"/{name}/client-scopes")]
        return {"clientScopes": scopes} | {
            key: [s["name"] for s in admin.get(f"/{name}/{path}")]
            for key, path in (("defaultDefaultClientScopes", "default-default-client-scopes"),
                              ("defaultOptionalClientScopes", "default-optional-client-scopes"))}
    finally:
        admin("DELETE", f"/{name}")


def realm_import(template: dict, realm: str, domain: str, user_password: str) -> dict:
    """The same objects as the program, as one realm representation for POST /admin/realms."""
    audience = {
        "name": "netbird-client-audience", "protocol": "openid-connect",
        "description": "Adds the NetBird client to the audience of access tokens",
        "attributes": {"include.in.token.scope": "true"},
        "protocolMappers": [{
            "name": "Audience for NetBird Management API", "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {"included.client.audience": "netbird-client",
                       "access.token.claim": "true", "id.token.claim": "false"}}]}
    return {
        "realm": realm, "enabled": True,
        "clientScopes": template["clientScopes"] + [audience],
        "defaultDefaultClientScopes": template["defaultDefaultClientScopes"],
        "defaultOptionalClientScopes": template["defaultOptionalClientScopes"],
        "users": [
            {"username": "netbird", "email": f"netbird@{domain}", "emailVerified": True,
             "firstName": "NetBird", "lastName": "Admin", "enabled": True,
             # A user listed in an import gets no roles unless named (offline_access is one).
             "realmRoles": [f"default-roles-{realm}"],
             "credentials": [{"type": "password", "value": user_password,
                              "temporary": False}]},
            {"username": "service-account-netbird-backend", "enabled": True,
             "serviceAccountClientId": "netbird-backend",
             "clientRoles": {"realm-management": ["view-users"]}}],
        "clients": [
            {"clientId": "netbird-client", "name": "NetBird", "enabled": True,
             "publicClient": True, "standardFlowEnabled": True,
             "directAccessGrantsEnabled": True, "implicitFlowEnabled": False,
             "serviceAccountsEnabled": False, "rootUrl": f"https://{domain}/",
             "redirectUris": [f"https://{domain}/*", "http://localhost:53000"],
             "webOrigins": ["+"],
             "attributes": {"oauth2.device.authorization.grant.enabled": "true",
                            "post.logout.redirect.uris": f"https://{domain}/*"},
             "defaultClientScopes": BUILTIN_DEFAULT_SCOPES + ["netbird-client-audience"],
             "optionalClientScopes": template["defaultOptionalClientScopes"]},
            {"clientId": "netbird-backend", "name": "NetBird management backend",
             "enabled": True, "publicClient": False, "serviceAccountsEnabled": True,
             "standardFlowEnabled": False, "directAccessGrantsEnabled": False,
             "implicitFlowEnabled": False}],
    }


def import_realm(admin: KeycloakAdmin, template: dict, realm: str, domain: str,
                 user_password: Optional[str] = None) -> float:
    """Floor B: the whole realm in one POST /admin/realms (Keycloak's own import)."""
    body = realm_import(template, realm, domain, user_password or secrets.token_urlsafe(18))
    started = time.perf_counter()
    status, answer = admin("POST", "", body)
    elapsed = time.perf_counter() - started
    assert status == 201, (status, answer)
    return elapsed
