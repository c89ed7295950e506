"""Existing-Keycloak mode, end to end, against a natively started Keycloak (no Docker): the
program configures a Keycloak it does not run, NetBird's checks pass, and destroy removes only
this stack's realm. Tests run in order on one stack."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e import harness


@pytest.fixture(scope="module")
def existing(project, native_keycloak):
    keycloak = native_keycloak.wait_ready()
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    # A realm that is not ours: destroy must leave it alone.
    status, _ = admin("POST", "", {"realm": "bystander", "enabled": True})
    assert status == 201
    stack = project.stack("existing", {
        "netbird:domain": "netbird.customer.test",
        "netbird:protectRealm": "false",
        "netbird:realm": "customer-netbird",
        "keycloak:deploy": "false",
        "keycloak:url": keycloak.url,
        "keycloak:adminUser": keycloak.admin_user,
    })
    stack.set_config("keycloak:adminPassword",
                     harness.stack_driver.auto.ConfigValue(keycloak.admin_password, secret=True))
    up = stack.up(color="never")
    outputs = {k: v.value for k, v in stack.outputs().items()}
    yield stack, admin, up, outputs, harness.secret(stack, "netbird:userPassword")
    if stack.export_stack().deployment.get("resources"):
        stack.destroy(color="never")


def test_up_configures_the_existing_keycloak_without_docker(existing):
    stack, admin, up, outputs, _ = existing
    created = harness.changes(up)
    # 9 Keycloak objects, the user's password's stash, the keycloak provider, 3 components and
    # the stack; no Docker at all, and no resource for the password until it changes.
    assert created == {"create": 15}
    types = {r["type"] for r in stack.export_stack().deployment["resources"]}
    assert not [t for t in types if t.startswith(("docker:", "pulumi:providers:docker"))]
    assert admin.get("/customer-netbird")["realm"] == "customer-netbird"


def test_netbird_checks_pass(existing):
    _, _, _, outputs, password = existing
    checks = harness.verify.run_checks(outputs, password)
    assert [c.ok for c in checks] == [True, True, True, True], [c.line() for c in checks]
    assert outputs["issuer_url"].endswith("/realms/customer-netbird")


def test_pulumi_cli_preview_in_a_shell_sees_no_changes(existing):
    """What an operator types: `pulumi preview` run by the CLI with the Python language host."""
    stack, _, _, _, _ = existing
    run = subprocess.run(["pulumi", "preview", "--stack", stack.name, "--expect-no-changes",
                          "--non-interactive"], cwd=stack.workspace.work_dir,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "15 unchanged" in run.stdout


def test_pulumi_up_typed_in_a_shell_runs_the_real_host_and_the_policy_pack(project,
                                                                          native_keycloak):
    """What an operator types after `eval "$(make -s pulumi-env)"`: `pulumi up` with the
    guardrails, then `pulumi preview`, through the CLI and its real Python language host."""
    keycloak = native_keycloak.wait_ready()
    stack = project.stack("typed", {
        "netbird:domain": "netbird.typed.test", "netbird:protectRealm": "false",
        "netbird:realm": "typed-netbird", "keycloak:deploy": "false",
        "keycloak:url": keycloak.url, "keycloak:adminUser": keycloak.admin_user,
    })
    stack.set_config("keycloak:adminPassword",
                     harness.stack_driver.auto.ConfigValue(keycloak.admin_password, secret=True))

    typed = project.typed
    up = typed(f"pulumi up --yes --non-interactive --stack typed "
               f"--policy-pack {harness.ROOT / 'policy'}")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "netbird-keycloak-guardrails" in up.stdout  # the pack ran on the real host
        assert "15 created" in up.stdout, up.stdout
        for run in (up, typed("pulumi preview --non-interactive --expect-no-changes "
                              "--stack typed")):
            assert run.returncode == 0, run.stdout + run.stderr
            assert "from $PATH" not in run.stdout + run.stderr  # no stand-in, no ambient host
        admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
        client, = admin.get("/typed-netbird/clients?clientId=netbird-client")
        assert client["publicClient"] is True
    finally:
        down = typed("pulumi destroy --yes --non-interactive --stack typed")
        assert down.returncode == 0, down.stdout + down.stderr


def test_state_from_an_older_run_is_reconciled_by_refresh(existing):
    stack, admin, _, _, _ = existing
    older = stack.export_stack()
    stack.set_config("netbird:pkcePorts", harness.stack_driver.auto.ConfigValue("[53000, 54000]"))
    try:
        stack.up(color="never")
        stack.import_stack(older)  # the state now lags behind Keycloak by one redirect URI
        assert harness.changes(stack.preview(color="never")) == {"update": 1}
        stack.refresh(color="never")
        assert harness.changes(stack.preview(color="never")) == {}
    finally:
        stack.remove_config("netbird:pkcePorts")
        stack.up(color="never")
    client, = admin.get("/customer-netbird/clients?clientId=netbird-client")
    assert "http://localhost:54000" not in client["redirectUris"]
    harness.record_fault("older state file reconciled by refresh")


def test_destroy_removes_only_this_stacks_realm(existing):
    stack, admin, _, _, _ = existing
    stack.destroy(color="never")
    assert admin("GET", "/customer-netbird")[0] == 404
    assert admin("GET", "/bystander")[0] == 200
    assert admin("GET", "/master")[0] == 200
