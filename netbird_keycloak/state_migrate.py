"""Moves every stack of this project from one Pulumi state backend to another.

    state_migrate.py --from file://…/.pulumi-state --to 'postgres://…' [--stacks a,b]

Per stack: `pulumi stack export` from FROM, `pulumi stack init` + `pulumi stack import` on TO,
then the stack's outputs are read back from TO with their secrets and compared with FROM's in
memory (never printed): equal outputs mean every secret still decrypts with the stack's
passphrase on the new backend. The stack settings need no move: for DIY backends they are the
files stacks/Pulumi.<stack>.yaml (with the stack's encryption salt), whichever backend holds the
state. FROM is left as it was; the update history stays there (export carries the latest state).
A stack that already holds resources on TO is refused, so nothing there is overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from netbird_keycloak import ROOT
from netbird_keycloak.stack import PROJECT, redacted


class MigrationError(Exception):
    pass


class Backend:
    """One state backend, driven through the CLI from the project folder."""

    def __init__(self, url: str, work_dir: Path):
        self.url, self.work_dir = url, work_dir

    def __str__(self) -> str:
        return redacted(self.url)

    def pulumi(self, *args: str) -> str:
        done = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.work_dir,
                              env={**os.environ, "PULUMI_BACKEND_URL": self.url},
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise MigrationError(f"`pulumi {' '.join(args)}` on {self} failed: "
                                 f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def stacks(self) -> list[str]:
        listed = json.loads(self.pulumi("stack", "ls", "--json") or "[]")
        return sorted(s["name"].rsplit("/", 1)[-1] for s in listed)

    def resource_count(self, stack: str) -> int:
        exported = json.loads(self.pulumi("stack", "export", "--stack", stack))
        return len((exported.get("deployment") or {}).get("resources") or [])

    def outputs(self, stack: str) -> dict:
        return json.loads(self.pulumi("stack", "output", "--json", "--show-secrets",
                                      "--stack", stack) or "{}")


def migrate(source: Backend, target: Backend, stack: str) -> str:
    if stack in target.stacks():
        if target.resource_count(stack):
            raise MigrationError(f"stack {stack!r} already holds resources on {target}: nothing "
                                 "was overwritten. Remove it there first if that state is really "
                                 "stale (`pulumi stack rm`).")
    else:
        target.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    with tempfile.TemporaryDirectory() as folder:
        exported = Path(folder) / f"{stack}.json"  # secrets stay ciphertext in the export
        source.pulumi("stack", "export", "--stack", stack, "--file", str(exported))
        target.pulumi("stack", "import", "--stack", stack, "--file", str(exported))
    if source.outputs(stack) != target.outputs(stack):
        raise MigrationError(f"stack {stack!r}: the outputs read back from {target} differ from "
                             "the source's; the source is unchanged")
    return f"{stack}: moved, {target.resource_count(stack)} resources, outputs and secrets equal"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--to", dest="target", required=True)
    parser.add_argument("--stacks", help="comma-separated (default: every stack of the project)")
    parser.add_argument("--work-dir", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    if args.source == args.target:
        raise SystemExit("FROM and TO are the same backend: nothing to move")
    source = Backend(args.source, args.work_dir.resolve())
    target = Backend(args.target, args.work_dir.resolve())
    names = args.stacks.split(",") if args.stacks else source.stacks()
    if not names:
        raise SystemExit(f"no stacks of project {PROJECT} on {source}")
    failed = 0
    for name in names:
        try:
            print(migrate(source, target, name), flush=True)
        except MigrationError as error:
            failed += 1
            print(f"{name}: not moved: {error}", file=sys.stderr, flush=True)
    print(f"{len(names) - failed} of {len(names)} stacks moved to {target}. "
          f"Check each with `PULUMI_BACKEND_URL='{target}' make preview "
          "STACK=…` (no changes expected), then point everyone at the new backend.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
