"""Faults: an unreachable Docker engine stops the deploy with a clear error before anything in
Keycloak or Docker changes."""

from tests.e2e import harness


def test_unreachable_docker_engine_fails_clearly_and_changes_nothing(project):
    stack = project.stack("no-engine", {
        "netbird:domain": "netbird.no-engine.test", "keycloak:networkMode": "host",
        "keycloak:image": harness.KEYCLOAK_IMAGE, "keycloak:url": "http://127.0.0.1:48080",
        "docker:host": "tcp://127.0.0.1:1",  # nothing listens there
    })
    harness.stack_driver.ensure_secrets(stack)
    try:
        stack.up(color="never")
        raise AssertionError("up succeeded without a Docker engine")
    except harness.stack_driver.auto.CommandError as error:
        message = str(error)
    assert "cannot reach the Docker engine at tcp://127.0.0.1:1" in message
    created = [r["type"] for r in stack.export_stack().deployment.get("resources") or []
               if not r["type"].startswith(("pulumi:", "netbird:"))]
    assert created == []
    harness.record_fault("Docker engine unreachable: clear error, nothing changed")
