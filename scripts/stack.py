"""Runs the program for one stack through Pulumi's Automation API: up, preview, refresh, destroy,
env (write out/<stack>/setup.env from the outputs, touching no infrastructure) and secrets.

Why the Automation API rather than `pulumi up` in a shell: it serves the program from this Python
process, so no separate Python language-host binary is needed (machines that reach only package
registries cannot get one), and `make`, the tests and the benchmarks share one code path.
The program is `__main__.py`, executed exactly as `pulumi up` would execute it.
"""

from __future__ import annotations

import argparse
import os
import runpy
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pulumi import automation as auto  # noqa: E402

from components.settings import GENERATED_SECRETS  # noqa: E402
from components.setup_env import render_setup_env, write_private  # noqa: E402

PROJECT = "netbird-keycloak"


def program() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def pulumi_env() -> dict[str, str]:
    """Settings that keep every run local and offline-safe; the caller's environment wins."""
    env = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    for key in ("PULUMI_BACKEND_URL", "PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_CONFIG_PASSPHRASE_FILE"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    if "PULUMI_BACKEND_URL" not in env:
        raise SystemExit("PULUMI_BACKEND_URL is not set: run through `make` (which uses a local "
                         "file backend in .pulumi-state/) or export it yourself")
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        raise SystemExit("no state passphrase: set PULUMI_CONFIG_PASSPHRASE_FILE (make does)")
    return env


def open_stack(name: str, work_dir: Path) -> auto.Stack:
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("file://"):
        Path(backend[len("file://"):]).mkdir(parents=True, exist_ok=True)
    command = auto.PulumiCommand(root=os.environ["PULUMI_CLI_ROOT"]) \
        if os.environ.get("PULUMI_CLI_ROOT") else None
    options = auto.LocalWorkspaceOptions(work_dir=str(work_dir), env_vars=pulumi_env(),
                                         pulumi_command=command,
                                         secrets_provider="passphrase")
    return auto.create_or_select_stack(stack_name=name, project_name=PROJECT, program=program,
                                       opts=options)


def ensure_secrets(stack: auto.Stack) -> list[str]:
    """Generates each missing secret into the stack config, as a Pulumi secret. No defaults."""
    config = stack.get_all_config()
    created = []
    deploy = config.get("keycloak:deploy", auto.ConfigValue("true")).value.lower() != "false"
    for key in GENERATED_SECRETS:
        if key in config or (key == "keycloak:adminPassword" and not deploy):
            continue
        stack.set_config(key, auto.ConfigValue(secrets.token_urlsafe(24), secret=True))
        created.append(key)
    return created


def write_env(stack: auto.Stack, out_dir: Path) -> Path:
    outputs = {k: v.value for k, v in stack.outputs().items()}
    path = out_dir / stack.name / "setup.env"
    write_private(path, render_setup_env(outputs, stack.name, datetime.now(timezone.utc)))
    return path


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "preview", "refresh", "destroy", "env",
                                            "secrets"])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--work-dir", type=Path, default=ROOT,
                        help="folder with Pulumi.yaml and stacks/ (default: this project)")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--refresh", action="store_true", help="refresh before up/preview")
    args = parser.parse_args(argv)

    stack = open_stack(args.stack, args.work_dir.resolve())
    show: Callable[[str], None] = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if args.command == "secrets":
            for key in ensure_secrets(stack):
                print(f"generated {key} (stored as a secret in the stack config)")
        elif args.command == "up":
            stack.up(on_output=show, refresh=args.refresh, color="never")
            print(f"wrote {write_env(stack, args.out)}")
        elif args.command == "preview":
            stack.preview(on_output=show, diff=True, refresh=args.refresh, color="never")
        elif args.command == "refresh":
            stack.refresh(on_output=show, color="never")
        elif args.command == "destroy":
            stack.destroy(on_output=show, color="never")
        elif args.command == "env":
            print(f"wrote {write_env(stack, args.out)}")
    except auto.CommandError as error:
        # The engine already printed the details through on_output; keep the tail for context.
        print(f"\n{args.command} of stack {args.stack!r} failed:\n{_tail(str(error))}",
              file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - e.g. setup.env refusing a value
        print(f"{args.command} of stack {args.stack!r} failed: {error}", file=sys.stderr)
        return 1
    return 0


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main())
