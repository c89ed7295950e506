"""The one line a command prints when the engine failed (netbird_keycloak/stack._first_error),
from the engine's own output: the cause, never a line of the outputs listed after it."""

from netbird_keycloak.stack import _first_error

SETTINGS = """\
 +  pulumi:pulumi:Stack netbird-keycloak-bad create error: The stack settings are not valid; nothing was changed.
Diagnostics:
  pulumi:pulumi:Stack (netbird-keycloak-bad):
    error: The stack settings are not valid; nothing was changed.
      - netbird:domain: must be a bare host name (no scheme, path, port or user), not 'https://x/'. Fix: pulumi config set netbird:domain netbird.example.com --stack bad
      - netbird:realm: may hold only letters. Fix: pulumi config set netbird:realm netbird --stack bad
"""  # noqa: E501 - as the engine prints it

FAILED_UPDATE = """\
Diagnostics:
  pulumi:pulumi:Stack (netbird-keycloak-acme):
    error: update failed

  pulumi-python:dynamic:Resource (pulumi-service-account):
    error: Exception calling application: Keycloak at http://127.0.0.1:8080 accepts neither this stack's admin client secret nor its bootstrap secret

Outputs:
  - admin_client_id            : "netbird-keycloak-admin"
  - keycloak_url               : "http://127.0.0.1:8080"
"""


def test_a_settings_problem_is_named_with_its_key_and_fix():
    assert _first_error(SETTINGS).startswith("netbird:domain: must be a bare host name")


def test_a_failed_resource_is_named_not_an_output_listed_after_it():
    assert _first_error(FAILED_UPDATE) == (
        "Exception calling application: Keycloak at http://127.0.0.1:8080 accepts neither this "
        "stack's admin client secret nor its bootstrap secret")
    assert _first_error(FAILED_UPDATE.replace("    error: Exception", "    Exception")) \
        != "admin_client_id            : \"netbird-keycloak-admin\""
