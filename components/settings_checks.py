"""The value checks the settings declarations use (components/settings.py): each returns the
value or raises a `problem` saying what is wrong, in the words an operator needs."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Annotated, Optional
from urllib.parse import urlsplit

from pydantic import BeforeValidator

from components.settings_schema import problem
from foundation.urls import carries_credentials, is_loopback

MIN_PASSWORD_LENGTH = 12
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$")
_DOCKER_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")
_WELL_KNOWN_PASSWORDS = frozenset(
    {"admin", "administrator", "password", "passw0rd", "changeme", "change-me", "keycloak",
     "netbird", "secret", "letmein", "welcome", "qwerty", "123456", "12345678", "123456789",
     "password1", "admin123", "root", "test", "default"}
)


def _flag(value: object) -> object:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise problem(f"must be true or false, not {value!r}")


def _ports(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value) if value.startswith("[") else [
            int(p) for p in value.split(",")]
    except ValueError:
        raise problem(f"must be a list of port numbers such as [53000], not {value!r}") from None
    if (not isinstance(parsed, list) or not parsed
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in parsed)):
        raise problem(f"must be a non-empty list of port numbers, not {value!r}")
    if not all(1024 <= p <= 65535 for p in parsed):
        raise problem("ports must be from 1024 to 65535 (the NetBird client listens on "
                      "localhost without privileges)")
    if len(set(parsed)) != len(parsed):
        raise problem("lists a port twice")
    return tuple(parsed)


def _ssh_opts(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(o, str) and o for o in parsed):
        raise problem("must be a JSON list of ssh arguments")
    if any(ord(c) < 32 for o in parsed for c in o):
        raise problem("holds a control character")
    _ssh_opts_allowed(parsed)
    return tuple(parsed)


# A stack file is read by every preview, also a pull request's on the deploy runner: ssh options
# that run a command there (ProxyCommand, LocalCommand, KnownHostsCommand, a config file with
# any of them) would make a stack file code. Only options that choose how to log in are taken.
SSH_FLAGS = {"-4", "-6", "-C", "-q", "-T"}
SSH_WITH_VALUE = {"-i", "-p", "-l", "-J", "-o"}
SSH_OPTIONS = {"batchmode", "compression", "connectattempts", "connecttimeout", "hostkeyalias",
               "identitiesonly", "identityfile", "loglevel", "port", "serveraliveinterval",
               "serveralivecountmax", "stricthostkeychecking", "user", "userknownhostsfile",
               "globalknownhostsfile", "hostkeyalgorithms", "pubkeyacceptedalgorithms",
               "proxyjump", "tcpkeepalive", "updatehostkeys", "addressfamily"}


def _ssh_opts_allowed(args: list[str]) -> None:
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        flag, inline = (arg[:2], arg[2:]) if arg.startswith("-") and len(arg) > 2 else (arg, "")
        if flag in SSH_FLAGS and not inline:
            continue
        if flag not in SSH_WITH_VALUE:
            raise problem(f"holds {arg!r}: only -i, -p, -l, -J, -o with a login option, -4, -6, "
                          "-C, -q and -T are taken (a stack file must not run commands)")
        value = inline or (rest.pop(0) if rest else "")
        if not value:
            raise problem(f"holds {arg!r} without its value")
        if flag == "-o":
            key = value.replace("=", " ", 1).split(" ", 1)[0].strip().lower()
            if key not in SSH_OPTIONS:
                raise problem(f"holds the ssh option {key!r}, which is not taken: only options "
                              "that choose how to log in (a stack file must not run commands)")


def _addresses(value: object) -> object:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.startswith("[") else \
                [a.strip() for a in value.split(",")]
        except ValueError:
            value = None
    if not isinstance(value, (list, tuple)) or not value:
        raise problem("must be a non-empty list of IP addresses or CIDR ranges such as "
                      "[\"127.0.0.1\", \"10.0.0.0/24\"]")
    for address in value:
        try:
            network = ipaddress.ip_network(str(address), strict=False)
        except ValueError:
            raise problem(f"holds {address!r}, which is not an IP address or CIDR range") \
                from None
        if network.prefixlen == 0:
            raise problem(f"holds {address!r}: trusting every address lets anyone who reaches "
                          "Keycloak forge X-Forwarded-* headers")
    return tuple(str(a) for a in value)


def _names(value: object) -> object:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.startswith("[") else \
                [n.strip() for n in value.split(",") if n.strip()]
        except ValueError:
            value = None
    if not isinstance(value, (list, tuple)) or not all(isinstance(n, str) for n in value):
        raise problem("must be a JSON list of names such as [\"ops\", \"dev\"]")
    for name in value:
        if not _GROUP.match(name):
            raise problem(f"holds {name!r}: a group name is letters, digits, '.', '_', '-' and "
                          "spaces, at most 64 characters, no '/' (Keycloak's path separator)")
    if len(set(value)) != len(value):
        raise problem("lists a name twice")
    return tuple(value)


# A true/false setting: only those two words (YAML's yes/no/on/off are refused as ambiguous).
Flag = Annotated[bool, BeforeValidator(_flag)]
Ports = Annotated[tuple[int, ...], BeforeValidator(_ports)]
SshOpts = Annotated[tuple[str, ...], BeforeValidator(_ssh_opts)]
Addresses = Annotated[tuple[str, ...], BeforeValidator(_addresses)]
Names = Annotated[tuple[str, ...], BeforeValidator(_names)]




def hostname(value: str) -> str:
    if "://" in value or "/" in value or ":" in value or "@" in value:
        raise problem(f"must be a bare host name (no scheme, path, port or user), not {value!r}")
    if not value.isascii():
        raise problem(f"must be plain ASCII (write IDN names in punycode), not {value!r}")
    if value != value.lower():
        raise problem(f"must be lower case, not {value!r}", example=value.lower())
    labels = value.rstrip(".").split(".")
    if (len(value) > 253 or len(labels) < 2
            or not all(_HOST_LABEL.match(label) for label in labels)):
        raise problem(f"is not a valid DNS name with at least two labels: {value!r}")
    return value


def identifier(value: str, max_len: int) -> str:
    if not _IDENTIFIER.match(value) or not value.isascii():
        raise problem("may hold only letters, digits, '.', '_' and '-' (no spaces), starting "
                      f"with a letter or digit, not {value!r}")
    if len(value) > max_len:
        raise problem(f"must be at most {max_len} characters, not {len(value)}")
    return value


def password(value: str, user: str) -> str:
    """Never names the value: it is a secret."""
    if len(value) < MIN_PASSWORD_LENGTH:
        raise problem(f"is too short ({len(value)} characters; at least "
                      f"{MIN_PASSWORD_LENGTH})")
    if value.lower() in _WELL_KNOWN_PASSWORDS or value.lower() == user.lower():
        raise problem("is a well-known or guessable password")
    if len(set(value)) < 5:
        raise problem("is too repetitive to be a password")
    return value


def url(value: str, example: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem(f"must be an http:// or https:// URL, not {value!r}", example=example)
    if value.endswith("/"):
        raise problem(f"must not end with '/' (NetBird would call '//users'), not {value!r}",
                      example=value.rstrip("/"))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise problem("must not carry a query, fragment or credentials", example=example)
    if not value.isascii() or any(c in value for c in " \"'`$\\"):
        raise problem(f"has characters a URL may not carry: {value!r}", example=example)
    return value


def redirect_url(value: str, example: str) -> str:
    # http:// only on loopback: a NetBird on this machine (tests, a trial).
    if not carries_credentials(value) or any(c in value for c in " *\"'`$") or \
            not value.isascii():
        raise problem("must be the exact https:// URL NetBird shows, without wildcards, not "
                      f"{value!r}", example=example)
    return value


def email(value: str, example: str) -> str:
    if not _EMAIL.match(value) or not value.isascii():
        raise problem(f"is not an e-mail address: {value!r}", example=example)
    return value


def image(value: str) -> str:
    if not _DOCKER_IMAGE.match(value) or len(value) > 255:
        raise problem(f"is not a Docker image reference: {value!r}")
    if value.endswith(":latest") or ":" not in value.rsplit("/", 1)[-1]:
        raise problem("must name a pinned version tag, not latest (a present image is never "
                      "pulled again)")
    return value


def ipv4(value: str) -> str:
    if not re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", value) or any(
            int(octet) > 255 for octet in value.split(".")):
        raise problem(f"must be an IPv4 address, not {value!r}")
    return value


def version(value: Optional[str]) -> Optional[str]:
    if value is not None and not re.fullmatch(r"\d+\.\d+\.\d+", value):
        raise problem(f"must be a version such as 26.7.3, not {value!r}")
    return value


def docker_host(value: Optional[str]) -> Optional[str]:
    if value is not None and not re.fullmatch(
            r"(unix://|npipe://|tcp://|ssh://)[^\s'\"`$;|&]+", value):
        raise problem("must start with unix://, tcp:// or ssh:// and hold no spaces or shell "
                      "characters")
    return value


def cert_path(value: Optional[str], host: Optional[str]) -> Optional[str]:
    """docker:certPath, and what it means for docker:host: Docker's API without TLS is root on
    that machine for anyone on the network path."""
    if value is not None and not value.startswith("/"):
        raise problem("must be an absolute path to a folder holding ca.pem, cert.pem and key.pem")
    if value is not None and not (host or "").startswith("tcp://"):
        raise problem("is used only with a tcp:// docker:host")
    if host and host.startswith("tcp://") and value is None and \
            not is_loopback(urlsplit(host).hostname or ""):
        raise problem("reaches another machine over plain tcp://: set docker:certPath (TLS with "
                      "client certificates) or use ssh://", key="docker:host")
    return value


@dataclass(frozen=True)
class PasswordPolicy:
    text: str  # as Keycloak writes it back
    length: int


_POLICY_PART = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*)(?:\((?P<arg>[^()]*)\))?$")


def password_policy(value: str, example: str, min_length: int) -> PasswordPolicy:
    """A Keycloak password policy that keeps the parts a security review asks for; written the
    way Keycloak returns it (`name(arg)` joined by ` and `, `undefined` for no argument)."""
    parts = {}
    for part in (p.strip() for p in value.split(" and ")):
        found = _POLICY_PART.match(part)
        if not found:
            raise problem(f"has a part Keycloak cannot read: {part!r}", example=example)
        parts[found["name"]] = found["arg"] if found["arg"] not in (None, "") else "undefined"
    length = parts.get("length", "")
    if not length.isdigit() or int(length) < min_length:
        raise problem(f"must require length({min_length}) or more", example=example)
    for needed in ("notUsername", "passwordHistory"):
        if needed not in parts:
            raise problem(f"must keep {needed}", example=example)
    if not parts["passwordHistory"].isdigit() or int(parts["passwordHistory"]) < 1:
        raise problem("must remember at least one earlier password: passwordHistory(3)",
                      example=example)
    return PasswordPolicy(" and ".join(f"{k}({v})" for k, v in parts.items()), int(length))
