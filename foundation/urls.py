"""The one rule for a URL that credentials travel to, used by the settings checks and by every
command that sends a password or secret: https://, or http:// only to this machine's loopback."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    return host == "localhost" or host == "::1" or re.fullmatch(r"127(\.\d{1,3}){3}", host) \
        is not None


def carries_credentials(url: str) -> bool:
    """Whether credentials may be sent to `url`: https://, or http:// to a loopback host. The
    scheme is compared as URLs compare it, without regard to case (`HTTP://` is http://)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and
                                       is_loopback(parts.hostname or ""))


def refusal(url: str, what: str) -> str | None:
    """Why `url` may not receive `what` (None: it may)."""
    if carries_credentials(url):
        return None
    return (f"{url!r} is not https://: {what} would travel in the clear (http:// only to this "
            "machine's loopback)")
