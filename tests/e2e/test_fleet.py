"""The fleet command, end to end: three customer stacks on one shared (native) Keycloak, one of
them with bad settings; then idempotence, a preview rendered as Markdown, and cleanup."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from tests.e2e import harness

FLEET = [sys.executable, "-m", "netbird_keycloak.fleet"]


def fleet(*args, project, out, env=None):
    return subprocess.run([*FLEET, *args, "--work-dir", str(project.path), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)


def edit(project, stack, **changes):
    path = project.path / "stacks" / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"].update({k.replace("__", ":"): v for k, v in changes.items()})
    path.write_text(yaml.safe_dump(data))


def summary(out, stack, command="up"):
    return json.loads((out / stack / f"{command}.summary.json").read_text())


@pytest.fixture(scope="module")
def customers(project, native_keycloak, tmp_path_factory):
    keycloak = native_keycloak.wait_ready()
    out = tmp_path_factory.mktemp("fleet-out")
    env = dict(os.environ, KC_ADMIN_PASSWORD=keycloak.admin_password)
    for name in ("cust-a", "cust-b", "cust-bad"):
        new = subprocess.run([*FLEET, "new", name, "--domain", f"netbird.{name}.test",
                              "--keycloak-url", keycloak.url, "--admin-user", "kcadmin",
                              "--admin-password-env", "KC_ADMIN_PASSWORD",
                              "--work-dir", str(project.path)],
                             capture_output=True, text=True, env=env)
        assert new.returncode == 0, new.stdout + new.stderr
    edit(project, "cust-bad", netbird__domain="https://netbird.cust-bad.test/")
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    yield project, out, admin
    for name in ("cust-a", "cust-b"):
        edit(project, name, netbird__protectRealm="false")
    fleet("up", "--stacks", "cust-a,cust-b", project=project, out=out)
    # Each customer's own account may delete the realm it created, and only that one.
    destroyed = fleet("destroy", "--stacks", "cust-a,cust-b", project=project, out=out)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert admin("GET", "/cust-a")[0] == 404 and admin("GET", "/cust-b")[0] == 404


def test_new_customer_stack_holds_only_encrypted_secrets(customers):
    project, _, _ = customers
    text = (project.path / "stacks" / "Pulumi.cust-a.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    # No shared admin password: the customer's own service account, its secret encrypted; the
    # user's password is the program's to generate, in the state.
    assert "keycloak:adminPassword" not in config and "keycloak:adminUser" not in config
    assert config["keycloak:adminClientId"] == "netbird-keycloak-cust-a"
    assert set(config["keycloak:adminClientSecret"]) == {"secure"}
    assert "netbird:userPassword" not in config
    assert config["netbird:realm"] == "cust-a"


def test_one_bad_customer_fails_alone(customers):
    project, out, admin = customers
    run = fleet("up", "--stacks", "cust-a,cust-b,cust-bad", "--parallel", "3",
                project=project, out=out)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 of 3 stacks failed: cust-bad" in run.stdout
    for good in ("cust-a", "cust-b"):
        result = summary(out, good)
        assert (result["result"], result["changes"]) == ("succeeded", {"create": 15})
        assert admin("GET", f"/{good}")[0] == 200
        env_file = out / good / "setup.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert 'NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT="' in env_file.read_text()
    bad = summary(out, "cust-bad")
    assert bad["result"] == "failed"
    assert bad["error"].startswith("netbird:domain: must be a bare host name")
    assert admin("GET", "/cust-bad")[0] == 404


def test_each_customer_administers_its_own_realm_only(customers):
    """Least privilege on a shared Keycloak: cust-a's credentials created and administer realm
    cust-a, and are refused on cust-b's realm and on the master realm's accounts."""
    project, _, admin = customers
    stack = harness.stack_driver.open_stack("cust-a", project.path, program=None)
    own = harness.KeycloakAdmin(admin.base, client_id="netbird-keycloak-cust-a",
                                client_secret=harness.secret(stack,
                                                             "keycloak:adminClientSecret"))
    assert own("GET", "/cust-a")[0] == 200
    assert own("GET", "/cust-a/users?username=netbird&exact=true")[0] == 200
    # Another realm: its name only (Keycloak lists realm names to any admin role holder),
    # neither its settings nor anything in it.
    status, seen = own("GET", "/cust-b")
    assert status == 403 or not {"passwordPolicy", "attributes", "enabled"} & set(seen), seen
    assert own("GET", "/cust-b/users")[0] == 403
    assert own("GET", "/cust-b/clients")[0] == 403
    assert own("PUT", "/cust-b", {"sslRequired": "none"})[0] == 403
    assert own("DELETE", "/cust-b")[0] == 403
    assert own("POST", "/cust-b/users", {"username": "intruder", "enabled": True})[0] == 403
    assert own("GET", "/master/users")[0] == 403
    assert own("GET", "/master/clients")[0] == 403
    assert own("POST", "/master/users", {"username": "intruder", "enabled": True})[0] == 403
    roles = admin.get("/master/users?username=service-account-netbird-keycloak-cust-a")
    mapped = admin.get(f"/master/users/{roles[0]['id']}/role-mappings/realm")
    assert "admin" not in {r["name"] for r in mapped}
    harness.record_hardening("a customer's account: 403 on other realms and the master realm's "
                             "accounts")


def test_second_fleet_up_changes_nothing(customers):
    project, out, _ = customers
    run = fleet("up", "--stacks", "cust-a,cust-b", project=project, out=out)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [summary(out, s)["changes"] for s in ("cust-a", "cust-b")] == [{}, {}]


def test_preview_markdown_names_exactly_the_changed_field(customers):
    project, out, _ = customers
    edit(project, "cust-a", netbird__pkcePorts="[53000, 54000]")
    try:
        run = subprocess.run([sys.executable, "-m", "netbird_keycloak.preview_md",
                              "--stack", "cust-a", "--work-dir", str(project.path),
                              "--out", str(out)], capture_output=True, text=True)
    finally:
        edit(project, "cust-a", netbird__pkcePorts="[53000]")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| `")]
    assert rows == ["| `netbird-client` | `keycloak:openid/client:Client` | update | "
                    '`validRedirectUris`: ["https://netbird.cust-a.test/*", '
                    '"http://localhost:53000"] → ["https://netbird.cust-a.test/*", '
                    '"http://localhost:53000", "http://localhost:54000"] |']
    assert "1 to update" in run.stdout


def test_two_stacks_may_not_claim_one_realm(customers):
    project, out, _ = customers
    source = project.path / "stacks" / "Pulumi.cust-a.yaml"
    clone = project.path / "stacks" / "Pulumi.cust-a-clone.yaml"
    clone.write_text(source.read_text())
    try:
        run = fleet("preview", "--stacks", "cust-a-clone", project=project, out=out)
    finally:
        clone.unlink()
    assert run.returncode == 1
    assert "also claimed by stack cust-a" in run.stdout


def test_realm_rename_of_a_protected_stack_is_refused_and_loses_nothing(customers):
    project, out, admin = customers
    edit(project, "cust-b", netbird__realm="cust-b-renamed")
    try:
        run = fleet("up", "--stacks", "cust-b", project=project, out=out)
    finally:
        edit(project, "cust-b", netbird__realm="cust-b")
    assert run.returncode == 1
    assert "a realm rename is a delete and a create" in summary(out, "cust-b")["error"]
    assert admin("GET", "/cust-b")[0] == 200
    assert len(admin.get("/cust-b/users?username=netbird&exact=true")) == 1
    assert len(admin.get("/cust-b/clients?clientId=netbird-client")) == 1
    assert admin("GET", "/cust-b-renamed")[0] == 404


def test_ctrl_c_stops_every_running_stack_and_the_next_fleet_up_finishes(native_keycloak,
                                                                         tmp_path):
    """Ctrl-C in the terminal (SIGINT to the fleet's process group) the moment Keycloak created
    the first realm: each stack's run is in a session of its own, so the fleet passes Ctrl-C on;
    it exits 130 once every run has stopped, nothing of it keeps running, and the next `fleet
    up` (no unlock) finishes both stacks."""
    import signal

    keycloak = native_keycloak.wait_ready()
    proxy = harness.SignallingProxy(
        int(keycloak.url.rsplit(":", 1)[1]),
        lambda method, path, body: "realm" if method == "POST" and path == "/admin/realms"
        else None, signal.SIGINT)
    project = harness.Project(tmp_path / "project")
    names = ("ctrlc-a", "ctrlc-b")
    for name in names:
        project.on_keycloak(name, keycloak, {"keycloak:url": proxy.url})
    command = [sys.executable, "-m", "netbird_keycloak.cli", "fleet", "up", "--stacks",
               ",".join(names), "--parallel", "2", "--work-dir", str(project.path),
               "--out", str(tmp_path / "out")]
    admin = harness.KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    try:
        proxy.when = "after"
        proxy.victim = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        start_new_session=True,
                                        preexec_fn=harness.ctrl_c_reaches)
        out, err = proxy.victim.communicate(timeout=600)
        assert proxy.sent, "the fleet ended before a realm was created: " + (out + err)[-3000:]
        assert proxy.victim.returncode == 130, (out + err)[-3000:]
        assert "interrupted" in err, err[-3000:]
        assert harness.working_in(project.path) == [], "the interrupted fleet left processes"
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        for name in names:
            assert admin("GET", f"/{name}-netbird")[0] == 200
    finally:
        subprocess.run([*command[:4], "destroy", *command[5:]], capture_output=True,
                       timeout=600)
        proxy.close()
