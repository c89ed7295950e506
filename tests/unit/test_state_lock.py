"""Reading the DIY backend's lock messages (netbird_keycloak/state_lock.py), with the CLI's own wording."""

import os
import socket

from netbird_keycloak import state_lock

KEY = ".pulumi/locks/organization/netbird-keycloak/dev/1e036082-ee2d-4757-90d9-2a0968ceca33.json"
URL = f"postgres://****:****@127.0.0.1:25432/pulumi/{KEY}?sslmode=disable&table=t"
REFUSED = ("error: the stack is currently locked by 1 lock(s). Either wait for the other "
           "process(es) to end or delete the lock file with `pulumi cancel`.\n"
           f"  {URL}: created by root@{{host}} (pid {{pid}}) at 2026-12-01T03:40:04Z")
LEFT = (f"error: there was a problem deleting the lock at {URL}, manual clean up may be "
        "required: blob (key \".pulumi/locks/…\") (code=Unknown): dial tcp 127.0.0.1:25432: "
        "connect: connection refused")


def refused(host: str = "elsewhere", pid: int = 1) -> str:
    return REFUSED.format(host=host, pid=pid)


def test_a_refusal_names_its_lock_holder():
    holder, = state_lock.holders(refused())
    assert (holder.key, holder.user, holder.host, holder.pid) == (KEY, "root", "elsewhere", 1)
    assert state_lock.holders("error: update failed") == []


def test_a_lock_is_stale_only_when_its_process_is_gone_from_this_machine():
    me = socket.gethostname()
    alive, = state_lock.holders(refused(me, os.getpid()))
    assert not alive.gone()
    other_machine, = state_lock.holders(refused("elsewhere", 2 ** 22 + 7))
    assert not other_machine.gone()
    dead, = state_lock.holders(refused(me, 2 ** 22 + 7))  # above the kernel's pid limit
    assert dead.gone()
    message = state_lock.refusal("dev", [dead])
    assert "the lock is stale" in message and "make state-unlock STACK=dev" in message


def test_only_the_lock_this_machine_noted_is_released(tmp_path):
    assert state_lock.left_behind(LEFT) == KEY
    assert state_lock.backend_unreachable(LEFT)
    locks = state_lock.holders(refused(socket.gethostname(), 2 ** 22 + 7))
    assert not state_lock.ours_only(tmp_path, "dev", locks)
    state_lock.note_left(tmp_path, "dev", KEY)
    assert state_lock.ours_only(tmp_path, "dev", locks)
    other = state_lock.holders(refused().replace("1e036082", "99999999"))
    assert not state_lock.ours_only(tmp_path, "dev", other)
    state_lock.forget(tmp_path, "dev")
    assert not state_lock.ours_only(tmp_path, "dev", locks)


def test_an_ended_but_unreaped_holder_is_gone():
    """A killed run's CLI can linger as a zombie until it is reaped: its lock is stale."""
    import subprocess
    import time
    child = subprocess.Popen(["true"])
    for _ in range(100):
        if state_lock.zombie(child.pid):
            break
        time.sleep(0.01)
    assert state_lock.zombie(child.pid)
    assert not state_lock.zombie(os.getpid())
    child.wait()
    assert not state_lock.zombie(child.pid)
