"""A bootstrap that started a daemon leaves its lock free.

`make test` runs the bootstrap twice (everything, then sshd). When the first call started the
Docker engine, dockerd inherited the lock's file descriptor and held it for as long as it ran:
the second call waited forever and CI ran out of time with no line of test output. This runs
after `make test`'s own bootstrap, on the engine it started (a fresh machine's case).
"""

import os
import subprocess
from pathlib import Path

from netbird_keycloak import ROOT
from tests.fixtures.local_keycloak import CACHE

LOCK = CACHE / ".bootstrap.lock"


def in_a_bootstrap(pid: str) -> bool:
    """A running bootstrap (another `make` of this user, say) and its children hold it rightly."""
    while pid not in ("0", "1"):
        proc = Path("/proc", pid)
        if b"bootstrap.sh" in (proc / "cmdline").read_bytes():
            return True
        pid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
    return False


def holders(path: Path) -> list[str]:
    found = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            pid = fd.parts[2]
            if os.readlink(fd) == str(path) and not in_a_bootstrap(pid):
                found.append(f"{pid} ({Path('/proc', pid, 'comm').read_text().strip()})")
        except OSError:
            continue  # the process or descriptor went away while we looked
    return found


def test_no_process_keeps_the_bootstrap_lock_after_bootstrap():
    assert LOCK.exists(), f"no bootstrap ran before the tests ({LOCK} missing)"
    assert holders(LOCK) == [], "processes outlived the bootstrap holding its lock"


def test_a_second_bootstrap_does_not_wait():
    done = subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap.sh"), "docker"],
                          env={**os.environ, "BOOTSTRAP_LOCK_WAIT": "600"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
