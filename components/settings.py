"""The stack settings of netbird-keycloak, declared once: each with its key, type, default,
bounds, an example and its meaning; validated before any resource exists.

Validation, the messages (each naming the key and the `pulumi config set … --stack …` that fixes
it), the README's settings table (`make settings-doc`) and `make settings` are all derived from
these declarations by components/settings_schema.py. `parse_settings` is pure, so every rule is
tested without Pulumi; it reports every problem of a stack at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import takewhile
from typing import Callable, Literal, Mapping, Optional, Sequence

from pydantic import ValidationInfo, field_validator

from components import settings_checks as check
from components.settings_schema import (RawValue, Section, problem, setting, unknown_keys,
                                        validate)
from foundation.urls import carries_credentials

__all__ = ["RawValue", "Settings", "SettingsError", "parse_settings", "KeycloakSettings",
           "NetBirdSettings"]

# Keycloak stores the realm name in a varchar(36) column; longer names fail with a 409.
REALM_NAME_MAX = 36
DEFAULT_KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak:26.7.3"
# The official image's interface (POSTGRES_* variables, PGDATA, `postgres ARGS`); where no
# registry is reachable, `make bootstrap` builds netbird-keycloak/postgres:15 with the same one.
DEFAULT_POSTGRES_IMAGE = "postgres:15-bookworm"
# The scopes Keycloak 25+ puts on every new client. `ClientDefaultScopes` replaces the client's
# whole list, so these must be repeated: without `basic` access tokens carry no `sub`.
BUILTIN_DEFAULT_SCOPES = ("basic", "acr", "profile", "email", "roles", "web-origins")
URL_EXAMPLE = "https://auth.example.com"
# The realm's password policy as Keycloak writes it back (so a preview shows no change).
DEFAULT_PASSWORD_POLICY = "length(12) and notUsername(undefined) and passwordHistory(3)"
MIN_POLICY_LENGTH = check.MIN_PASSWORD_LENGTH
# The length of a secret the program generates (components/stack_secrets.py).
GENERATED_LENGTH = 32


def _before(info: ValidationInfo, name: str, default=None):
    """An earlier setting's value (its default when that one was refused)."""
    return info.data.get(name, default)


class KeycloakSettings(Section):
    """The Keycloak that NetBird logs in against: deployed in Docker here, or one that runs."""

    deploy: check.Flag = setting(
        True, key="keycloak:deploy", example="false",
        meaning="`false`: use an existing Keycloak at `keycloak:url`")
    docker_host: Optional[str] = setting(
        None, key="docker:host", example="ssh://deploy@netbird.example.com",
        meaning="Docker engine to deploy onto: `unix://`, `tcp://` or `ssh://user@host[:port]`",
        shown_default="local socket")
    docker_cert_path: Optional[str] = setting(
        None, key="docker:certPath", example="/home/ops/.docker/netbird",
        meaning="with `tcp://`: absolute path of a folder with `ca.pem`, `cert.pem`, `key.pem` "
                "(TLS with a client certificate); plain `tcp://` is refused unless the host is "
                "loopback", shown_default="unset")
    docker_ssh_opts: check.SshOpts = setting(
        (), key="docker:sshOpts", example='\'["-i", "/home/ops/.ssh/netbird_deploy"]\'',
        meaning="with `ssh://`: extra `ssh` arguments as a JSON list", shown_default="unset")
    mode: Literal["dev", "production"] = setting(
        "dev", key="keycloak:mode", example="production",
        meaning="`dev` (`start-dev`) or `production` (`start` for the public URL behind a TLS "
                "proxy; needs `keycloak:url` and `keycloak:database: postgres`)")
    http_port: int = setting(8080, key="keycloak:httpPort", example="8080", ge=1, le=65535,
                             meaning="HTTP port")
    management_port: int = setting(9000, key="keycloak:managementPort", example="9000", ge=1,
                                   le=65535, meaning="health/management port")
    url: str = setting(
        None, key="keycloak:url", example=URL_EXAMPLE, shown_default="`http://localhost:<httpPort>`",
        meaning="Keycloak's public base URL (http/https, no trailing slash); required when "
                "`deploy` is false")
    admin_url: Optional[str] = setting(
        None, key="keycloak:adminUrl", example="https://auth-admin.example.com",
        meaning="production: a separate hostname for the admin console")
    admin_user: str = setting(
        "kcadmin", key="keycloak:adminUser", example="kcadmin",
        meaning="bootstrap admin (deploy) or an existing master-realm admin; not `admin` when "
                "deploying")
    admin_password: str = setting(
        "", key="keycloak:adminPassword", example="<admin password>", secret=True,
        shown_default="deploying: generated, kept in the state",
        meaning="secret. Deploying: the secret of Keycloak's temporary bootstrap admin (a "
                "service account), which the first `up` retires. Existing Keycloak: the "
                "password of `adminUser` (or use `adminClientSecret`)")
    admin_client_id: str = setting(
        "netbird-keycloak-admin", key="keycloak:adminClientId",
        example="netbird-keycloak-admin",
        meaning="master-realm client Pulumi logs in with (client credentials): created by the "
                "first deploy; for an existing Keycloak, a service-account client that may "
                "create realms (`fleet new --keycloak-url` makes one per customer holding only "
                "`create-realm`)")
    admin_client_secret: str = setting(
        "", key="keycloak:adminClientSecret", example="<client secret>", secret=True,
        shown_default="deploying: generated, kept in the state",
        meaning="secret of `adminClientId`; a new value is handed to Keycloak by the next `up`")
    admin_client_secret_rotated: Optional[str] = setting(
        None, key="keycloak:adminClientSecretRotated", example="2026-12-01T04:00:00Z",
        meaning="written by `make rotate WHAT=admin-client-secret`: each new value makes the "
                "program generate a new `adminClientSecret`, which the same `up` hands to "
                "Keycloak")
    image: str = setting(
        DEFAULT_KEYCLOAK_IMAGE, key="keycloak:image", example=DEFAULT_KEYCLOAK_IMAGE,
        meaning="pinned tag (not `latest`); an image present locally is never pulled")
    network_mode: Literal["bridge", "host"] = setting(
        "bridge", key="keycloak:networkMode", example="bridge",
        meaning="`bridge` (publishes the HTTP port on `bindAddress`) or `host`")
    bind_address: str = setting(
        "127.0.0.1", key="keycloak:bindAddress", example="127.0.0.1",
        meaning="the one address Keycloak is reachable at: its published port in bridge mode, "
                "its HTTP and management ports in host mode (put a TLS proxy in front); "
                "`0.0.0.0` needs `bindAddressReason`")
    bind_address_reason: str = setting(
        "", key="keycloak:bindAddressReason", example="the TLS proxy runs on another host",
        shown_default="unset",
        meaning="why Keycloak must listen on every address (required with `bindAddress` "
                "`0.0.0.0`, refused otherwise)")
    proxy_trusted_addresses: check.Addresses = setting(
        None, key="keycloak:proxyTrustedAddresses", example='\'["127.0.0.1", "10.0.0.5"]\'',
        shown_default="host mode: loopback; bridge mode: Docker's bridge networks "
                      "(172.16.0.0/12)",
        meaning="production: the TLS proxy's addresses, the only ones whose X-Forwarded-* "
                "headers Keycloak believes (a JSON list of addresses or CIDR ranges)")
    container_name: str = setting(
        None, key="keycloak:containerName", example="keycloak-acme",
        shown_default="`keycloak-<stack>`", meaning="Docker name of the Keycloak container")
    volume_name: str = setting(
        None, key="keycloak:volumeName", example="keycloak-acme-data",
        shown_default="`keycloak-<stack>-data`", meaning="Docker name of its data volume")
    client_timeout: int = setting(
        60, key="keycloak:clientTimeout", example="60", ge=30, le=600,
        meaning="provider HTTP timeout in seconds (Pulumi's default of 5 s times out on a cold "
                "Keycloak)")
    # Keycloak's JVM sizes its heap from the container's memory; below ~750 MiB it fails.
    memory_mb: Optional[int] = setting(
        None, key="keycloak:memoryMb", example="2048", ge=750, le=65536,
        meaning="container memory limit in MiB; changing it replaces the container (data "
                "stays)")
    optimized: check.Flag = setting(
        False, key="keycloak:optimized", example="false",
        meaning="production: `start --optimized` on an image built for it (`make "
                "keycloak-image`)")
    database: Literal["dev-file", "postgres"] = setting(
        "dev-file", key="keycloak:database", example="postgres",
        meaning="`dev-file` (H2 on the data volume) or `postgres` (a Postgres container with "
                "its own volume); switching it on a deployed stack is refused")
    database_port: int = setting(5432, key="keycloak:databasePort", example="5432", ge=1,
                                 le=65535, meaning="Postgres port (loopback only with host "
                                                   "networking)")
    postgres_image: str = setting(
        DEFAULT_POSTGRES_IMAGE, key="keycloak:postgresImage", example=DEFAULT_POSTGRES_IMAGE,
        meaning="pinned tag; `netbird-keycloak/postgres:15` where no registry is reachable")
    database_password: str = setting(
        "", key="keycloak:databasePassword", example="<database password>", secret=True,
        shown_default="generated, kept in the state",
        meaning="secret; the password of Postgres role `keycloak`")
    database_volume_name: str = setting(
        None, key="keycloak:databaseVolumeName", example="keycloak-acme-postgres-data",
        shown_default="`keycloak-<stack>-postgres-data`",
        meaning="the Postgres data volume (kept on destroy)")
    # Read by netbird_keycloak/stack.py before a run; only its form is checked here.
    confirm_database_switch: check.Flag = setting(
        False, key="keycloak:confirmDatabaseSwitch", example="true",
        meaning="`true` for the one run that moves a deployed stack to another database")
    version: Optional[str] = setting(
        None, key="keycloak:version", example="26.7.3",
        meaning="Keycloak version for the provider when it cannot read `/admin/serverinfo`")

    @field_validator("docker_host")
    @classmethod
    def _docker_host(cls, value: Optional[str]) -> Optional[str]:
        return check.docker_host(value)

    @field_validator("docker_cert_path")
    @classmethod
    def _cert_path(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        return check.cert_path(value, _before(info, "docker_host"))

    @field_validator("docker_ssh_opts")
    @classmethod
    def _ssh_opts(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and not (_before(info, "docker_host") or "").startswith("ssh://"):
            raise problem("is used only with an ssh:// docker:host")
        return value

    @field_validator("management_port")
    @classmethod
    def _ports_differ(cls, value: int, info: ValidationInfo) -> int:
        if _before(info, "deploy", True) and value == _before(info, "http_port"):
            raise problem("must differ from keycloak:httpPort")
        return value

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Optional[str], info: ValidationInfo) -> str:
        deploy, host = _before(info, "deploy", True), _before(info, "docker_host")
        if value is not None:
            check.url(value, URL_EXAMPLE)
            admin = not deploy or bool(host and not host.startswith("unix://"))
            production = _before(info, "mode") == "production"
            if (admin or production) and not carries_credentials(value):
                raise problem(f"is {value!r}: Pulumi logs in to Keycloak's Admin API at this URL "
                              "(and `make verify` and NetBird send secrets and passwords to it) "
                              "in the clear; use https:// (http:// only for a Keycloak on this "
                              "machine's loopback)",
                              example="https://" + value.split("://", 1)[-1])
            return value
        if not deploy:
            raise problem("is required when keycloak:deploy is false (the URL of the Keycloak "
                          "you already run)")
        if _before(info, "mode") == "production":
            raise problem("is required with keycloak:mode production: the public https:// URL "
                          "Keycloak is reached at through the TLS proxy (its issuer)")
        if host and not host.startswith("unix://"):
            raise problem("is required when docker:host deploys onto another machine: the URL "
                          "at which that Keycloak is reached from here and from NetBird")
        return f"http://localhost:{_before(info, 'http_port', 8080)}"

    @field_validator("admin_url")
    @classmethod
    def _admin_url(cls, value: Optional[str]) -> Optional[str]:
        return check.url(value, "https://auth-admin.example.com") if value else None

    @field_validator("admin_user")
    @classmethod
    def _admin_user(cls, value: str, info: ValidationInfo) -> str:
        if _before(info, "deploy", True):
            if value.lower() == "admin":
                raise problem("must not be 'admin', the first name every scanner tries")
            check.identifier(value, 64)
        return value

    @field_validator("admin_password")
    @classmethod
    def _admin_password(cls, value: str, info: ValidationInfo) -> str:
        # Whether one is needed depends on keycloak:adminClientSecret (checked there).
        if value and _before(info, "deploy", True):
            check.password(value, _before(info, "admin_user", ""))
        return value

    @field_validator("admin_client_id")
    @classmethod
    def _admin_client_id(cls, value: str) -> str:
        return check.identifier(value, 255)

    @field_validator("admin_client_secret")
    @classmethod
    def _admin_client_secret(cls, value: str, info: ValidationInfo) -> str:
        if _before(info, "deploy", True):
            return check.password(value, "") if value else value
        if not value and not _before(info, "admin_password"):
            raise problem("or keycloak:adminPassword is required when keycloak:deploy is "
                          "false: the secret of keycloak:adminClientId (a master-realm client "
                          "whose service account holds the `admin` role), or the password of "
                          "keycloak:adminUser")
        return value

    @field_validator("image", "postgres_image")
    @classmethod
    def _image(cls, value: str, info: ValidationInfo) -> str:
        postgres = info.field_name == "postgres_image"
        if _before(info, "deploy", True) and (
                not postgres or _before(info, "database") == "postgres"):
            check.image(value)
        return value

    @field_validator("bind_address")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        return check.ipv4(value)

    @field_validator("bind_address_reason")
    @classmethod
    def _bind_address_reason(cls, value: str, info: ValidationInfo) -> str:
        every = _before(info, "bind_address") == "0.0.0.0"
        if every and not value.strip():
            raise problem("is required with keycloak:bindAddress 0.0.0.0, which makes Keycloak's "
                          "plain-HTTP and management ports answer on every address of the "
                          "host: bind to 127.0.0.1 (a proxy on this host) or to the one address "
                          "the proxy reaches, or say here why every address is meant",
                          example="the TLS proxy runs on another host")
        if value and not every:
            raise problem("is only for keycloak:bindAddress 0.0.0.0", remove=True)
        return value

    @field_validator("proxy_trusted_addresses", mode="before")
    @classmethod
    def _proxy_trusted_addresses(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            return value
        # Behind the published port of a bridge network, requests come from Docker's gateway.
        return ("127.0.0.1/32", "::1/128") if _before(info, "network_mode") == "host" \
            else ("172.16.0.0/12",)

    @field_validator("container_name", "volume_name", "database_volume_name", mode="before")
    @classmethod
    def _docker_name(cls, value: Optional[str], info: ValidationInfo) -> str:
        suffix = {"container_name": "", "volume_name": "-data",
                  "database_volume_name": "-postgres-data"}[info.field_name]
        if info.field_name == "database_volume_name" and not (
                _before(info, "deploy", True) and _before(info, "database") == "postgres"):
            return ""
        name = check.identifier(value or f"keycloak-{info.context['stack']}{suffix}", 63)
        if info.field_name == "database_volume_name" and name == _before(info, "volume_name"):
            raise problem("must differ from keycloak:volumeName")
        return name

    @field_validator("optimized")
    @classmethod
    def _optimized(cls, value: bool, info: ValidationInfo) -> bool:
        if value and _before(info, "mode") != "production":
            raise problem("needs keycloak:mode production (start-dev cannot run --optimized)")
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str, info: ValidationInfo) -> str:
        if value == "dev-file" and _before(info, "mode") == "production" and \
                _before(info, "deploy", True):
            raise problem("must be postgres with keycloak:mode production: Keycloak's dev-file "
                          "database is for development only")
        return value

    @field_validator("database_port")
    @classmethod
    def _database_port(cls, value: int, info: ValidationInfo) -> int:
        if _before(info, "deploy", True) and _before(info, "database") == "postgres" and \
                value in (_before(info, "http_port"), _before(info, "management_port")):
            raise problem("must differ from Keycloak's HTTP and management ports")
        return value

    @field_validator("database_password")
    @classmethod
    def _database_password(cls, value: str, info: ValidationInfo) -> str:
        if not (_before(info, "deploy", True) and _before(info, "database") == "postgres"):
            return ""
        return check.password(value, "keycloak") if value else value

    @field_validator("version")
    @classmethod
    def _version(cls, value: Optional[str]) -> Optional[str]:
        return check.version(value)

    @property
    def login(self) -> Literal["service-account", "admin-user"]:
        """How Pulumi logs in to Keycloak's Admin API. Deploying: as the service account, which
        the program hands off to from the temporary bootstrap admin (PulumiServiceAccount)."""
        if self.deploy:
            return "service-account"
        return "service-account" if self.admin_client_secret else "admin-user"

    @property
    def database_container_name(self) -> str:
        return f"{self.container_name}-postgres"

    @property
    def secrets_name(self) -> str:
        """The volume holding the stack's secrets beside its data, and the idle container that
        writes them there (components/kept_secrets.py)."""
        return f"{self.container_name}-secrets"

    @property
    def data_volume_name(self) -> str:
        """The volume holding Keycloak's data: Postgres's with keycloak:database postgres."""
        return self.database_volume_name or self.volume_name

    @property
    def network_name(self) -> Optional[str]:
        """The Docker network Keycloak and Postgres share (bridge mode), or None."""
        if self.database == "postgres" and self.network_mode == "bridge":
            return f"{self.container_name}-net"
        return None

    @property
    def remote_docker(self) -> bool:
        """The container runs on another machine, so Pulumi reaches it by its public URL."""
        return bool(self.docker_host) and not self.docker_host.startswith("unix://")

    @property
    def admin_base_url(self) -> str:
        """The base URL Pulumi (and the program's adoption lookups) reach Keycloak's Admin API at:
        the public URL for an existing or remote Keycloak, else the published port here."""
        if not self.deploy or self.remote_docker:
            return self.url
        return f"http://{self.local_host}:{self.http_port}"

    @property
    def local_host(self) -> str:
        """The address at which Keycloak's ports answer on the machine that runs it."""
        return "127.0.0.1" if self.bind_address == "0.0.0.0" else self.bind_address


class NetBirdSettings(Section):
    """What NetBird's Keycloak guide creates in the realm, and how NetBird is told about it."""

    domain: str = setting(
        ..., key="netbird:domain", example="netbird.example.com",
        meaning="NetBird's public host name, bare (no scheme, port or path), lower case ASCII")
    realm: str = setting(
        "netbird", key="netbird:realm", example="netbird",
        meaning=f"realm name: letters, digits, `.` `_` `-`, at most {REALM_NAME_MAX} "
                "characters, not `master`")
    protect_realm: check.Flag = setting(
        True, key="netbird:protectRealm", example="true",
        meaning="Pulumi `protect` + Keycloak-side deletion protection on the realm and user")
    client_id: str = setting("netbird-client", key="netbird:clientId", example="netbird-client",
                             meaning="the dashboard/CLI client (also the audience)")
    backend_client_id: str = setting(
        "netbird-backend", key="netbird:backendClientId", example="netbird-backend",
        meaning="the IdP-manager client")
    backend_secret_rotated: Optional[str] = setting(
        None, key="netbird:backendSecretRotated", example="2026-12-01T04:00:00Z",
        meaning="written by `make rotate WHAT=backend-secret`: each new value makes Keycloak "
                "issue the backend client a new secret")
    audience_scope: str = setting(
        "netbird-client-audience", key="netbird:audienceScope",
        example="netbird-client-audience", meaning="the client scope carrying the Audience mapper")
    pkce_ports: check.Ports = setting(
        (53000,), key="netbird:pkcePorts", example="'[53000]'",
        meaning="loopback ports of NetBird's PKCE login, 1024-65535 (JSON list or `53000,54000`)")
    user_name: str = setting("netbird", key="netbird:userName", example="netbird",
                             meaning="the first NetBird user")
    user_email: str = setting(
        None, key="netbird:userEmail", example="admin@example.com",
        shown_default="`<userName>@<domain>`", meaning="that user's e-mail (verified)")
    user_first_name: str = setting("NetBird", key="netbird:userFirstName", example="Ada",
                                   meaning="that user's first name")
    user_last_name: str = setting("Admin", key="netbird:userLastName", example="Lovelace",
                                  meaning="that user's last name")
    groups: check.Names = setting(
        (), key="netbird:groups", example='\'["ops", "dev"]\'', shown_default="none",
        meaning="Keycloak groups to create in the realm; tokens then carry the user's groups "
                "in the `groupsClaim` claim (names, not paths), for NetBird's JWT group sync")
    user_groups: Optional[check.Names] = setting(
        None, key="netbird:userGroups", example='\'["ops"]\'', shown_default="all of `groups`",
        meaning="the groups of `groups` the first NetBird user is a member of")
    groups_claim: str = setting(
        "groups", key="netbird:groupsClaim", example="groups",
        meaning="the token claim (and client scope) holding the groups; NetBird's JWT group sync "
                "reads `groups` unless told otherwise")
    user_password: str = setting(
        "", key="netbird:userPassword", example="<user password>", secret=True,
        shown_default="generated, kept in the state (`pulumi stack output user_password "
                      "--show-secrets`)",
        meaning="secret; at least 12 characters, not a well-known password")
    user_password_rotated: Optional[str] = setting(
        None, key="netbird:userPasswordRotated", example="2026-12-01T04:00:00Z",
        meaning="written by `make rotate WHAT=user-password`: each new value makes the program "
                "generate a new `userPassword` and set it in Keycloak")
    password_policy: str = setting(
        DEFAULT_PASSWORD_POLICY, key="netbird:passwordPolicy", example=DEFAULT_PASSWORD_POLICY,
        meaning="the realm's password policy (Keycloak syntax); must keep `length(12)` or more, "
                "`notUsername` and `passwordHistory`; `netbird:userPassword` must meet it")
    brute_force_failures: int = setting(
        5, key="netbird:bruteForceFailures", example="5", ge=1, le=100,
        meaning="failed logins after which brute-force detection locks the account for a wait "
                "(these three settings and `passwordPolicy` also apply to the master realm of a "
                "Keycloak the stack deploys)")
    brute_force_wait_seconds: int = setting(
        60, key="netbird:bruteForceWaitSeconds", example="60", ge=1, le=86400,
        meaning="the first lock's wait; each further failure adds this much")
    brute_force_max_wait_seconds: int = setting(
        900, key="netbird:bruteForceMaxWaitSeconds", example="900", ge=1, le=86400,
        meaning="the longest wait of a locked account (at least `bruteForceWaitSeconds`)")
    # Token and session lifetimes, set on the realm rather than left to Keycloak's defaults
    # (which are these values), so that they show in every preview and drift is repaired.
    access_token_seconds: int = setting(
        300, key="netbird:accessTokenSeconds", example="300", ge=60, le=3600,
        meaning="how long an access token is accepted (NetBird's dashboard refreshes it); "
                "short, because a leaked token cannot be revoked")
    sso_session_idle_seconds: int = setting(
        1800, key="netbird:ssoSessionIdleSeconds", example="1800", ge=300, le=86400,
        meaning="a login session ends after this long without use (at least "
                "`accessTokenSeconds`)")
    sso_session_max_seconds: int = setting(
        36000, key="netbird:ssoSessionMaxSeconds", example="36000", ge=300, le=2592000,
        meaning="a login session ends this long after the login, used or not (at least "
                "`ssoSessionIdleSeconds`)")
    offline_session_idle_seconds: int = setting(
        2592000, key="netbird:offlineSessionIdleSeconds", example="2592000", ge=3600,
        le=31536000,
        meaning="an offline token (`offline_access`) ends after this long without use")
    ssl_required: Literal["external", "all"] = setting(
        "external", key="netbird:sslRequired", example="external",
        meaning="HTTPS required for `external` requests (not from private addresses) or `all`; "
                "never `none`")
    events_days: int = setting(
        30, key="netbird:eventsDays", example="30", ge=1, le=3650,
        meaning="login and admin events are stored, and kept this many days")
    user_delete_from_idp: check.Flag = setting(
        False, key="netbird:userDeleteFromIdp", example="true",
        meaning="`true` grants `manage-users` instead of `view-users`")
    letsencrypt_email: Optional[str] = setting(
        None, key="netbird:letsencryptEmail", example="ops@example.com",
        meaning="passed into `setup.env` when set")
    disable_letsencrypt: Optional[check.Flag] = setting(
        None, key="netbird:disableLetsencrypt", example="true",
        meaning="passed into `setup.env` when set")
    integration: Literal["setup-env", "connector"] = setting(
        "setup-env", key="netbird:integration", example="setup-env",
        meaning="`setup-env` (configure.sh) or `connector` (NetBird's embedded IdP, 0.62+)")
    connector_client_id: str = setting(
        "netbird", key="netbird:connectorClientId", example="netbird",
        meaning="connector mode: the client id to create")
    management_url: Optional[str] = setting(
        None, key="netbird:managementUrl", example="https://netbird.example.com",
        shown_default="unset: the connector file is written for a person to paste",
        meaning="connector mode: NetBird's own URL; with `apiToken` the program registers "
                "Keycloak in NetBird itself (management API), keeps it in step and removes it "
                "on destroy")
    api_token: str = setting(
        "", key="netbird:apiToken", example="<NetBird personal access token>", secret=True,
        shown_default="unset", meaning="secret; with `managementUrl`: a NetBird personal access "
                                       "token of an owner or admin")
    connector_name: str = setting(
        "Keycloak", key="netbird:connectorName", example="Keycloak",
        meaning="connector mode: the identity provider's name in NetBird's login page")
    connector_redirect_url: Optional[str] = setting(
        None, key="netbird:connectorRedirectUrl",
        example="https://netbird.example.com/oauth2/callback",
        shown_default="`<managementUrl>/oauth2/callback`; required in connector mode without "
                      "`managementUrl`", meaning="connector mode: the redirect URL NetBird shows")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check.hostname(value)

    @field_validator("realm")
    @classmethod
    def _realm(cls, value: str) -> str:
        if value == "master":
            raise problem("must not be Keycloak's own 'master' realm")
        return check.identifier(value, REALM_NAME_MAX)

    @field_validator("client_id", "user_name", "connector_client_id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return check.identifier(value, 255)

    @field_validator("backend_client_id")
    @classmethod
    def _backend_client_id(cls, value: str, info: ValidationInfo) -> str:
        if value == _before(info, "client_id"):
            raise problem("must differ from netbird:clientId")
        return check.identifier(value, 255)

    @field_validator("audience_scope")
    @classmethod
    def _audience_scope(cls, value: str) -> str:
        if value in BUILTIN_DEFAULT_SCOPES + ("openid", "offline_access"):
            raise problem(f"must not reuse Keycloak's built-in scope {value!r}")
        return check.identifier(value, 255)

    @field_validator("user_email", mode="before")
    @classmethod
    def _user_email(cls, value: Optional[str], info: ValidationInfo) -> str:
        if value is None:
            return f"{_before(info, 'user_name', 'netbird')}@{_before(info, 'domain', '')}"
        return check.email(value, "admin@example.com")

    @field_validator("user_password")
    @classmethod
    def _user_password(cls, value: str, info: ValidationInfo) -> str:
        return check.password(value, _before(info, "user_name", "")) if value else value

    @field_validator("password_policy")
    @classmethod
    def _password_policy(cls, value: str, info: ValidationInfo) -> str:
        policy = check.password_policy(value, DEFAULT_PASSWORD_POLICY, MIN_POLICY_LENGTH)
        password = _before(info, "user_password")
        if len(password or "x" * GENERATED_LENGTH) < policy.length:
            raise problem(f"asks for length({policy.length}), longer than netbird:userPassword"
                          f"{'' if password else f' (generated: {GENERATED_LENGTH} characters)'}:"
                          " set a longer user password first")
        return policy.text

    @field_validator("brute_force_max_wait_seconds")
    @classmethod
    def _max_wait(cls, value: int, info: ValidationInfo) -> int:
        if value < _before(info, "brute_force_wait_seconds", 0):
            raise problem("must be at least netbird:bruteForceWaitSeconds")
        return value

    @field_validator("sso_session_idle_seconds")
    @classmethod
    def _idle(cls, value: int, info: ValidationInfo) -> int:
        if value < _before(info, "access_token_seconds", 0):
            raise problem("must be at least netbird:accessTokenSeconds: an idle session would "
                          "end while its access token is still accepted")
        return value

    @field_validator("sso_session_max_seconds")
    @classmethod
    def _session_max(cls, value: int, info: ValidationInfo) -> int:
        if value < _before(info, "sso_session_idle_seconds", 0):
            raise problem("must be at least netbird:ssoSessionIdleSeconds")
        return value

    @field_validator("letsencrypt_email")
    @classmethod
    def _letsencrypt_email(cls, value: Optional[str]) -> Optional[str]:
        return check.email(value, "ops@example.com") if value is not None else None

    @field_validator("connector_redirect_url", mode="before")
    @classmethod
    def _connector_redirect_url(cls, value: Optional[str], info: ValidationInfo
                                ) -> Optional[str]:
        if _before(info, "integration") != "connector":
            return value
        example = f"https://{_before(info, 'domain', 'netbird.example.com')}/oauth2/callback"
        management = _before(info, "management_url")
        if value is None and management:
            return f"{management}/oauth2/callback"  # NetBird's issuer + /callback
        if value is None:
            raise problem("is required with netbird:integration connector: copy the redirect "
                          "URL NetBird shows when you add the identity provider (or set "
                          "netbird:managementUrl and netbird:apiToken)", example=example)
        return check.redirect_url(value, example)

    @field_validator("user_groups")
    @classmethod
    def _user_groups(cls, value: Optional[tuple[str, ...]], info: ValidationInfo
                     ) -> Optional[tuple[str, ...]]:
        unknown = [g for g in value or () if g not in _before(info, "groups", ())]
        if unknown:
            raise problem(f"names {unknown}, which netbird:groups does not list")
        return value

    @field_validator("groups_claim")
    @classmethod
    def _groups_claim(cls, value: str) -> str:
        return check.identifier(value, 64)

    @property
    def member_of(self) -> tuple[str, ...]:
        """The groups the first user is in."""
        return self.groups if self.user_groups is None else self.user_groups

    @field_validator("management_url")
    @classmethod
    def _management_url(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        if value is None:
            return None
        if _before(info, "integration") != "connector":
            raise problem("is only for netbird:integration connector (setup.env mode is "
                          "configured by NetBird's configure.sh)", remove=True)
        check.url(value, f"https://{_before(info, 'domain', 'netbird.example.com')}")
        if not carries_credentials(value):
            raise problem(f"is {value!r}: the API token would travel in the clear; use https://",
                          example="https://" + value.split("://", 1)[-1])
        return value

    @field_validator("api_token")
    @classmethod
    def _api_token(cls, value: str, info: ValidationInfo) -> str:
        if _before(info, "management_url") and not value:
            raise problem("is required with netbird:managementUrl: a personal access token of "
                          "a NetBird owner or admin (Team → Users → the user → Create token)")
        if value and not _before(info, "management_url"):
            raise problem("is only used with netbird:managementUrl", remove=True)
        return value

    @property
    def backend_role(self) -> str:
        # NetBird only reads users unless it is started with --user-delete-from-idp.
        return "manage-users" if self.user_delete_from_idp else "view-users"


SECTIONS: list[type[Section]] = [NetBirdSettings, KeycloakSettings]


@dataclass(frozen=True)
class Settings:
    stack: str
    keycloak: KeycloakSettings
    netbird: NetBirdSettings


class SettingsError(ValueError):
    """Raised with every problem found; `problems` holds one line per bad setting."""

    HEADLINE = "The stack settings are not valid; nothing was changed."

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join([self.HEADLINE, *(f"  - {p}" for p in self.problems)]))

    @classmethod
    def found_in(cls, text: str) -> Optional[str]:
        """The first copy of such an error in an engine's output (which repeats it)."""
        if cls.HEADLINE not in text:
            return None
        lines = text[text.index(cls.HEADLINE):].splitlines()
        problems = takewhile(lambda line: line.startswith("  - "), lines[1:])
        return "\n".join([lines[0], *problems])


def parse_settings(raw: dict[str, RawValue], stack: str) -> Settings:
    """Turns the stack's raw configuration into `Settings`, or raises `SettingsError`."""
    problems = unknown_keys(raw, SECTIONS, stack)
    netbird, netbird_problems = validate(NetBirdSettings, raw, stack)
    keycloak, keycloak_problems = validate(KeycloakSettings, raw, stack)
    problems += netbird_problems + keycloak_problems
    if problems or netbird is None or keycloak is None:
        raise SettingsError(problems)
    return Settings(stack=stack, keycloak=keycloak, netbird=netbird)


def from_stack_file(config: Mapping[str, object], stack: str) -> Settings:
    """`Settings` from a stack file's `config:` map as written, outside a Pulumi run (the fleet's
    look at every stack). A secret stays encrypted: it counts as set, its value is not read."""
    raw = {key: RawValue(str(value["secure"]), True) if isinstance(value, dict) and "secure" in value
           else RawValue(str(value).lower() if isinstance(value, bool) else str(value))
           for key, value in config.items()}
    return parse_settings(raw, stack)


def read_raw_config(get: Callable[[str], Optional[str]], is_secret: Callable[[str], bool],
                    keys: Sequence[str]) -> dict[str, RawValue]:
    """Collects the given keys through the accessors (Pulumi's runtime config in a program)."""
    raw = {}
    for key in keys:
        text = get(key)
        if text is not None:
            raw[key] = RawValue(str(text), is_secret(key))
    return raw


def load_from_pulumi() -> Settings:
    """Reads and validates the current stack's settings inside a Pulumi program."""
    import pulumi
    import pulumi.runtime

    from pulumi.runtime import config as runtime_config

    # The whole stack configuration, so that a mistyped key in our namespaces is reported too.
    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env() or {})
    keys = sorted({f.alias for s in SECTIONS for f in s.model_fields.values()} | {
        k for k in present if k.startswith(("netbird:", "keycloak:", "docker:"))})
    raw = read_raw_config(pulumi.runtime.get_config, pulumi.runtime.is_config_secret, keys)
    return parse_settings(raw, pulumi.get_stack())
