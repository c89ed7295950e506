"""The failure report of netbird_keycloak/stack.py after a failed `up`, over a mock stack and mock engine
events (no Pulumi CLI): what failed and why, then what a preview says is still to do."""

from types import SimpleNamespace

from pulumi import automation as auto

from netbird_keycloak.stack import not_applied

URN = "urn:pulumi:acme::netbird-keycloak::netbird:index:NetBirdRealm$"


def diagnostic(urn, message, severity="error"):
    return SimpleNamespace(diagnostic_event=SimpleNamespace(urn=urn, message=message,
                                                            severity=severity),
                           resource_pre_event=None)


def step(op, type_, name):
    metadata = SimpleNamespace(op=SimpleNamespace(value=op), type=type_,
                               urn=f"{URN}{type_}::{name}")
    return SimpleNamespace(diagnostic_event=None,
                           resource_pre_event=SimpleNamespace(metadata=metadata))


class MockStack:
    def __init__(self, planned=None, preview_error=None):
        self.planned, self.preview_error = planned or [], preview_error

    def preview(self, on_event, color):
        if self.preview_error:
            raise auto.CommandError(self.preview_error)
        for event in self.planned:
            on_event(event)


FAILED = [
    diagnostic(f"{URN}keycloak:index/realm:Realm::netbird-realm",
               "1 error occurred:\n\t* keycloak provider: GET http://kc/admin/realms/netbird: "
               "<urlopen error [Errno 111] Connection refused>\n"),
    diagnostic(f"{URN}keycloak:index/user:User::netbird", "just a warning", "warning"),
    diagnostic("urn:pulumi:acme::netbird-keycloak::pulumi:pulumi:Stack::x", "update failed"),
]


def test_failures_then_what_is_still_to_do():
    stack = MockStack(planned=[
        step("same", "pulumi:providers:keycloak", "keycloak"),
        step("update", "keycloak:index/realm:Realm", "netbird-realm"),
        step("create", "keycloak:index/user:User", "netbird"),
    ])
    assert not_applied(lambda: stack, FAILED) == [
        "failed keycloak:index/realm:Realm netbird-realm: keycloak provider: GET "
        "http://kc/admin/realms/netbird: <urlopen error [Errno 111] Connection refused>",
        "to do: update keycloak:index/realm:Realm netbird-realm",
        "to do: create keycloak:index/user:User netbird",
    ]


def test_a_preview_that_cannot_run_is_said_so_with_its_cause():
    stack = MockStack(preview_error=(
        "\n code: 255\n stdout: \n stderr: error: invoke of keycloak:openid/getClient:getClient "
        "failed: returned an error: keycloak provider: POST http://kc/token: Connection refused"))
    lines = not_applied(lambda: stack, FAILED)
    assert lines[0].startswith("failed keycloak:index/realm:Realm netbird-realm:")
    assert lines[1] == ("(the rest shows in `make preview` once this preview error is gone: "
                        "keycloak provider: POST http://kc/token: Connection refused)")


def test_nothing_to_report_when_no_resource_failed():
    """Bad settings or a policy stop `up` before any resource: their message is the report."""
    stack = MockStack(preview_error="must not be called")
    assert not_applied(lambda: stack, FAILED[1:]) == []
