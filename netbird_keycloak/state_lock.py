"""Stack locks of Pulumi's DIY backends (file://, postgres://, buckets), as operators meet them.

Every update, refresh, destroy and import holds a lock object in the backend for its stack, so a
second operator's run is refused rather than interleaved. A process that dies (SIGKILL, a lost
laptop) leaves its lock; `pulumi cancel` (`make state-unlock STACK=…`) removes a stack's locks.
A run whose state backend went away mid-run cannot remove its own lock either: the driver notes
that lock here, and the next run on this machine removes exactly that one and goes on.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_HOLDER = re.compile(r"^\s*(?P<url>\S+\.json\S*): created by (?P<user>[^@\s]+)@(?P<host>\S+) "
                     r"\(pid (?P<pid>\d+)\) at (?P<at>\S+)", re.M)
_LEFT = re.compile(r"problem deleting the lock at (?P<url>\S+\.json\S*), manual clean up")
_UNREACHABLE = re.compile(r"(unable to open state database|failed to save snapshot|"
                          r"failed to ping PostgreSQL|blob \(key [^)]*\) \(code=Unknown\): dial)")


@dataclass(frozen=True)
class Holder:
    """One lock on a stack, as the backend's refusal names it."""

    url: str  # the lock object; credentials are already masked by Pulumi
    user: str
    host: str
    pid: int
    at: str

    @property
    def key(self) -> str:
        return lock_key(self.url)

    def gone(self, this_host: str = "") -> bool:
        """True when the holder ran on this machine and its process no longer exists."""
        if self.host != (this_host or socket.gethostname()):
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return zombie(self.pid)


def zombie(pid: int) -> bool:
    """A process that has ended but is not yet reaped (a killed run's CLI, orphaned with its
    parent): it holds nothing any more, though signal 0 still reaches it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def lock_key(url: str) -> str:
    """The lock object's key (`.pulumi/locks/…/<uuid>.json`) from the URL Pulumi prints."""
    path = url.split("?", 1)[0]
    return path[path.index(".pulumi/locks/"):] if ".pulumi/locks/" in path else path


def holders(error_text: str) -> list[Holder]:
    """The locks named in a "the stack is currently locked" refusal (none: not a refusal)."""
    if "currently locked" not in error_text:
        return []
    return [Holder(m["url"], m["user"], m["host"], int(m["pid"]), m["at"])
            for m in _HOLDER.finditer(error_text)]


def left_behind(error_text: str) -> Optional[str]:
    """The key of the lock a run could not remove because the backend did not answer."""
    found = _LEFT.search(error_text)
    return lock_key(found["url"]) if found else None


def backend_unreachable(error_text: str) -> bool:
    return bool(_UNREACHABLE.search(error_text))


def refusal(stack: str, locks: list[Holder], this_host: str = "") -> str:
    """What an operator reads when another run holds the stack."""
    lines = [f"stack {stack!r} is locked: another run (up, refresh, destroy or import) holds it, "
             "so this one changed nothing."]
    for lock in locks:
        state = " — that process no longer runs on this machine: the lock is stale" \
            if lock.gone(this_host) else ""
        lines.append(f"  lock {lock.key}: {lock.user}@{lock.host}, pid {lock.pid}, "
                     f"since {lock.at}{state}")
    lines.append("Wait for that run to end and run again. If it is gone (killed, its machine "
                 f"lost), clear the lock with `make state-unlock STACK={stack}` (pulumi cancel "
                 f"--stack {stack}), then run again: the next up adopts whatever it created.")
    return "\n".join(lines)


def note_path(out_dir: Path, stack: str) -> Path:
    return out_dir / stack / "left-lock.json"


def note_left(out_dir: Path, stack: str, key: str) -> None:
    path = note_path(out_dir, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "host": socket.gethostname()}))


def ours_only(out_dir: Path, stack: str, locks: list[Holder]) -> bool:
    """True when the only lock on the stack is the one this machine's previous run noted."""
    path = note_path(out_dir, stack)
    if not path.exists() or not locks:
        return False
    noted = json.loads(path.read_text())
    return noted.get("host") == socket.gethostname() and \
        [lock.key for lock in locks] == [noted.get("key")]


def forget(out_dir: Path, stack: str) -> None:
    note_path(out_dir, stack).unlink(missing_ok=True)
