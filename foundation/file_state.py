"""A file backend's state, read in place. Each Pulumi CLI start costs 0.2–0.3 s here, and the
Automation API starts one to select a stack, one to export its state and two to read its
outputs; on a file backend (`make`'s default, `.pulumi-state/`) the same facts are one JSON file
away. Everything here answers None when it cannot tell (another backend, a compressed or missing
file): callers then ask the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional


def path(project: str, stack: str) -> Optional[Path]:
    """Where a file backend keeps the stack's state; None for other backends."""
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if not backend.startswith("file://"):
        return None
    return Path(backend[len("file://"):]) / ".pulumi" / "stacks" / project / f"{stack}.json"


def compressed(state_file: Path) -> bool:
    """Whether the backend keeps this state gzipped (PULUMI_DIY_BACKEND_GZIP): only the CLI
    reads it."""
    return Path(f"{state_file}.gz").exists()


def exists(project: str, stack: str) -> Optional[bool]:
    """Whether the stack exists (None: ask the CLI)."""
    found = path(project, stack)
    return None if found is None else found.exists() or None


def resources(project: str, stack: str) -> Optional[list[dict]]:
    """The resources of the stack's latest checkpoint (None: ask the CLI)."""
    found = path(project, stack)
    if found is None or not found.exists():
        return None
    latest = json.loads(found.read_text()).get("checkpoint", {}).get("latest") or {}
    return latest.get("resources") or []
