"""`netbird-keycloak COMMAND …`: the one command line around the program (the Makefile's targets
are short aliases of it). Each command is a module of this package with its own `--help`.

The program is the product: `pulumi up`, `preview`, `refresh` and `destroy` typed by hand do what
`up`, `preview`, `refresh` and `destroy` here do; these add the setup.env hand-off, the lock
messages, a clean stop on Ctrl-C and the fleet around it.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Callable, Optional

from netbird_keycloak import interrupted

# command: (module, arguments put before the user's, what it does)
COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "up": ("stack", ["up"], "deploy a stack, then write out/<stack>/setup.env"),
    "preview": ("stack", ["preview"], "show what up would change"),
    "refresh": ("stack", ["refresh"], "read the live objects into the state"),
    "destroy": ("stack", ["destroy"], "destroy a stack (Keycloak's data is kept for the next up; --purge removes it)"),
    "env": ("stack", ["env"], "write out/<stack>/setup.env from the outputs (no deploy)"),
    "unlock": ("stack", ["unlock"], "clear the lock a killed run left on a stack"),
    "verify": ("verify", [], "check the live Keycloak the way NetBird uses it"),
    "preview-md": ("preview_md", [], "the preview as Markdown (what a pull request shows)"),
    "settings": ("settings_table", ["show"], "every setting's value in force and its source"),
    "settings-doc": ("settings_table", ["doc"], "rewrite the settings table in docs/"),
    "fleet": ("fleet", [], "many customer stacks at once (up, preview, …, new)"),
    "rotate": ("rotate", [], "rotate one secret of a stack"),
    "backup": ("backup", ["backup"], "Keycloak's database to a 0600 file (pg_dump)"),
    "restore": ("backup", ["restore"], "a backup into Keycloak's database (Keycloak stopped)"),
    "admin-user": ("admin_user", [], "a permanent Keycloak admin for a person"),
    "state-db": ("state_db", [], "a Postgres for team state on this machine (start, stop)"),
    "state-migrate": ("state_migrate", [], "move every stack to another state backend"),
    "changed-stacks": ("changed_stacks", [], "the stacks a change touches (workflows)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    return "usage: netbird-keycloak COMMAND [--help | ARGS…]\n\n" + "\n".join(
        f"  {name:{width}}  {what}" for name, (_, _, what) in COMMANDS.items())


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, first, _ = COMMANDS[argv[0]]
    # What the engine leaves running when a command is interrupted is handed to this process,
    # which stops it (netbird_keycloak/interrupted.py).
    interrupted.become_subreaper()
    try:
        command: Callable[..., int] = importlib.import_module(f"netbird_keycloak.{module}").main
        return command([*first, *argv[1:]]) or 0
    except KeyboardInterrupt:
        print(f"\nnetbird-keycloak {argv[0]}: interrupted. Pulumi was told to stop too and "
              "releases the stack's lock as it exits; a run that meets a lock it left: `make "
              "unlock STACK=…`", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a message for the operator, not a traceback
        if os.environ.get("NETBIRD_KEYCLOAK_DEBUG"):
            raise
        print(f"netbird-keycloak {argv[0]}: {type(error).__name__}: {error}\n"
              "(NETBIRD_KEYCLOAK_DEBUG=1 shows where)", file=sys.stderr)
        return 1


def run() -> None:
    """The `netbird-keycloak` command."""
    sys.exit(main())


if __name__ == "__main__":
    run()
