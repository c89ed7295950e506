"""Fleet stack selection and the cross-stack ownership check (pure; no Pulumi)."""

import pytest
import yaml

from netbird_keycloak import fleet
from netbird_keycloak.fleet import ownership_conflicts, select, stack_files


def write(folder, name, config):
    (folder / "stacks").mkdir(exist_ok=True)
    (folder / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))


# A secret as a stack file holds it: encrypted (the fleet never decrypts it).
SECRET = {"secure": "v1:c2FsdHNhbHQ=:v1:bm9uY2Vub25jZQ==:Y2lwaGVydGV4dGNpcGhlcnRleHQ="}


def shared(realm):
    return {"keycloak:deploy": "false", "keycloak:url": "https://auth.example.com",
            "keycloak:adminClientId": f"netbird-{realm}", "keycloak:adminClientSecret": SECRET,
            "netbird:realm": realm, "netbird:domain": f"{realm}.example.com"}


def dedicated(name, **config):
    return {"netbird:domain": f"netbird.{name}.example.com", **config}


def test_two_stacks_claiming_one_realm_on_one_keycloak_are_refused(tmp_path):
    write(tmp_path, "acme", shared("acme"))
    write(tmp_path, "acme-copy", shared("acme"))
    write(tmp_path, "globex", shared("globex"))
    files = stack_files(tmp_path)
    conflicts = ownership_conflicts(files, list(files))
    assert set(conflicts) == {"acme", "acme-copy"}
    assert "also claimed by stack acme-copy" in conflicts["acme"]


def test_same_realm_name_on_different_keycloaks_is_fine(tmp_path):
    write(tmp_path, "a", shared("netbird"))
    write(tmp_path, "b", dict(shared("netbird"), **{"keycloak:url": "https://other.example.com"}))
    files = stack_files(tmp_path)
    assert ownership_conflicts(files, list(files)) == {}


def test_dedicated_keycloaks_may_not_share_a_port_or_container(tmp_path):
    write(tmp_path, "a", dedicated("a", **{"keycloak:httpPort": "8081",
                                           "keycloak:managementPort": "9081"}))
    write(tmp_path, "b", dedicated("b", **{"keycloak:httpPort": "8081",
                                           "keycloak:managementPort": "9082"}))
    write(tmp_path, "c", dedicated("c", **{"keycloak:httpPort": "8083",
                                           "keycloak:managementPort": "9083"}))
    files = stack_files(tmp_path)
    conflicts = ownership_conflicts(files, list(files))
    assert set(conflicts) == {"a", "b"}
    assert conflicts["a"] == ("port 8081 on the local Docker engine is also claimed by stack b")


def test_the_names_and_ports_come_from_the_settings_defaults(tmp_path):
    """Two stacks that set no port both take the defaults (8080, 9000); their container and
    volume names differ (keycloak-<stack>), and a chosen volume name is a claim too, the
    Postgres volume and port included."""
    write(tmp_path, "a", dedicated("a"))
    write(tmp_path, "b", dedicated("b"))
    assert ownership_conflicts(stack_files(tmp_path), ["a"]) == {
        "a": "port 8080 on the local Docker engine is also claimed by stack b"}
    postgres = {"keycloak:database": "postgres", "keycloak:networkMode": "host",
                "keycloak:databaseVolumeName": "pg-data", "keycloak:databasePort": "5433"}
    write(tmp_path, "a", dedicated("a", **{"keycloak:httpPort": "8081",
                                           "keycloak:managementPort": "9081", **postgres}))
    write(tmp_path, "b", dedicated("b", **{"keycloak:httpPort": "8082",
                                           "keycloak:managementPort": "9082", **postgres}))
    conflict = ownership_conflicts(stack_files(tmp_path), ["a", "b"])["a"]
    assert conflict in ("volume pg-data on the local Docker engine is also claimed by stack b",
                        "port 5433 on the local Docker engine is also claimed by stack b")


def test_the_same_port_on_different_docker_hosts_is_fine(tmp_path):
    write(tmp_path, "a", dedicated("a", **{"docker:host": "ssh://deploy@a.example.com"}))
    write(tmp_path, "b", dedicated("b", **{"docker:host": "ssh://deploy@b.example.com"}))
    assert ownership_conflicts(stack_files(tmp_path), ["a", "b"]) == {}


def test_selection_by_list_glob_and_all(tmp_path):
    for name in ("cust-a", "cust-b", "dev"):
        write(tmp_path, name, {})
    files = stack_files(tmp_path)
    assert select(files, None, None, True) == ["cust-a", "cust-b", "dev"]
    assert select(files, None, "cust-*", False) == ["cust-a", "cust-b"]
    assert select(files, "dev,cust-b", None, False) == ["dev", "cust-b"]
    with pytest.raises(SystemExit, match="Pulumi.nope.yaml"):
        select(files, "nope", None, False)


def test_a_stack_that_hangs_is_interrupted_then_killed_and_reported(monkeypatch):
    import subprocess
    import time

    from netbird_keycloak import fleet
    monkeypatch.setattr(fleet, "STOP_GRACE", 1)
    quick = subprocess.Popen(["true"], start_new_session=True)
    assert fleet.wait_or_stop(quick, 10) == 0
    # Ctrl-C ends a Pulumi run; one that ignores it is killed after the grace period.
    for script in ("sleep 30", "trap '' INT; sleep 30"):
        started = time.monotonic()
        hung = subprocess.Popen(["sh", "-c", script], start_new_session=True)
        assert fleet.wait_or_stop(hung, 0.5) is None
        assert hung.poll() is not None and time.monotonic() - started < 10


def test_a_stopped_stack_leaves_no_plugin_running(monkeypatch):
    """The engine starts each plugin in a process group of its own: killing the stack's group
    left them running, still changing Keycloak. Everything in the stack's session goes."""
    import subprocess
    import sys
    import time

    from netbird_keycloak import interrupted
    monkeypatch.setattr(fleet, "STOP_GRACE", 1)
    monkeypatch.setattr(interrupted, "PLUGIN_GRACE", 1)
    plugin = ("import signal, subprocess, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
              "subprocess.Popen(['sleep', '60'], process_group=0); time.sleep(60)")
    hung = subprocess.Popen([sys.executable, "-c", plugin], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(interrupted.in_session(hung.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "sleep" in interrupted.in_session(hung.pid).values()
    assert fleet.wait_or_stop(hung, 0.5) is None
    assert interrupted.in_session(hung.pid) == {}


def test_a_shared_keycloak_customer_needs_the_admin_password_once_and_writes_nothing_without_it(
        tmp_path, monkeypatch):
    monkeypatch.delenv("KC_NOT_SET", raising=False)
    (tmp_path / "stacks").mkdir()
    with pytest.raises(SystemExit) as refused:
        fleet.main(["new", "acme", "--domain", "netbird.acme.example", "--keycloak-url",
                    "https://auth.example.com", "--admin-password-env", "KC_NOT_SET",
                    "--work-dir", str(tmp_path)])
    assert "--admin-password-env" in str(refused.value) and "Nothing was written" in \
        str(refused.value)
    assert list((tmp_path / "stacks").iterdir()) == []


def test_a_refused_keycloak_login_writes_nothing(tmp_path, monkeypatch):
    """A Keycloak that does not answer (nothing listens on port 9): a clear error, no file."""
    monkeypatch.setenv("KC_ADMIN_PASSWORD", "not-checked-here")
    (tmp_path / "stacks").mkdir()
    with pytest.raises(SystemExit) as refused:
        fleet.main(["new", "acme", "--domain", "netbird.acme.example", "--keycloak-url",
                    "http://127.0.0.1:9", "--admin-password-env", "KC_ADMIN_PASSWORD",
                    "--work-dir", str(tmp_path)])
    assert "cannot log in to http://127.0.0.1:9 as 'kcadmin'" in str(refused.value)
    assert list((tmp_path / "stacks").iterdir()) == []


def test_a_stack_runs_in_a_process_forked_from_the_server_its_output_in_a_private_log(tmp_path):
    """What `fleet` starts per stack: netbird_keycloak.stack's run in a forked process, exit code
    and output as `python -m netbird_keycloak.stack` would give them (no stack file here)."""
    import os

    from netbird_keycloak import fleet
    (tmp_path / "stacks").mkdir()
    log = tmp_path / "up.log"
    forked = fleet.StackProcess(["up", "--stack", "nope", "--work-dir", str(tmp_path),
                                 "--out", str(tmp_path / "out")], log)
    assert forked.wait(timeout=60) == 1
    assert "stack 'nope' has no stack file" in log.read_text()
    assert os.stat(log).st_mode & 0o777 == 0o600


def test_ctrl_c_reaches_every_running_stack_and_none_starts_after_it(tmp_path):
    """Each stack runs in a session of its own, out of the terminal's reach: the fleet passes
    Ctrl-C on to each running one, and starts no other."""
    import subprocess

    from netbird_keycloak import fleet
    running = subprocess.Popen(["sleep", "30"], start_new_session=True)
    fleet.RUNNING.add(running.pid)
    try:
        fleet.interrupt_running()
        assert running.wait(timeout=10) == -2  # SIGINT
        with pytest.raises(fleet.FleetInterrupted):
            fleet.StackProcess(["up", "--stack", "late"], tmp_path / "late.log")
        assert not (tmp_path / "late.log").exists()
    finally:
        fleet.RUNNING.discard(running.pid)
        fleet.STOPPING.clear()
        running.kill()


def test_new_customers_get_ports_no_stack_file_claims_and_nothing_here_holds(tmp_path):
    """`fleet new` without ports: the first of Keycloak's defaults upwards that no stack file
    claims (the dev stack's included) and that nothing on this machine listens on."""
    import socket

    write(tmp_path, "dev", dedicated("dev", **{"keycloak:httpPort": "8080",
                                               "keycloak:managementPort": "9080"}))
    write(tmp_path, "acme", dedicated("acme", **{"keycloak:httpPort": "8081",
                                                 "keycloak:managementPort": "9000"}))
    claimed = fleet.claimed_ports(stack_files(tmp_path))
    assert claimed == {8080, 9080, 8081, 9000}
    with socket.socket() as held:  # something of this machine's on the next candidate
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        held.listen()
        candidates = range(port - 1, port + 2)
        assert fleet.free_port(candidates, {port - 1}) == port + 1
    assert fleet.free_port(fleet.HTTP_PORTS, claimed) not in claimed
    with pytest.raises(SystemExit, match="--http-port and --management-port"):
        fleet.free_port(range(8080, 8082), claimed)


@pytest.mark.parametrize("url", ["http://auth.example.com", "HTTP://auth.example.com"])
def test_a_shared_keycloak_is_reached_over_https_only(tmp_path, monkeypatch, url):
    """`fleet new --keycloak-url` sends the shared Keycloak's administrator password: refused
    over plain http before it is read or anything is written."""
    monkeypatch.setenv("SHARED_ADMIN_PASSWORD", "not-read")
    (tmp_path / "stacks").mkdir()
    with pytest.raises(SystemExit, match="in the clear.*Nothing was written"):
        fleet.main(["new", "acme", "--domain", "netbird.acme.example", "--keycloak-url", url,
                    "--admin-password-env", "SHARED_ADMIN_PASSWORD", "--work-dir", str(tmp_path)])
    assert list((tmp_path / "stacks").iterdir()) == []


def test_a_new_customer_runs_keycloak_as_the_stack_it_is_like(tmp_path):
    """On an engine without a default bridge, or offline, the dev stack's image and network mode
    are what work here; its ports, names and domain are its own and are not taken."""
    write(tmp_path, "dev", dedicated("dev", **{
        "keycloak:image": "netbird-keycloak/keycloak:26.7.3", "keycloak:networkMode": "host",
        "keycloak:httpPort": "8080", "keycloak:containerName": "keycloak-dev"}))
    assert fleet.like(tmp_path, "dev") == {"keycloak:image": "netbird-keycloak/keycloak:26.7.3",
                                           "keycloak:networkMode": "host"}
    assert fleet.like(tmp_path, "missing") == {}
