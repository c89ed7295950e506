"""The guardrail policy pack on a real preview: a program that breaks every rule is stopped, each
policy naming its violation; the advisory realm-protection rule warns without blocking."""

from __future__ import annotations


import pulumi
import pulumi_keycloak as keycloak
from pulumi import automation as auto

from foundation import policy_rules as rules
from tests.e2e import harness

POLICY_PACK = str(harness.ROOT / "policy")

FIRED: set[str] = set()  # policies seen firing, recorded for `make safety-report`


def rule_breaking_program(admin: str = "admin"):
    # Never applied: the preview only checks inputs, so the provider need not reach a Keycloak.
    kc = keycloak.Provider("kc", url="http://127.0.0.1:9", client_id="admin-cli",
                           username=admin, password=pulumi.Output.secret("unused-in-preview"),
                           initial_login=False)
    opts = pulumi.ResourceOptions(provider=kc)
    realm = keycloak.Realm("realm", realm="policy-test", opts=opts)
    keycloak.openid.Client(
        "client", realm_id=realm.id, client_id="netbird-client", access_type="CONFIDENTIAL",
        valid_redirect_uris=["http://netbird.example.com/*", "*"], web_origins=["*"], opts=opts)
    # A public client and no audience mapper anywhere: NetBird's tokens would lack their audience.
    keycloak.openid.Client("public-client", realm_id=realm.id, client_id="dashboard",
                           access_type="PUBLIC", valid_redirect_uris=["https://a.example.com/*"],
                           opts=opts)
    # A literal client id keeps every input known in the preview, so the rule is judged now.
    keycloak.openid.ClientDefaultScopes("scopes", realm_id="policy-test", client_id="0000",
                                        default_scopes=["profile", "email"], opts=opts)


def preview(program, stack_name: str, project, policy_packs=(POLICY_PACK,)):
    stack = harness.stack_driver.open_stack(stack_name, project.path, program=program)
    output: list[str] = []
    try:
        stack.preview(color="never", policy_packs=list(policy_packs), on_output=output.append)
        return True, "".join(output)
    except auto.CommandError as error:
        return False, "".join(output) + str(error)


def test_every_rule_fires_on_a_real_preview(project):
    ok, text = preview(rule_breaking_program, "policy-test", project)
    assert not ok
    expected = [
        ("redirect-uris-https-or-loopback", "'http://netbird.example.com/*'"),
        ("redirect-uris-https-or-loopback", "bare wildcard '*'"),
        ("redirect-uris-https-or-loopback", "webOrigins holds '*'"),
        ("netbird-client-public", "must be a public client"),
        ("default-scopes-keep-basic", "lack 'basic'"),
        ("no-admin-named-admin", "named 'admin'"),
        ("audience-mapper-present", "no audience mapper"),
        ("realm-protected-outside-dev", "realm is not protected in stack 'policy-test'"),
    ]
    for policy, message in expected:
        assert policy in text and message in text, (policy, message)
    assert "mandatory" in text and "advisory" in text
    FIRED.update(policy for policy, _ in expected)


# A program of its own per case, run by the CLI's language host as `pulumi preview` runs one.
GUARDED_PROGRAM = """
import pulumi
import pulumi_keycloak as keycloak

from components import guardrails

guardrails.register()
kc = keycloak.Provider("kc", url="http://127.0.0.1:9", client_id="admin-cli", username={user!r},
                       password=pulumi.Output.secret("unused-in-preview"), initial_login=False)
opts = pulumi.ResourceOptions(provider=kc)
{resources}
"""


def test_the_programs_own_guardrails_stop_a_preview_without_the_pack(tmp_path):
    """No --policy-pack: the per-resource rules run inside the program (a stack transform under
    the real engine), so a plain `pulumi preview` or `up` is stopped as well, each problem
    named. The first refused resource ends the run (what depends on it is never registered),
    so each case is a program of its own."""
    def preview_of(name: str, resources: str) -> tuple[bool, str]:
        case = harness.Project(tmp_path / name, program=GUARDED_PROGRAM.format(
            user="admin" if name == "admin" else "kcadmin", resources=resources))
        return preview(None, f"inside-{name}", case, policy_packs=[])

    ok, text = preview_of("admin", "")
    assert not ok
    assert "guardrail violated by pulumi:providers:keycloak kc: [no-admin-named-admin]" in text
    ok, text = preview_of("client", (
        'keycloak.openid.Client("client", realm_id="policy-test", client_id="netbird-client", '
        'access_type="CONFIDENTIAL", valid_redirect_uris=["*"], opts=opts)'))
    assert not ok
    for rule in ("redirect-uris-https-or-loopback", "netbird-client-public"):
        assert f"guardrail violated by keycloak:openid/client:Client client: [{rule}]" in text
    assert "keycloak:openid/client:Client client is not applied: it breaks 2 guardrail(s)" in text
    ok, text = preview_of("realm", 'keycloak.Realm("realm", realm="policy-test", opts=opts)')
    assert ok, text[-3000:]  # advisory: warns, does not stop
    assert "guardrail (advisory) on keycloak:index/realm:Realm realm: " \
        "[realm-protected-outside-dev]" in text, text[-3000:]


def test_mapper_without_access_token_fires(project):
    def program():
        kc = keycloak.Provider("kc", url="http://127.0.0.1:9", client_id="admin-cli",
                               username="kcadmin",
                               password=pulumi.Output.secret("unused-in-preview"),
                               initial_login=False)
        opts = pulumi.ResourceOptions(provider=kc, protect=True)
        realm = keycloak.Realm("realm", realm="policy-mapper", opts=opts)
        scope = keycloak.openid.ClientScope("scope", realm_id=realm.id, name="aud", opts=opts)
        keycloak.openid.AudienceProtocolMapper(
            "mapper", realm_id=realm.id, client_scope_id=scope.id, name="aud",
            included_custom_audience="netbird-client", add_to_access_token=False, opts=opts)

    ok, text = preview(program, "policy-mapper", project)
    assert not ok
    assert "audience-mapper-adds-to-access-token" in text
    assert "does not add to the access token" in text
    FIRED.add("audience-mapper-adds-to-access-token")
    harness.safety_report.save("policies", {"fired": sorted(FIRED), "total": len(rules.RULES) + len(rules.STACK_RULES)})
