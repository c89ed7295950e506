"""A person logging in, scripted: a plain HTTP client that keeps cookies and follows redirects
the way a browser does, walking NetBird's embedded identity provider (Dex) to the Keycloak
connector, Keycloak's login form and back, then trading the code for NetBird's tokens as
NetBird's dashboard does (public client, PKCE). No browser engine: the pages involved are plain
HTML forms and links, which is all this reads."""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import http.cookiejar
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

# The OAuth client NetBird's dashboard is at its embedded IdP, and where it is sent back to
# (netbird_keycloak/local_netbird.py configures that as the dashboard's redirect URI).
DASHBOARD_CLIENT = "netbird-dashboard"
MAX_HOPS = 20


class LoginFailed(AssertionError):
    pass


class _LoopbackCookies(http.cookiejar.DefaultCookiePolicy):
    """Browsers send Secure cookies to http://localhost and 127.0.0.1 (a secure context);
    Keycloak relies on that when it runs over plain HTTP on loopback."""

    def return_ok_secure(self, cookie, request):
        host = urllib.parse.urlsplit(request.get_full_url()).hostname
        return host in ("localhost", "127.0.0.1") or super().return_ok_secure(cookie, request)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Page:
    url: str
    status: int
    text: str
    location: str = ""


@dataclass
class Browser:
    jar: http.cookiejar.CookieJar = field(
        default_factory=lambda: http.cookiejar.CookieJar(_LoopbackCookies()))

    def __post_init__(self):
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects())

    def _fetch(self, url: str, form: dict | None = None) -> Page:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data)
        try:
            with self._opener.open(request, timeout=30) as response:
                return Page(url, response.status, response.read().decode(errors="replace"))
        except urllib.error.HTTPError as answer:
            return Page(url, answer.code, answer.read().decode(errors="replace"),
                        urllib.parse.urljoin(url, answer.headers.get("Location") or ""))

    def go(self, url: str, form: dict | None = None, stop_at: str = "") -> Page:
        """The page at the end of the redirects from `url` (a POST of `form` first), or the
        redirect whose target starts with `stop_at` (an app's redirect URI, not served here)."""
        page = self._fetch(url, form)
        for _ in range(MAX_HOPS):
            if not page.location or (stop_at and page.location.startswith(stop_at)):
                return page
            page = self._fetch(page.location)
        raise LoginFailed(f"more than {MAX_HOPS} redirects from {url}")


class _Forms(html.parser.HTMLParser):
    """Each <form>'s action and its inputs' names and values."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict[str, tuple[str, str]]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append((attrs.get("action") or "", {}))
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1][1][attrs["name"]] = (attrs.get("type") or "text",
                                                attrs.get("value") or "")


def _sign_in(browser: "Browser", page: Page, username: str, password: str,
             stop_at: str) -> Page:
    """Fills and sends the page's sign-in form (the one with a password field: Keycloak's
    `username`, Dex's `login`), keeping its hidden fields, as a person would."""
    parser = _Forms()
    parser.feed(page.text)
    for action, inputs in parser.forms:
        kinds = {name: kind for name, (kind, _) in inputs.items()}
        if "password" not in kinds.values():
            continue
        form = {name: value for name, (kind, value) in inputs.items()
                if kind not in ("checkbox", "submit")}
        [login] = [n for n, kind in kinds.items() if kind in ("text", "email")]
        [secret] = [n for n, kind in kinds.items() if kind == "password"]
        form.update({login: username, secret: password})
        return browser.go(urllib.parse.urljoin(page.url, action), form, stop_at=stop_at)
    raise LoginFailed(f"{page.url} ({page.status}) has no sign-in form:\n{page.text[:2000]}")


def _link(page: Page, pattern: str) -> str:
    found = re.search(pattern, page.text)
    if not found:
        raise LoginFailed(f"{page.url} ({page.status}) has no link matching {pattern}:\n"
                          f"{page.text[:2000]}")
    return urllib.parse.urljoin(page.url, html.unescape(found[1]))


def login_through_netbird(netbird_url: str, provider_id: str, username: str,
                          password: str) -> dict:
    """NetBird's tokens (id, access) for a person who logs in through NetBird's embedded IdP
    with the identity provider `provider_id` (a Keycloak connector's id, or `local` for NetBird's
    own users); LoginFailed with the page where it stopped otherwise."""
    issuer = f"{netbird_url}/oauth2"
    redirect_uri = f"{netbird_url}/nb-auth"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    browser = Browser()
    start = f"{issuer}/auth?" + urllib.parse.urlencode({
        "client_id": DASHBOARD_CLIENT, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": "openid profile email groups", "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    # NetBird's login page: one link per identity provider, /oauth2/auth/<provider id>?…
    chooser = browser.go(start)
    # With one identity provider only, NetBird goes straight to it.
    there = re.search(rf"/auth/{re.escape(provider_id)}[/?]", chooser.url)
    connector = chooser.url if there else \
        _link(chooser, rf'href="([^"]*/auth/{re.escape(provider_id)}\?[^"]*)"')
    # Through the connector to its sign-in form (Keycloak's), and back through NetBird's
    # callback to the dashboard with a code.
    back = _sign_in(browser, browser.go(connector), username, password, stop_at=redirect_uri)
    if not back.location.startswith(redirect_uri):
        raise LoginFailed(f"the login did not come back to {redirect_uri}: stopped at "
                          f"{back.url} ({back.status}):\n{back.text[:2000]}")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(back.location).query)
    if query.get("state") != [state] or "code" not in query:
        raise LoginFailed(f"came back without a code for our state: {back.location}")
    tokens = browser._fetch(f"{issuer}/token", {
        "grant_type": "authorization_code", "code": query["code"][0],
        "redirect_uri": redirect_uri, "client_id": DASHBOARD_CLIENT, "code_verifier": verifier})
    if tokens.status != 200:
        raise LoginFailed(f"NetBird's token endpoint: {tokens.status} {tokens.text}")
    return json.loads(tokens.text)
