"""The scripted login's own parts (tests/fixtures/browser_login.py), without a server: which
form it fills and with what, and which cookies it sends where."""

import email.message
import http.cookiejar
import urllib.request

from tests.fixtures import browser_login
from tests.fixtures.browser_login import Page

KEYCLOAK_FORM = """<form id="kc-form-login" action="/realms/r/login-actions/authenticate?code=a&amp;x=1"
 method="post"><input id="username" name="username" type="text" autocomplete="username">
<input id="password" name="password" type="password"><input type="checkbox" name="rememberMe">
<input type="hidden" id="id-hidden-input" name="credentialId"></form>"""
NETBIRD_FORM = """<form method="get" action="/search"><input name="q"></form>
<form method="post" action="/oauth2/auth/local/login?back=&amp;state=s1">
<input type="text" id="login" name="login"><input type="password" id="password" name="password">
<button type="submit">Sign in</button></form>"""


class MockBrowser:
    """A mock of Browser's HTTP side: records what would be sent."""

    def __init__(self):
        self.sent = []

    def go(self, url, form=None, stop_at=""):
        self.sent.append((url, form))
        return Page(url, 200, "")


def test_keycloaks_form_gets_username_and_password_and_keeps_its_hidden_field():
    browser = MockBrowser()
    browser_login._sign_in(browser, Page("http://kc:8080/realms/r/protocol/openid-connect/auth",
                                         200, KEYCLOAK_FORM), "ada", "pw", stop_at="")
    [(url, form)] = browser.sent
    assert url == "http://kc:8080/realms/r/login-actions/authenticate?code=a&x=1"
    assert form == {"username": "ada", "password": "pw", "credentialId": ""}


def test_netbirds_own_form_is_the_one_with_a_password_field():
    browser = MockBrowser()
    browser_login._sign_in(browser, Page("http://nb/oauth2/auth/local/login?back=", 200,
                                         NETBIRD_FORM), "owner@x", "pw", stop_at="")
    [(url, form)] = browser.sent
    assert url == "http://nb/oauth2/auth/local/login?back=&state=s1"
    assert form == {"login": "owner@x", "password": "pw"}


class Answer:
    """What the cookie jar reads of an HTTP answer: its headers."""

    def __init__(self, set_cookie: str):
        self._headers = email.message.Message()
        self._headers["Set-Cookie"] = set_cookie

    def info(self):
        return self._headers


def secure_cookie_sent_to(url: str) -> bool:
    """Whether a Secure cookie that `url` set is sent back to it."""
    jar = http.cookiejar.CookieJar(browser_login._LoopbackCookies())
    jar.extract_cookies(Answer("KC_SESSION=v; Path=/; Secure; HttpOnly"),
                        urllib.request.Request(url))
    assert len(jar) == 1
    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    return "KC_SESSION" in (request.get_header("Cookie") or "")


def test_secure_cookies_go_to_loopback_over_http_as_browsers_send_them_and_nowhere_else():
    assert secure_cookie_sent_to("http://127.0.0.1:18080/realms/r")
    assert secure_cookie_sent_to("http://localhost:18080/realms/r")
    assert not secure_cookie_sent_to("http://auth.example.com/realms/r")
    assert secure_cookie_sent_to("https://auth.example.com/realms/r")
