"""Ctrl-C while a command runs the engine: the engine stops its run, and nothing is left.

The terminal's Ctrl-C reaches the command and the Pulumi CLI (one process group). Left to
Python, the command's KeyboardInterrupt makes the Automation API wait 0.25 s for the CLI and
close its output pipes: the CLI then dies writing to them, before it has released the stack's
lock or stopped its plugins, which the engine starts in process groups of their own and which
live on, orphaned (seen here: a keycloak provider per interrupted run). So while the engine
runs, the command only notes Ctrl-C and lets the CLI stop as it does on Ctrl-C (it records
what it did and releases the lock); then it stops whatever is left, found because the command
made itself the subreaper of everything it starts (orphans are handed to it, not to init).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Optional

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
CLI_GRACE = 30.0  # seconds the CLI gets to record what it did and release the stack's lock
PLUGIN_GRACE = 5.0


def become_subreaper() -> None:
    """Orphans among this process's descendants become its children (Linux; elsewhere a no-op:
    the leftovers are then not found)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _processes() -> dict[int, tuple[int, str, str, int]]:
    """{pid: (parent pid, state, command name, session id)} of every process."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we looked
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        found[int(stat.parent.name)] = (int(fields[1]), fields[0], name, int(fields[3]))
    return found


def in_session(session: int) -> dict[int, str]:
    """{pid: command name} of the live processes of `session` (zombies are not listed)."""
    return {pid: name for pid, (_, state, name, sid) in _processes().items()
            if sid == session and state != "Z"}


def stop_session(session: int) -> list[str]:
    """Stops every process left in `session`: a fleet's stack runs in a session of its own,
    and the engine starts each plugin in a process group of its own, so a plugin outlives the
    kill of the stack's group (and would go on changing Keycloak). Returns their names."""
    left = in_session(session)
    for sig, grace in ((signal.SIGTERM, PLUGIN_GRACE), (signal.SIGKILL, 0.0)):
        for pid in in_session(session):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while in_session(session) and time.monotonic() < deadline:
            _reap(in_session(session))
            time.sleep(0.1)
        _reap(left)
    return sorted(set(left.values()))


def _reap(pids) -> None:
    """Waits for those of `pids` that are this process's children (a subreaper's orphans)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not ours to reap


def descendants(pid: int) -> dict[int, str]:
    """{pid: command name} of the live processes below `pid` (zombies are reaped, not listed)."""
    processes = _processes()
    below, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, state, name, _) in processes.items():
            if ppid == parent and child not in below:
                if state == "Z":
                    try:
                        os.waitpid(child, os.WNOHANG)
                    except ChildProcessError:
                        pass  # not ours to reap
                    continue
                below[child] = name
                todo.append(child)
    return below


def stop_what_is_left() -> list[str]:
    """After Ctrl-C: waits (at most CLI_GRACE s) for the Pulumi CLI to end its run, then
    stops every process this one started that still runs. Returns their command names."""
    deadline = time.monotonic() + CLI_GRACE
    while time.monotonic() < deadline and "pulumi" in descendants(os.getpid()).values():
        time.sleep(0.1)
    left = descendants(os.getpid())
    for sig, grace in ((signal.SIGTERM, PLUGIN_GRACE), (signal.SIGKILL, 0.0)):
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while descendants(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.1)
    return sorted(set(left.values()))


class EngineHandlesCtrlC:
    """`with EngineHandlesCtrlC():` around a run of the engine: Ctrl-C is noted, not raised, while
    the CLI stops (a second Ctrl-C reaches the CLI too, which then stops at once); on leaving,
    KeyboardInterrupt is raised in place of the CLI's "canceled" error, and the command stops
    what is left (stop_what_is_left). Outside the main thread (where Python delivers signals) it
    changes nothing."""

    def __init__(self) -> None:
        self.seen = threading.Event()
        self.previous = None

    def __enter__(self) -> "EngineHandlesCtrlC":
        if self.previous is None and threading.current_thread() is threading.main_thread():
            # A Python handler, not SIG_IGN: the CLI started meanwhile gets the default back.
            self.previous = signal.signal(signal.SIGINT, lambda *_: self.seen.set())
        return self

    def __exit__(self, kind: Optional[type], error: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        self.restore()
        if self.seen.is_set():
            raise KeyboardInterrupt

    def restore(self) -> None:
        """Python's Ctrl-C handling back (the handler in force before)."""
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class Deadline:
    """`with Deadline(seconds):` around a run of the engine: once `seconds` have passed, every
    Pulumi CLI below this process is interrupted as Ctrl-C would (it records what it did and
    releases the stack's lock), so a run that hangs (a Keycloak that never answers) ends.
    `expired` tells whether it fired."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = threading.Event()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        self.expired.set()
        for pid, name in descendants(os.getpid()).items():
            if name == "pulumi":
                try:
                    os.kill(pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

    def __enter__(self) -> "Deadline":
        self.timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.timer.cancel()
