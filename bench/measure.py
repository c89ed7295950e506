"""What the benchmarks share: a scratch Pulumi backend of their own, and the meter (wall time
and peak memory of a command and everything it starts)."""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple, Optional

PAGE = os.sysconf("SC_PAGE_SIZE")


def scratch(prefix: str) -> Path:
    """A new work folder with an empty file backend in `state/` and a passphrase of this run,
    set in the environment for every Pulumi command that follows."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "state").mkdir()
    os.environ["PULUMI_BACKEND_URL"] = f"file://{work}/state"
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_urlsafe(16)
    os.environ.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return work


def tree_rss(root_pid: int) -> int:
    """Summed resident memory of a process and all its descendants, in bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * PAGE
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class Measured(NamedTuple):
    seconds: float  # wall time
    peak: int       # bytes: the process tree's summed RSS at its highest (sampled every 0.25 s)
    code: int       # exit code
    cpu: float      # CPU seconds (user + system) of the command and every process it waited for


def measured(argv: list[str], cwd: Optional[Path] = None,
             env: Optional[dict] = None) -> Measured:
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(process.pid))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return Measured(elapsed, peak, process.returncode, usage.ru_utime + usage.ru_stime)
