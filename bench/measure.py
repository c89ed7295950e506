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


def tree(root_pid: int) -> dict[int, int]:
    """{pid: resident bytes} of a process and all its descendants."""
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
    found, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        found[pid] = rss.get(pid, 0)
        todo += children.get(pid, [])
    return found


def pss(pid: int) -> int:
    """A process's proportional set size in bytes: its private pages, and each page it shares
    divided by the number of processes sharing it (0 once it has ended)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Measured(NamedTuple):
    seconds: float  # wall time
    peak: int       # bytes: the process tree's summed RSS at its highest (sampled every 0.25 s)
    code: int       # exit code
    cpu: float      # CPU seconds (user + system) of the command and every process it waited for
    # bytes: the tree's summed PSS at its highest. Unlike RSS it counts a page that processes
    # share (forked from one parent, or one binary's code) once, as the machine holds it.
    peak_pss: int = 0


def measured(argv: list[str], cwd: Optional[Path] = None,
             env: Optional[dict] = None) -> Measured:
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = peak_pss = 0
    stop = threading.Event()

    def sample():
        nonlocal peak, peak_pss
        while not stop.is_set():
            members = tree(process.pid)
            peak = max(peak, sum(members.values()))
            peak_pss = max(peak_pss, sum(map(pss, members)))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return Measured(elapsed, peak, process.returncode, usage.ru_utime + usage.ru_stime, peak_pss)
