"""Typed stack settings for netbird-keycloak, validated before any resource exists.

`parse_settings` is a pure function over the raw stack configuration, so every rule here is
tested without Pulumi. It collects *all* problems at once; each message names the key and the
`pulumi config set …` command that fixes it, because an operator reading a failed preview should
not have to guess which of thirty settings is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence
from urllib.parse import urlsplit

# Keycloak stores the realm name in a varchar(36) column; longer names fail with a 409.
REALM_NAME_MAX = 36
DEFAULT_KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak:26.7.3"
# The official image's interface (POSTGRES_* variables, PGDATA, `postgres ARGS`); where no
# registry is reachable, `make bootstrap` builds netbird-keycloak/postgres:15 with the same one.
DEFAULT_POSTGRES_IMAGE = "postgres:15-bookworm"
# The scopes Keycloak 25+ puts on every new client. `ClientDefaultScopes` replaces the client's
# whole list, so these must be repeated: without `basic` access tokens carry no `sub`.
BUILTIN_DEFAULT_SCOPES = ("basic", "acr", "profile", "email", "roles", "web-origins")

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$")
_DOCKER_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")
_WELL_KNOWN_PASSWORDS = frozenset(
    {"admin", "administrator", "password", "passw0rd", "changeme", "change-me", "keycloak",
     "netbird", "secret", "letmein", "welcome", "qwerty", "123456", "12345678", "123456789",
     "password1", "admin123", "root", "test", "default"}
)
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class RawValue:
    """One configuration value as the stack holds it: the text, and whether it is a secret."""

    text: str
    secret: bool = False


@dataclass(frozen=True)
class KeycloakSettings:
    deploy: bool
    url: str  # the public base URL NetBird and browsers use, without a trailing slash
    admin_user: str
    admin_password: str = field(repr=False)
    image: str
    http_port: int
    management_port: int
    network_mode: str
    bind_address: str
    container_name: str
    volume_name: str
    client_timeout: int
    version: Optional[str]
    docker_host: Optional[str]
    memory_mb: Optional[int] = None
    # Extra `ssh` arguments for an ssh:// docker:host (key, known-hosts file), as pulumi-docker's
    # `sshOpts`: passed as separate arguments, never through a shell.
    docker_ssh_opts: tuple[str, ...] = ()
    # A folder with ca.pem, cert.pem and key.pem for a tcp:// docker:host (Docker's TLS layout).
    docker_cert_path: Optional[str] = None
    # "dev": start-dev; "production": `kc.sh start` with the public hostname, proxy headers,
    # HTTP on the internal side only, health and metrics on the management port.
    mode: str = "dev"
    admin_url: Optional[str] = None
    # `kc.sh start --optimized`: the image was built (`kc.sh build`) for this configuration.
    optimized: bool = False
    # "dev-file": Keycloak's embedded H2 database on the data volume; "postgres": a Postgres
    # container next to Keycloak, with its own volume.
    database: str = "dev-file"
    database_password: str = field(default="", repr=False)
    postgres_image: str = DEFAULT_POSTGRES_IMAGE
    database_port: int = 5432
    database_volume_name: str = ""

    @property
    def database_container_name(self) -> str:
        return f"{self.container_name}-postgres"

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
        """The base URL Pulumi (and the driver's adoption check) reach Keycloak's Admin API at:
        the public URL for an existing or remote Keycloak, else the published port here."""
        if not self.deploy or self.remote_docker:
            return self.url
        host = "127.0.0.1" if self.network_mode == "host" or self.bind_address == "0.0.0.0" \
            else self.bind_address
        return f"http://{host}:{self.http_port}"


@dataclass(frozen=True)
class NetBirdSettings:
    domain: str
    realm: str
    protect_realm: bool
    client_id: str
    backend_client_id: str
    audience_scope: str
    pkce_ports: tuple[int, ...]
    user_name: str
    user_email: str
    user_first_name: str
    user_last_name: str
    user_password: str = field(repr=False)
    user_delete_from_idp: bool
    letsencrypt_email: Optional[str]
    disable_letsencrypt: Optional[bool]
    # "setup-env": the configure.sh path (default); "connector": Keycloak as a connector of
    # NetBird's embedded identity provider (NetBird 0.62+), one confidential client.
    integration: str = "setup-env"
    connector_client_id: str = "netbird"
    connector_redirect_url: Optional[str] = None

    @property
    def backend_role(self) -> str:
        # NetBird only reads users unless it is started with --user-delete-from-idp.
        return "manage-users" if self.user_delete_from_idp else "view-users"


@dataclass(frozen=True)
class Settings:
    stack: str
    keycloak: KeycloakSettings
    netbird: NetBirdSettings


class SettingsError(ValueError):
    """Raised with every problem found; `problems` holds one line per bad setting."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            "The stack settings are not valid; nothing was changed.\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


def _set_cmd(key: str, example: str, secret: bool = False) -> str:
    return f"pulumi config set {'--secret ' if secret else ''}{key} {example}"


class _Reader:
    """Reads typed values out of the raw configuration and records what is wrong with them."""

    def __init__(self, raw: Mapping[str, RawValue]):
        self.raw = raw
        self.problems: list[str] = []

    def fail(self, key: str, why: str, example: str, secret: bool = False) -> None:
        self.problems.append(f"{key}: {why}. Fix: {_set_cmd(key, example, secret)}")

    def text(self, key: str, default: Optional[str] = None, *, example: str) -> Optional[str]:
        value = self.raw.get(key)
        if value is None or value.text == "":
            return default
        if value.secret:
            # A plain setting stored as a secret is harmless, but it hides typos from reviewers.
            return value.text
        if value.text != value.text.strip() or any(ord(c) < 32 or c == "\x7f" for c in value.text):
            self.fail(key, "has surrounding white space or a control character", example)
            return default
        return value.text

    def required(self, key: str, *, example: str) -> str:
        value = self.text(key, example=example)
        if value is None:
            if key in self.raw and self.raw[key].text != "":
                return ""  # already reported by text()
            self.fail(key, "is required and not set", example)
            return ""
        return value

    def secret(self, key: str, *, example: str) -> str:
        value = self.raw.get(key)
        if value is None or value.text == "":
            self.fail(key, "is required and not set (`make up` generates it)", example, secret=True)
            return ""
        if not value.secret:
            self.fail(key, "is stored in plain text in the stack file; store it as a secret",
                      example, secret=True)
        return value.text

    def boolean(self, key: str, default: Optional[bool]) -> Optional[bool]:
        text = self.text(key, example="true")
        if text is None:
            return default
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        self.fail(key, f"must be true or false, not {text!r}", "true")
        return default

    def integer(self, key: str, default: int, low: int, high: int, *, example: str) -> int:
        text = self.text(key, example=example)
        if text is None:
            return default
        try:
            number = int(text)
        except ValueError:
            self.fail(key, f"must be a whole number from {low} to {high}, not {text!r}", example)
            return default
        if not low <= number <= high:
            self.fail(key, f"must be from {low} to {high}, not {number}", example)
            return default
        return number


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host == "::1" or re.fullmatch(r"127(\.\d{1,3}){3}", host) \
        is not None


def _check_image(reader: _Reader, key: str, image: Optional[str], example: str) -> None:
    if not image:
        return
    if not _DOCKER_IMAGE.match(image) or len(image) > 255:
        reader.fail(key, f"is not a Docker image reference: {image!r}", example)
    elif image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
        reader.fail(key, "must name a pinned version tag, not latest (a present image is never "
                         "pulled again)", example)


def _check_hostname(reader: _Reader, key: str, value: str, example: str) -> None:
    if not value:
        return
    if "://" in value or "/" in value or ":" in value or "@" in value:
        reader.fail(key, f"must be a bare host name (no scheme, path, port or user), not {value!r}",
                    example)
        return
    if not value.isascii():
        reader.fail(key, f"must be plain ASCII (write IDN names in punycode), not {value!r}",
                    example)
        return
    if value != value.lower():
        reader.fail(key, f"must be lower case, not {value!r}", value.lower())
        return
    labels = value.rstrip(".").split(".")
    if (len(value) > 253 or len(labels) < 2
            or not all(_HOST_LABEL.match(label) for label in labels)):
        reader.fail(key, f"is not a valid DNS name with at least two labels: {value!r}", example)


def _check_identifier(reader: _Reader, key: str, value: str, max_len: int, example: str) -> None:
    if not value:
        return
    if not _IDENTIFIER.match(value) or not value.isascii():
        reader.fail(key, "may hold only letters, digits, '.', '_' and '-' (no spaces), "
                         f"starting with a letter or digit, not {value!r}", example)
    elif len(value) > max_len:
        reader.fail(key, f"must be at most {max_len} characters, not {len(value)}", example)


def _check_password(reader: _Reader, key: str, password: str, user: str) -> None:
    if not password:
        return
    example = "<a long random password>"
    if len(password) < MIN_PASSWORD_LENGTH:
        reader.fail(key, f"is too short ({len(password)} characters; at least "
                         f"{MIN_PASSWORD_LENGTH})", example, secret=True)
    elif password.lower() in _WELL_KNOWN_PASSWORDS or password.lower() == user.lower():
        reader.fail(key, "is a well-known or guessable password", example, secret=True)
    elif len(set(password)) < 5:
        reader.fail(key, "is too repetitive to be a password", example, secret=True)


def _check_url(reader: _Reader, key: str, value: str, example: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail(key, f"must be an http:// or https:// URL, not {value!r}", example)
    elif value.endswith("/"):
        reader.fail(key, f"must not end with '/' (NetBird would call '//users'), not {value!r}",
                    value.rstrip("/"))
    elif parts.query or parts.fragment or parts.username or parts.password:
        reader.fail(key, "must not carry a query, fragment or credentials", example)
    elif not value.isascii() or any(c in value for c in " \"'`$\\"):
        reader.fail(key, f"has characters a URL may not carry: {value!r}", example)
    return value


def _pkce_ports(reader: _Reader) -> tuple[int, ...]:
    key, example = "netbird:pkcePorts", "'[53000]'"
    text = reader.text(key, example=example)
    if text is None:
        return (53000,)
    try:
        parsed = json.loads(text) if text.startswith("[") else [
            int(p) for p in text.split(",")]
    except ValueError:
        reader.fail(key, f"must be a list of port numbers such as [53000], not {text!r}", example)
        return (53000,)
    if (not isinstance(parsed, list) or not parsed
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in parsed)):
        reader.fail(key, f"must be a non-empty list of port numbers, not {text!r}", example)
        return (53000,)
    if not all(1024 <= p <= 65535 for p in parsed):
        reader.fail(key, "ports must be from 1024 to 65535 (the NetBird client listens on "
                         "localhost without privileges)", example)
    if len(set(parsed)) != len(parsed):
        reader.fail(key, "lists a port twice", example)
    return tuple(parsed)


def _ssh_opts(reader: _Reader, docker_host: Optional[str]) -> tuple[str, ...]:
    key = "docker:sshOpts"
    example = '\'["-i", "/home/ops/.ssh/netbird_deploy"]\''
    text = reader.text(key, example=example)
    if text is None:
        return ()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(o, str) and o for o in parsed):
        reader.fail(key, "must be a JSON list of ssh arguments", example)
        return ()
    if not (docker_host or "").startswith("ssh://"):
        reader.fail(key, "is used only with an ssh:// docker:host", example)
    if any(ord(c) < 32 for o in parsed for c in o):
        reader.fail(key, "holds a control character", example)
    return tuple(parsed)


def parse_settings(raw: Mapping[str, RawValue], stack: str) -> Settings:
    """Turns the stack's raw configuration into `Settings`, or raises `SettingsError`."""
    r = _Reader(raw)
    known_prefixes = ("netbird:", "keycloak:", "docker:", "pulumi:")
    for key in raw:
        if not key.startswith(known_prefixes):
            continue
        if key.startswith(("netbird:", "keycloak:")) and key not in _KNOWN_KEYS:
            r.problems.append(f"{key}: is not a setting of this program (see the README's "
                              f"settings table). Fix: pulumi config rm {key}")

    deploy = r.boolean("keycloak:deploy", True)
    http_port = r.integer("keycloak:httpPort", 8080, 1, 65535, example="8080")
    management_port = r.integer("keycloak:managementPort", 9000, 1, 65535, example="9000")
    if deploy and http_port == management_port:
        r.fail("keycloak:managementPort", "must differ from keycloak:httpPort", "9000")

    url_text = r.text("keycloak:url", example="https://auth.example.com")
    if url_text is None:
        if not deploy:
            r.fail("keycloak:url", "is required when keycloak:deploy is false (the URL of the "
                                   "Keycloak you already run)", "https://auth.example.com")
        url = f"http://localhost:{http_port}"
    else:
        url = _check_url(r, "keycloak:url", url_text, "https://auth.example.com")

    admin_user = r.text("keycloak:adminUser", "kcadmin", example="kcadmin") or "kcadmin"
    admin_password = r.secret("keycloak:adminPassword", example="<admin password>")
    if deploy:
        if admin_user.lower() == "admin":
            r.fail("keycloak:adminUser", "must not be 'admin', the first name every scanner "
                                         "tries", "kcadmin")
        _check_identifier(r, "keycloak:adminUser", admin_user, 64, "kcadmin")
        _check_password(r, "keycloak:adminPassword", admin_password, admin_user)

    image = r.text("keycloak:image", DEFAULT_KEYCLOAK_IMAGE, example=DEFAULT_KEYCLOAK_IMAGE)
    if deploy:
        _check_image(r, "keycloak:image", image, DEFAULT_KEYCLOAK_IMAGE)

    network_mode = r.text("keycloak:networkMode", "bridge", example="bridge") or "bridge"
    if network_mode not in ("bridge", "host"):
        r.fail("keycloak:networkMode", f"must be bridge or host, not {network_mode!r}", "bridge")
    bind_address = r.text("keycloak:bindAddress", "127.0.0.1", example="127.0.0.1") or ""
    if not re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", bind_address) or any(
            int(octet) > 255 for octet in bind_address.split(".")):
        r.fail("keycloak:bindAddress", f"must be an IPv4 address, not {bind_address!r}",
               "127.0.0.1")

    container_name = r.text("keycloak:containerName", f"keycloak-{stack}",
                            example=f"keycloak-{stack}") or ""
    _check_identifier(r, "keycloak:containerName", container_name, 63, f"keycloak-{stack}")
    volume_name = r.text("keycloak:volumeName", f"keycloak-{stack}-data",
                         example=f"keycloak-{stack}-data") or ""
    _check_identifier(r, "keycloak:volumeName", volume_name, 63, f"keycloak-{stack}-data")
    client_timeout = r.integer("keycloak:clientTimeout", 60, 30, 600, example="60")
    mode = r.text("keycloak:mode", "dev", example="production") or ""
    if mode not in ("dev", "production"):
        r.fail("keycloak:mode", f"must be dev or production, not {mode!r}", "production")
    elif mode == "production" and deploy and url_text is None:
        r.fail("keycloak:url", "is required with keycloak:mode production: the public https:// "
                               "URL Keycloak is reached at through the TLS proxy (its issuer)",
               "https://auth.example.com")
    admin_url_text = r.text("keycloak:adminUrl", example="https://auth-admin.example.com")
    admin_url = (_check_url(r, "keycloak:adminUrl", admin_url_text,
                            "https://auth-admin.example.com") if admin_url_text else None)
    # Keycloak's JVM sizes its heap from the container's memory; below ~750 MiB it fails to start.
    memory_mb = r.integer("keycloak:memoryMb", 0, 750, 65536, example="2048") \
        if "keycloak:memoryMb" in raw else None
    optimized = bool(r.boolean("keycloak:optimized", False))
    if optimized and mode != "production":
        r.fail("keycloak:optimized", "needs keycloak:mode production (start-dev cannot run "
                                     "--optimized)", "false")

    database = r.text("keycloak:database", "dev-file", example="postgres") or ""
    database_password, database_volume_name = "", ""
    database_port = r.integer("keycloak:databasePort", 5432, 1, 65535, example="5432")
    postgres_image = r.text("keycloak:postgresImage", DEFAULT_POSTGRES_IMAGE,
                            example=DEFAULT_POSTGRES_IMAGE) or DEFAULT_POSTGRES_IMAGE
    if database not in ("dev-file", "postgres"):
        r.fail("keycloak:database", f"must be dev-file or postgres, not {database!r}",
               "postgres")
    elif database == "dev-file" and mode == "production" and deploy:
        r.fail("keycloak:database", "must be postgres with keycloak:mode production: Keycloak's "
                                    "dev-file database is for development only", "postgres")
    elif database == "postgres" and deploy:
        database_password = r.secret("keycloak:databasePassword", example="<database password>")
        _check_password(r, "keycloak:databasePassword", database_password, "keycloak")
        _check_image(r, "keycloak:postgresImage", postgres_image, DEFAULT_POSTGRES_IMAGE)
        if database_port in (http_port, management_port):
            r.fail("keycloak:databasePort", "must differ from Keycloak's HTTP and management "
                                            "ports", "5432")
        database_volume_name = r.text(
            "keycloak:databaseVolumeName", f"keycloak-{stack}-postgres-data",
            example=f"keycloak-{stack}-postgres-data") or ""
        _check_identifier(r, "keycloak:databaseVolumeName", database_volume_name, 63,
                          f"keycloak-{stack}-postgres-data")
        if database_volume_name == volume_name:
            r.fail("keycloak:databaseVolumeName", "must differ from keycloak:volumeName",
                   f"keycloak-{stack}-postgres-data")
    # Read by scripts/stack.py before a run; only its form is checked here.
    r.boolean("keycloak:confirmDatabaseSwitch", False)
    version = r.text("keycloak:version", example="26.7.3")
    if version is not None and not re.fullmatch(r"\d+\.\d+\.\d+", version):
        r.fail("keycloak:version", f"must be a version such as 26.7.3, not {version!r}", "26.7.3")

    docker_host = r.text("docker:host", example="ssh://deploy@netbird.example.com")
    if docker_host is not None and not re.fullmatch(
            r"(unix://|npipe://|tcp://|ssh://)[^\s'\"`$;|&]+", docker_host):
        r.fail("docker:host", "must start with unix://, tcp:// or ssh:// and hold no spaces or "
                              "shell characters", "ssh://deploy@netbird.example.com")

    docker_cert_path = r.text("docker:certPath", example="/home/ops/.docker/netbird")
    if docker_cert_path is not None and not docker_cert_path.startswith("/"):
        r.fail("docker:certPath", "must be an absolute path to a folder holding ca.pem, cert.pem "
                                  "and key.pem", "/home/ops/.docker/netbird")
    elif docker_cert_path is not None and not (docker_host or "").startswith("tcp://"):
        r.fail("docker:certPath", "is used only with a tcp:// docker:host",
               "/home/ops/.docker/netbird")
    if docker_host and docker_host.startswith("tcp://") and docker_cert_path is None and \
            not _is_loopback(urlsplit(docker_host).hostname or ""):
        # Docker's API without TLS is root on that machine for anyone on the network path.
        r.fail("docker:host", "reaches another machine over plain tcp://: set docker:certPath "
                              "(TLS with client certificates) or use ssh://",
               "ssh://deploy@netbird.example.com")

    if deploy and docker_host and not docker_host.startswith("unix://") and url_text is None:
        r.fail("keycloak:url", "is required when docker:host deploys onto another machine: the "
                               "URL at which that Keycloak is reached from here and from NetBird",
               "https://auth.example.com")

    domain = r.required("netbird:domain", example="netbird.example.com")
    _check_hostname(r, "netbird:domain", domain, "netbird.example.com")

    realm = r.text("netbird:realm", "netbird", example="netbird") or ""
    _check_identifier(r, "netbird:realm", realm, REALM_NAME_MAX, "netbird")
    if realm == "master":
        r.fail("netbird:realm", "must not be Keycloak's own 'master' realm", "netbird")
    client_id = r.text("netbird:clientId", "netbird-client", example="netbird-client") or ""
    _check_identifier(r, "netbird:clientId", client_id, 255, "netbird-client")
    backend_client_id = r.text("netbird:backendClientId", "netbird-backend",
                               example="netbird-backend") or ""
    _check_identifier(r, "netbird:backendClientId", backend_client_id, 255, "netbird-backend")
    if client_id and client_id == backend_client_id:
        r.fail("netbird:backendClientId", "must differ from netbird:clientId", "netbird-backend")
    audience_scope = r.text("netbird:audienceScope", "netbird-client-audience",
                            example="netbird-client-audience") or ""
    _check_identifier(r, "netbird:audienceScope", audience_scope, 255, "netbird-client-audience")
    if audience_scope in BUILTIN_DEFAULT_SCOPES + ("openid", "offline_access"):
        r.fail("netbird:audienceScope", f"must not reuse Keycloak's built-in scope "
                                        f"{audience_scope!r}", "netbird-client-audience")

    user_name = r.text("netbird:userName", "netbird", example="netbird") or ""
    _check_identifier(r, "netbird:userName", user_name, 255, "netbird")
    user_email = r.text("netbird:userEmail", example=f"netbird@{domain or 'example.com'}")
    if user_email is None:
        user_email = f"{user_name}@{domain}"
    elif not _EMAIL.match(user_email) or not user_email.isascii():
        r.fail("netbird:userEmail", f"is not an e-mail address: {user_email!r}",
               "admin@example.com")
    user_password = r.secret("netbird:userPassword", example="<user password>")
    _check_password(r, "netbird:userPassword", user_password, user_name)

    integration = r.text("netbird:integration", "setup-env", example="setup-env") or ""
    if integration not in ("setup-env", "connector"):
        r.fail("netbird:integration", f"must be setup-env or connector, not {integration!r}",
               "setup-env")
    connector_client_id = r.text("netbird:connectorClientId", "netbird", example="netbird") or ""
    _check_identifier(r, "netbird:connectorClientId", connector_client_id, 255, "netbird")
    redirect_example = f"https://{domain or 'netbird.example.com'}/oauth2/callback"
    connector_redirect_url = r.text("netbird:connectorRedirectUrl", example=redirect_example)
    if integration == "connector":
        if connector_redirect_url is None:
            r.fail("netbird:connectorRedirectUrl", "is required with netbird:integration "
                   "connector: copy the redirect URL NetBird shows when you add the identity "
                   "provider", redirect_example)
        elif not connector_redirect_url.startswith("https://") or any(
                c in connector_redirect_url for c in " *\"'`$") or \
                not connector_redirect_url.isascii():
            r.fail("netbird:connectorRedirectUrl", "must be the exact https:// URL NetBird "
                   f"shows, without wildcards, not {connector_redirect_url!r}", redirect_example)

    letsencrypt_email = r.text("netbird:letsencryptEmail", example="ops@example.com")
    if letsencrypt_email is not None and (not _EMAIL.match(letsencrypt_email)
                                          or not letsencrypt_email.isascii()):
        r.fail("netbird:letsencryptEmail", f"is not an e-mail address: {letsencrypt_email!r}",
               "ops@example.com")

    settings = Settings(
        stack=stack,
        keycloak=KeycloakSettings(
            deploy=bool(deploy), url=url, admin_user=admin_user, admin_password=admin_password,
            image=image or DEFAULT_KEYCLOAK_IMAGE, http_port=http_port,
            management_port=management_port, network_mode=network_mode,
            bind_address=bind_address, container_name=container_name, volume_name=volume_name,
            client_timeout=client_timeout, version=version, docker_host=docker_host,
            memory_mb=memory_mb, docker_ssh_opts=_ssh_opts(r, docker_host),
            docker_cert_path=docker_cert_path, mode=mode,
            admin_url=admin_url, optimized=optimized,
            database=database, database_password=database_password,
            postgres_image=postgres_image, database_port=database_port,
            database_volume_name=database_volume_name),
        netbird=NetBirdSettings(
            domain=domain, realm=realm, protect_realm=bool(r.boolean("netbird:protectRealm", True)),
            client_id=client_id, backend_client_id=backend_client_id,
            audience_scope=audience_scope, pkce_ports=_pkce_ports(r), user_name=user_name,
            user_email=user_email,
            user_first_name=r.text("netbird:userFirstName", "NetBird", example="Ada") or "",
            user_last_name=r.text("netbird:userLastName", "Admin", example="Lovelace") or "",
            user_password=user_password,
            user_delete_from_idp=bool(r.boolean("netbird:userDeleteFromIdp", False)),
            letsencrypt_email=letsencrypt_email,
            disable_letsencrypt=r.boolean("netbird:disableLetsencrypt", None),
            integration=integration, connector_client_id=connector_client_id,
            connector_redirect_url=connector_redirect_url),
    )
    if r.problems:
        raise SettingsError(r.problems)
    return settings


# Every key this program reads; anything else in our two namespaces is a typo worth reporting.
_KNOWN_KEYS = frozenset(
    f"keycloak:{k}" for k in (
        "deploy", "url", "adminUser", "adminPassword", "image", "httpPort", "managementPort",
        "networkMode", "bindAddress", "containerName", "volumeName", "clientTimeout", "version",
        "memoryMb", "mode", "adminUrl", "optimized", "database", "databasePassword",
        "postgresImage", "databasePort", "databaseVolumeName", "confirmDatabaseSwitch")
) | frozenset(
    f"netbird:{k}" for k in (
        "domain", "realm", "protectRealm", "clientId", "backendClientId", "audienceScope",
        "pkcePorts", "userName", "userEmail", "userFirstName", "userLastName", "userPassword",
        "userDeleteFromIdp", "letsencryptEmail", "disableLetsencrypt", "integration",
        "connectorClientId", "connectorRedirectUrl")
)

# The secrets `make up` generates when a stack lacks them (the database password only for
# keycloak:database postgres).
GENERATED_SECRETS = ("keycloak:adminPassword", "netbird:userPassword",
                     "keycloak:databasePassword")


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
    keys = sorted(_KNOWN_KEYS | {"docker:host", "docker:sshOpts", "docker:certPath"} | {
        k for k in present if k.startswith(("netbird:", "keycloak:"))})
    raw = read_raw_config(pulumi.runtime.get_config, pulumi.runtime.is_config_secret, keys)
    return parse_settings(raw, pulumi.get_stack())
