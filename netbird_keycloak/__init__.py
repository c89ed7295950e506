"""netbird-keycloak's commands (the `netbird-keycloak` CLI, cli.py) and its one Keycloak Admin
REST client (keycloak_admin.py), beside the program's components/."""

from pathlib import Path

# The project folder (Pulumi.yaml, __main__.py, stacks/, policy/): the package is installed
# editable from it, so this is where the files are.
ROOT = Path(__file__).resolve().parents[1]
