"""Many stacks at once: one per customer, each in its own process (`python -m
netbird_keycloak.stack`, in a session of its own), so one customer's bad settings, failure, hang
or kill neither stops nor corrupts the others.

    fleet new acme --domain netbird.acme.example [--keycloak-url https://auth.example.com]
    fleet up|preview|refresh|destroy|env (--stacks a,b | --all | --glob 'cust-*') [--parallel N]

Per stack it writes out/<stack>/<command>.log and, for `up` and `env`, out/<stack>/setup.env.
It exits non-zero when any stack failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event, Lock
from typing import Callable, Optional

import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from components import wiring
from components.adoption import owner
from components.settings import Settings, SettingsError, from_stack_file
from foundation import urls
from netbird_keycloak import ROOT, customer_account, interrupted
from netbird_keycloak.before_run import ENGINE_COMMANDS, PROJECT, stack_file_config

CUSTOMER = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")


@dataclass
class Run:
    stack: str
    status: str = "waiting"
    changes: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    log: Optional[Path] = None

    @property
    def counts(self) -> str:
        c = self.changes
        return (f"+{c.get('create', 0)} ~{c.get('update', 0)} "
                f"-{c.get('delete', 0)} ±{c.get('replace', 0)}")


def stack_files(work_dir: Path) -> dict[str, Path]:
    return {p.name[len("Pulumi."):-len(".yaml")]: p
            for p in sorted((work_dir / "stacks").glob("Pulumi.*.yaml"))}


def select(all_stacks: dict[str, Path], names: Optional[str], pattern: Optional[str],
           every: bool) -> list[str]:
    if every:
        return list(all_stacks)
    if pattern:
        return [s for s in all_stacks if fnmatch.fnmatch(s, pattern)]
    chosen = [s.strip() for s in (names or "").split(",") if s.strip()]
    unknown = [s for s in chosen if s not in all_stacks]
    if unknown:
        raise SystemExit(f"no stack file stacks/Pulumi.{unknown[0]}.yaml")
    return chosen


def valid_settings(files: dict[str, Path]) -> dict[str, Settings]:
    """The settings of each stack file that holds valid ones (read as written, secrets left
    encrypted); a stack whose settings are not valid is left out: its own run refuses it."""
    found = {}
    for name, path in files.items():
        try:
            found[name] = from_stack_file(stack_file_config(path.parent.parent, name), name)
        except SettingsError:
            continue
    return found


def ownership_conflicts(files: dict[str, Path], selected: list[str]) -> dict[str, str]:
    """Stacks that would manage the same realm, container, volume or host port as another
    stack (components/wiring.claims, from each stack file's settings).

    On a shared Keycloak every stack holds admin credentials, so Keycloak cannot keep them apart;
    the fleet refuses to run two stacks that claim one object. A stack whose settings are not
    valid claims nothing here: its own run refuses it, naming the settings.
    """
    claimed: dict[tuple, list[str]] = {}
    for name, settings in valid_settings(files).items():
        for key in wiring.claims(settings):
            claimed.setdefault(key, []).append(name)
    conflicts: dict[str, str] = {}
    for (kind, where, what), owners in claimed.items():
        for owner_ in set(owners) & set(selected) if len(owners) > 1 else ():
            others = ", ".join(o for o in owners if o != owner_)
            place = f"on {where}" if kind != "realm" else f"at {where}"
            conflicts.setdefault(owner_, f"{kind} {what} {place} is also claimed by stack {others}")
    return conflicts


# Where `fleet new` looks for a customer's ports: Keycloak's defaults, then upwards.
HTTP_PORTS = range(8080, 8180)
MANAGEMENT_PORTS = range(9000, 9100)


def claimed_ports(files: dict[str, Path]) -> set[int]:
    """The host ports the stack files claim on the local Docker engine (a stack whose settings
    are not valid claims nothing: its own run refuses it)."""
    ports = set()
    for settings in valid_settings(files).values():
        ports |= {int(what) for kind, where, what in wiring.claims(settings)
                  if kind == "port" and not settings.keycloak.docker_host}
    return ports


def port_is_free(port: int) -> bool:
    """Nothing listens on `port` here (a bind on every address succeeds)."""
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port(candidates: range, claimed: set[int]) -> int:
    for port in candidates:
        if port not in claimed and port_is_free(port):
            return port
    raise SystemExit(f"no free port in {candidates.start}-{candidates.stop - 1}: pass "
                     "--http-port and --management-port. Nothing was written.")


STOP_GRACE = 60

class StackProcess:
    """One stack's run: `python -m netbird_keycloak.stack ARGV` in a session of its own (a
    stack that hangs is stopped whole, not the fleet with it), its output in `log`."""

    def __init__(self, argv: list[str], log: Path):
        with RUNNING_LOCK:  # either started before a Ctrl-C, so it gets it, or not at all
            if STOPPING.is_set():
                raise FleetInterrupted
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "netbird_keycloak.stack", *argv], stdin=subprocess.DEVNULL,
                    stdout=fd, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
            finally:
                os.close(fd)
            self.pid = self.process.pid
            RUNNING.add(self.pid)

    def wait(self, timeout: Optional[float] = None) -> int:
        code = self.process.wait(timeout)
        with RUNNING_LOCK:
            RUNNING.discard(self.pid)
        return code


# The process groups of the stacks running now. Each has a session of its own (so one that
# hangs is stopped alone), so the terminal's Ctrl-C does not reach them: the fleet passes it on.
RUNNING: set[int] = set()
RUNNING_LOCK = Lock()
STOPPING = Event()


class FleetInterrupted(Exception):
    pass


def interrupt_running() -> None:
    """Ctrl-C to every running stack, as the terminal would give it: Pulumi stops each run and
    releases its lock. No stack starts after it."""
    with RUNNING_LOCK:
        STOPPING.set()
        groups = list(RUNNING)
    for group in groups:
        try:
            os.killpg(group, signal.SIGINT)
        except ProcessLookupError:
            pass  # ended meanwhile


def wait_or_stop(process: "subprocess.Popen | StackProcess", timeout: float) -> Optional[int]:
    """The exit code, or None when the run took longer than `timeout`: it is then interrupted
    as Ctrl-C would (Pulumi cancels and releases the stack's lock), and killed if it still runs
    STOP_GRACE seconds later."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # The stack's session (its own): the plugins, each in a process group of its own.
        interrupted.stop_session(process.pid)
        return None


def run_one(run: Run, command: str, work_dir: Path, out: Path, refresh: bool,
            timeout: float) -> Run:
    run.status = "running"
    folder = out / run.stack
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    run.log = folder / f"{command}.log"
    summary_path = folder / f"{command}.summary.json"
    summary_path.unlink(missing_ok=True)
    argv = [command, "--stack", run.stack, "--work-dir", str(work_dir), "--out", str(out),
            "--summary-json", str(summary_path)]
    if refresh:
        argv.append("--refresh")
    started = time.monotonic()
    try:
        code = wait_or_stop(StackProcess(argv, run.log), timeout)
    except FleetInterrupted:
        run.status, run.error = "failed", "not started: the fleet was interrupted (Ctrl-C)"
        return run
    run.seconds = round(time.monotonic() - started, 1)
    if code is None:
        run.status, run.error = "failed", (f"stopped after {timeout} s (--timeout): Pulumi was "
                                           f"interrupted and released the lock; see {run.log}")
        return run
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        run.changes, run.error = summary.get("changes", {}), summary.get("error", "")
    run.status = "succeeded" if code == 0 else "failed"
    if code != 0 and not run.error:
        run.error = f"exit code {code}; see {run.log}"
    return run


def last_line(path: Optional[Path]) -> str:
    if not path or not path.exists():
        return ""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()
             if line.strip()]
    return lines[-1][:70] if lines else ""


def table(runs: list[Run], command: str, final: bool) -> Table:
    t = Table(title=f"fleet {command}", title_justify="left")
    for column in ("stack", "result", "create/update/delete/replace", "seconds",
                   "error" if final else "last step"):
        t.add_column(column)
    colors = {"succeeded": "green", "failed": "red", "running": "yellow", "waiting": "dim"}
    for r in runs:
        t.add_row(r.stack, f"[{colors[r.status]}]{r.status}[/]", r.counts,
                  f"{r.seconds:.1f}", r.error if final or r.status == "failed"
                  else last_line(r.log))
    return t


def run_fleet(command: str, names: list[str], work_dir: Path, out: Path, parallel: int,
              refresh: bool, console: Console, timeout: float = 1800) -> list[Run]:
    files = stack_files(work_dir)
    conflicts = ownership_conflicts(files, names) if command in ("up", "preview") else {}
    runs = [Run(name) for name in names]
    todo = []
    for r in runs:
        if r.stack in conflicts:
            r.status, r.error = "failed", f"refused: {conflicts[r.stack]}"
        else:
            todo.append(r)
    lock = Lock()

    def work(r: Run) -> Run:
        run_one(r, command, work_dir, out, refresh, timeout)
        if not console.is_terminal:
            with lock:
                console.print(f"{r.stack}: {r.status} {r.counts} in {r.seconds:.1f}s"
                              + (f" - {r.error}" if r.error else ""))
        return r

    run_all(todo, work, command, runs, console, parallel)
    console.print(table(runs, command, True))
    return runs


def run_all(todo: list[Run], work: Callable[[Run], Run], command: str, runs: list[Run],
            console: Console, parallel: int) -> None:
    STOPPING.clear()
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        try:
            if console.is_terminal:
                with Live(table(runs, command, False), console=console,
                          refresh_per_second=2) as live:
                    futures = [pool.submit(work, r) for r in todo]
                    while not all(f.done() for f in futures):
                        live.update(table(runs, command, False))
                        time.sleep(0.5)
                    live.update(table(runs, command, False))
            else:
                for r in todo:
                    console.print(f"{r.stack}: {command} started")
                list(pool.map(work, todo))
        except KeyboardInterrupt:
            # No stack starts any more; the running ones stop as Pulumi does on Ctrl-C, and
            # the fleet ends once they have (their locks released).
            pool.shutdown(wait=False, cancel_futures=True)
            interrupt_running()
            pool.shutdown(wait=True)
            raise


# What a new customer's container stack takes from an existing stack of the checkout: how
# Keycloak runs on this Docker engine (an engine without a default bridge needs host networking;
# an offline one the image the bootstrap built), not what is the other stack's own.
LIKE = ("keycloak:image", "keycloak:networkMode")


def like(work_dir: Path, stack: str) -> dict[str, str]:
    """The LIKE settings the stack file of `stack` sets ({} when there is no such file)."""
    if not (work_dir / "stacks" / f"Pulumi.{stack}.yaml").exists():
        return {}
    config = stack_file_config(work_dir, stack)
    return {key: str(config[key]) for key in LIKE if key in config}


def new_customer(args: argparse.Namespace, console: Console) -> int:
    """Writes stacks/Pulumi.<customer>.yaml, ready for `fleet up` (the program generates the
    stack's secrets on its first deploy and keeps them in the state)."""
    from netbird_keycloak.stack import open_stack, set_secret  # noqa: PLC0415

    name = args.customer
    if not CUSTOMER.match(name):
        raise SystemExit(f"customer name {name!r}: lower-case letters, digits and '-', at most "
                         "30 characters, starting with a letter or digit")
    path = args.work_dir / "stacks" / f"Pulumi.{name}.yaml"
    if path.exists():
        raise SystemExit(f"{path} exists already; edit it or pick another name")
    config: dict[str, str] = {"netbird:domain": args.domain}
    secret = None
    if args.keycloak_url:  # a realm of its own on a shared (or the customer's) Keycloak
        why = urls.refusal(args.keycloak_url, "the shared Keycloak's administrator password")
        if why:
            raise SystemExit(f"--keycloak-url {why}. Nothing was written.")
        password = os.environ.get(args.admin_password_env or "", "")
        if not password:
            raise SystemExit("the shared Keycloak's admin password is needed once, to make the "
                             "customer's own service account: pass --admin-password-env VAR "
                             "naming the variable that holds it. Nothing was written.")
        client_id = customer_account.client_id_for(name)
        try:
            secret = customer_account.create(args.keycloak_url, args.admin_user, password,
                                             client_id, owner(PROJECT, name))
        except customer_account.AccountRefused as refused:
            raise SystemExit(f"{refused}. Nothing was written.") from None
        config.update({"keycloak:deploy": "false", "keycloak:url": args.keycloak_url,
                       "keycloak:adminClientId": client_id, "netbird:realm": name})
    else:  # a Keycloak container of its own, on ports no other stack or program holds
        claimed = claimed_ports(stack_files(args.work_dir))
        http_port = args.http_port or free_port(HTTP_PORTS, claimed)
        management_port = args.management_port or free_port(MANAGEMENT_PORTS,
                                                             claimed | {http_port})
        config.update({"keycloak:httpPort": str(http_port),
                       "keycloak:managementPort": str(management_port)})
        taken = like(args.work_dir, args.like)
        config.update(taken)
        if taken:
            console.print(f"took {' and '.join(taken)} from stack {args.like} (--like): the "
                          "customer's Keycloak runs the way that one does on this Docker engine")
        if not (args.http_port and args.management_port):
            console.print(f"chose keycloak:httpPort {http_port} and keycloak:managementPort "
                          f"{management_port}: free on this machine and claimed by no other "
                          "stack file")
    path.write_text(f"# Customer stack {name!r}, created by `fleet new`.\n"
                    + yaml.safe_dump({"config": config}, sort_keys=False))
    stack = open_stack(name, args.work_dir)
    if secret is not None:
        set_secret(stack, "keycloak:adminClientSecret", secret)
        console.print(f"made {config['keycloak:adminClientId']} on {args.keycloak_url}: it may "
                      f"create realm {name!r} and administer only that one")
    console.print(f"wrote {path}; next: fleet up --stacks {name}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="create a customer stack with generated secrets")
    new.add_argument("customer")
    new.add_argument("--domain", required=True)
    new.add_argument("--keycloak-url", help="shared Keycloak: a realm per customer on it")
    new.add_argument("--admin-user", default="kcadmin",
                     help="a master-realm admin of the shared Keycloak, used once")
    new.add_argument("--admin-password-env",
                     help="environment variable holding its password (never stored)")
    new.add_argument("--http-port", type=int,
                     help="default: the first of 8080, 8081, … free here and in no stack file")
    new.add_argument("--management-port", type=int,
                     help="default: the first of 9000, 9001, … free here and in no stack file")
    new.add_argument("--like", default="dev",
                     help=f"a Keycloak container of its own runs as this stack's does: "
                          f"{', '.join(LIKE)} are taken from it (default: dev)")
    for command in (*ENGINE_COMMANDS, "env"):
        p = sub.add_parser(command)
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--stacks", help="comma-separated stack names")
        which.add_argument("--all", action="store_true")
        which.add_argument("--glob", help="stack names matching this pattern, e.g. 'cust-*'")
        p.add_argument("--parallel", type=int, default=2)
        p.add_argument("--refresh", action="store_true")
        p.add_argument("--timeout", type=float, default=1800,
                       help="seconds one stack may take before it is interrupted (default 1800)")
    for p in sub.choices.values():
        p.add_argument("--work-dir", type=Path, default=ROOT)
        p.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    console = Console()
    if args.command == "new":
        return new_customer(args, console)
    names = select(stack_files(args.work_dir), args.stacks, args.glob, args.all)
    if not names:
        raise SystemExit("no stack selected")
    runs = run_fleet(args.command, names, args.work_dir, args.out.resolve(), args.parallel,
                     args.refresh, console, args.timeout)
    failed = [r for r in runs if r.status != "succeeded"]
    for r in failed:  # whole, unwrapped lines: the table may be narrower than the message
        console.print(f"{r.stack}: {r.error}", soft_wrap=True, markup=False)
    if failed:
        console.print(f"{len(failed)} of {len(runs)} stacks failed: "
                      f"{', '.join(r.stack for r in failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
