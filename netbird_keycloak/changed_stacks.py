"""The stacks a change touches, for the workflows: those whose stack file changed, or every
stack when the program itself changed (PROGRAM below).

    changed_stacks.py BASE HEAD [--json]    space-separated, or a JSON list for a job matrix
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from netbird_keycloak import ROOT

STACK_FILE = re.compile(r"^stacks/Pulumi\.(?P<stack>[^/]+)\.yaml$")
# What every stack runs, and what installs it (a dependency bump must be previewed too): a
# change here may change any stack. The workflows' path filters are these (tests/lint).
PROGRAM = ("foundation/", "components/", "netbird_keycloak/", "policy/", "scripts/",
           "toolchain/", "__main__.py", "Pulumi.yaml", "pyproject.toml", "requirements.txt",
           "requirements.lock", ".pulumi-version", "Makefile")
# A commit that is not there (a branch's first push reports forty zeros): every stack.
NO_COMMIT = re.compile(r"^0*$")


def changed_stacks(paths: list[str], all_stacks: list[str]) -> list[str]:
    """Pure: from the changed paths and the stacks there are."""
    if any(path.startswith(PROGRAM) for path in paths):
        return sorted(all_stacks)
    touched = {m["stack"] for path in paths if (m := STACK_FILE.match(path))}
    return sorted(touched & set(all_stacks))


def stacks_here(root: Path = ROOT) -> list[str]:
    return [m["stack"] for p in (root / "stacks").glob("Pulumi.*.yaml")
            if (m := STACK_FILE.match(f"stacks/{p.name}"))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if NO_COMMIT.match(args.base):
        stacks = sorted(stacks_here())
    else:
        diff = subprocess.run(["git", "diff", "--name-only", args.base, args.head], cwd=ROOT,
                              timeout=120,
                              capture_output=True, text=True, check=True)
        stacks = changed_stacks(diff.stdout.split(), stacks_here())
    print(json.dumps(stacks) if args.json else " ".join(stacks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
