"""Runs the program for one stack: up, preview, refresh, destroy and env (write
out/<stack>/setup.env from the outputs, touching no infrastructure).

Every engine command goes through the Automation API's public calls (`Stack.up`, `preview`,
`refresh`, `destroy`). The commands serve the program from their own process (an inline
program: `__main__.py` run as `pulumi up` runs it), one run per process, since the SDK keeps an
inline run's servers process-wide; `open_stack(..., program=None)` has the CLI's own Python
language host run `__main__.py` instead, exactly as a `pulumi up` typed in the project folder
does, any number of times per process (tests; the report after a failed `up`). The inline path
saves the language host's package listing and start (about 4 s a command here:
docs/benchmarks.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from pulumi import automation as auto

from components import secrets_beside_data
from components.adoption import owner
from components.connector_json import render_connector_json
from components.settings import SettingsError, from_stack_file
from components.setup_env import render_setup_env, write_private
from netbird_keycloak import ROOT, interrupted, state_lock
from netbird_keycloak.before_run import (ENGINE_COMMANDS, PROJECT, Timeline,
                                         check_docker_engine, no_stack_file, parser,
                                         pulumi_env, stack_file, stack_file_config)
# The guardrails as a policy pack (policy/), for pull-request previews (preview_md.py): it adds
# the rule over the whole stack. Every command runs the per-resource rules in the program itself
# (components/guardrails.py), without the pack's analyzer process (1 s per command here).
POLICY_PACKS = [str(ROOT / "policy")]


# Set by main() for `--profile`; the engine's events mark it.
PROFILE: Optional[Timeline] = None


def set_setting(stack: auto.Stack, key: str, value: str, secret: bool = False) -> None:
    """`pulumi config set`, safe to kill at any moment: the CLI writes a copy of the stack file
    (`--config-file`), which then replaces it in one rename; a CLI killed while writing the file
    itself leaves it cut short, every setting lost. The value goes on stdin: the Automation
    API's `set_config` puts it in the CLI's argv, which every local user can read (`ps`,
    /proc/*/cmdline). Two writers of one stack file (two rotations) take turns (a lock file
    beside it), so neither loses the other's setting; the copy reaches the disk before it
    replaces the file, and the rename before this returns."""
    workspace = stack.workspace
    target = stack_file(Path(workspace.work_dir), stack.name)
    draft = target.with_name(f".{target.stem}.{os.getpid()}.tmp.yaml")
    with open(target.with_name(f".{target.stem}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if target.exists():
                shutil.copy2(target, draft)
            done = subprocess.run(
                [workspace.pulumi_command.command, "config", "set", key,
                 "--secret" if secret else "--plaintext", "--stack", stack.name,
                 "--config-file", str(draft), "--non-interactive"],
                input=value, text=True, capture_output=True, cwd=workspace.work_dir,
                timeout=120, env={**os.environ, **(workspace.env_vars or {})})
            if done.returncode != 0:
                raise auto.CommandError(f"pulumi config set {key} failed: {done.stderr.strip()}")
            _synced(draft)
            os.replace(draft, target)
            _synced(target.parent)
        finally:
            draft.unlink(missing_ok=True)


def _synced(path: Path) -> None:
    """Flushes a file's (or a folder's entries') writes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_secret(stack: auto.Stack, key: str, value: str) -> None:
    set_setting(stack, key, value, secret=True)


def pulumi_command() -> Optional[auto.PulumiCommand]:
    """The CLI in PULUMI_CLI_ROOT (the bootstrap's, which `make` names); None: `pulumi` on PATH."""
    root = os.environ.get("PULUMI_CLI_ROOT")
    return auto.PulumiCommand(root=root) if root else None


def program() -> None:
    """The project's program, served from this process: `__main__.py`, run as `pulumi up`
    runs it."""
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def open_stack(name: str, work_dir: Path, program: Optional[Callable[[], None]] = program,
               project: str = PROJECT) -> auto.Stack:
    """The stack `name` of the project in `work_dir`, its program served from this process
    (at most one run per process), or with `program=None` run by the CLI's language host.
    `project`: the name of a project without Pulumi.yaml (a benchmark's empty program)."""
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("file://"):
        Path(backend[len("file://"):]).mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(work_dir=str(work_dir), env_vars=pulumi_env(),
                                         pulumi_command=pulumi_command(),
                                         secrets_provider="passphrase")
    if (Path(work_dir) / "Pulumi.yaml").exists():
        workspace = auto.LocalWorkspace(**{**options.__dict__, "program": program})
        return auto.Stack.create_or_select(name, workspace)
    return auto.create_or_select_stack(stack_name=name, project_name=project, program=program,
                                       opts=options)


def write_env(stack: auto.Stack, out_dir: Path,
              outputs: Optional[dict[str, auto.OutputValue]] = None) -> Path:
    """Writes what NetBird reads, from the outputs (read from the state unless given):
    out/<stack>/setup.env, or out/<stack>/netbird-connector.json in connector mode."""
    outputs = {k: v.value for k, v in (outputs or stack.outputs()).items()}
    if outputs.get("integration") == "connector":
        path = out_dir / stack.name / "netbird-connector.json"
        write_private(path, render_connector_json(outputs, stack.name))
    else:
        path = out_dir / stack.name / "setup.env"
        write_private(path, render_setup_env(outputs, stack.name, datetime.now(timezone.utc)))
    return path


def changed(summary: Optional[dict[str, int]]) -> dict[str, int]:
    """The operations of an up/preview/refresh/destroy summary other than `same`."""
    return {op: n for op, n in (summary or {}).items() if op != "same" and n}


class NoStackFile(Exception):
    """Raised before anything is created for a stack name without its stack file."""


def engine_run(command: str, stack: auto.Stack, refresh: bool, show: Callable[[str], None],
               events: list) -> tuple[dict[str, int], dict[str, auto.OutputValue]]:
    """`command` (up, preview, refresh, destroy) through the Automation API: the changes by
    operation, and for `up` the stack's outputs. `events` collects the engine's events, for the
    failure report."""
    def watched(event: auto.EngineEvent) -> None:
        events.append(event)
        if PROFILE:
            PROFILE.watch(event)

    common = {"color": "never", "on_output": show, "on_event": watched}
    if command == "preview":
        preview = stack.preview(refresh=refresh, diff=True, **common)
        return dict(preview.change_summary or {}), {}
    # The summary the Automation API reads after the run (`stack history`) without decrypting
    # the config: nothing here uses it, and the passphrase's key derivation costs 0.3 s.
    common["show_secrets"] = False
    if command == "up":
        result = stack.up(refresh=refresh, **common)
        return dict(result.summary.resource_changes or {}), result.outputs
    ran = stack.refresh(**common) if command == "refresh" else stack.destroy(**common)
    return dict(ran.summary.resource_changes or {}), {}


def run(command: str, stack: auto.Stack, out_dir: Path, refresh: bool,
        show: Callable[[str], None], events: Optional[list] = None) -> dict:
    """Runs one command on one stack; returns what a summary needs (changes by operation).
    `events` collects the engine events, for the failure report of `up`. After `up`, what
    NetBird reads is written from its outputs."""
    events = [] if events is None else events
    changes: dict[str, int] = {}
    if command in ENGINE_COMMANDS:
        check_docker_engine(stack.name, stack_file_config(stack.workspace.work_dir, stack.name))
        if PROFILE:
            PROFILE.mark("checks (Docker engine)")
        changes, outputs = engine_run(command, stack, refresh, show, events)
        if PROFILE:
            PROFILE.mark("engine exited, outputs read")
        if command == "up":
            show(f"wrote {write_env(stack, out_dir, outputs)}")
            if PROFILE:
                PROFILE.mark("setup.env written")
    elif command == "env":
        show(f"wrote {write_env(stack, out_dir)}")
    return changed(changes)


def run_locked(command: str, stack: auto.Stack, out_dir: Path, refresh: bool,
               show: Callable[[str], None], events: list) -> dict:
    """`run`, and once more after releasing the lock this machine's previous run left when the
    state backend went away under it (only when that is the stack's one lock)."""
    if command == "unlock":
        stack.cancel()
        state_lock.forget(out_dir, stack.name)
        show(f"removed every lock on stack {stack.name!r}")
        return {}
    try:
        changes = run(command, stack, out_dir, refresh, show, events)
    except auto.CommandError as error:
        locks = state_lock.holders(str(error))
        if not state_lock.ours_only(out_dir, stack.name, locks):
            raise
        show(f"releasing lock {locks[0].key}: this machine's previous run could not remove it "
             "when the state backend stopped answering")
        stack.cancel()
        state_lock.forget(out_dir, stack.name)
        events.clear()
        changes = run(command, stack, out_dir, refresh, show, events)
    state_lock.forget(out_dir, stack.name)
    return changes


def backend_unreachable(stack: str, error_text: str, out_dir: Path) -> str:
    """What to do when the state backend stopped answering; notes a lock left behind."""
    left = state_lock.left_behind(error_text)
    if left:
        state_lock.note_left(out_dir, stack, left)
    return (f"the state backend {redacted(os.environ.get('PULUMI_BACKEND_URL', ''))} does not "
            "answer. What the run did up to its last saved step is recorded; anything it created "
            f"after that is adopted by the next up. Start the backend again (`make state-db` for "
            f"the one on this machine) and run again"
            + (": this run's lock is released first (it could not be removed just now)."
               if left else "."))


def redacted(url: str) -> str:
    """A backend URL without a password in it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:****@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def not_applied(previewed: Callable[[], auto.Stack], events: list[auto.EngineEvent]) -> list[str]:
    """After a failed `up`, from its engine events: each resource that failed and why, then what
    a preview of the stack `previewed()` opens says is still to do (the next `up` does exactly
    that). The preview needs a Keycloak that answers; when it does not, the failures above are
    the whole story."""
    lines = []
    for event in events:
        diag = event.diagnostic_event
        if diag and diag.severity == "error" and diag.urn and "::pulumi:pulumi:Stack::" \
                not in diag.urn:
            kind, name = diag.urn.split("::")[2].split("$")[-1], diag.urn.rsplit("::", 1)[-1]
            lines.append(f"failed {kind} {name}: {_one_line(diag.message)}")
    if not lines:  # nothing was attempted (bad settings, a policy): the error above says it all
        return []
    try:
        planned: list[auto.EngineEvent] = []
        previewed().preview(on_event=planned.append, color="never")
    except auto.CommandError as error:
        cause = _first_error(str(error)).rsplit("returned an error: ", 1)[-1]
        return lines + [f"(the rest shows in `make preview` once this preview error is gone: "
                        f"{cause})"]
    for event in planned:
        step = event.resource_pre_event.metadata if event.resource_pre_event else None
        if step and step.op.value not in ("same", "read", "refresh"):
            lines.append(f"to do: {step.op.value} {step.type} {step.urn.rsplit('::', 1)[-1]}")
    return lines


def purge(stack: auto.Stack) -> str:
    """`destroy --purge`: what the destroy kept of a deployed Keycloak, removed."""
    work_dir = Path(stack.workspace.work_dir)
    settings = from_stack_file(stack_file_config(work_dir, stack.name), stack.name).keycloak
    if not settings.deploy:
        return "nothing else to remove: this stack deploys no Keycloak (keycloak:deploy false)"
    removed = secrets_beside_data.remove_kept(
        settings, owner(stack.workspace.project_settings().name, stack.name))
    return (f"removed volumes {', '.join(removed)}: the next up starts a fresh Keycloak"
            if removed else "no data was kept: the next up starts a fresh Keycloak")


def main(argv: Optional[list[str]] = None) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.purge and args.command != "destroy":
        arguments.error("--purge goes with destroy only: no other command removes data")
    global PROFILE
    PROFILE = Timeline() if args.profile else None

    started = time.monotonic()
    summary: dict = {"stack": args.stack, "command": args.command, "result": "failed",
                     "changes": {}, "error": ""}
    show: Callable[[str], None] = lambda line: print(line, flush=True)  # noqa: E731
    events: list[auto.EngineEvent] = []
    stack: Optional[auto.Stack] = None
    deadline = interrupted.Deadline(args.timeout)
    try:
        if not stack_file(args.work_dir.resolve(), args.stack).exists():
            raise NoStackFile(no_stack_file(args.work_dir.resolve(), args.stack))
        stack = open_stack(args.stack, args.work_dir.resolve())
        if PROFILE:
            PROFILE.mark("stack opened")
        with interrupted.EngineHandlesCtrlC(), deadline:
            summary["changes"] = run_locked(args.command, stack, args.out, args.refresh, show,
                                            events)
            if args.purge:
                show(purge(stack))
        summary["result"] = "succeeded"
    except auto.CommandError as error:
        summary["error"] = _first_error(str(error))
        refused = SettingsError.found_in(str(error))
        locks = state_lock.holders(str(error))
        if deadline.expired.is_set():
            summary["error"] = (f"stopped after {args.timeout:g} s (--timeout): Pulumi was "
                                "interrupted as on Ctrl-C; it recorded what it did and released "
                                "the stack's lock")
            print(f"\n{_tail(str(error), 8)}\n\n{args.command} of stack {args.stack!r} "
                  f"{summary['error']}. What hung is above; the next run goes on from there.",
                  file=sys.stderr)
        elif locks:
            message = state_lock.refusal(args.stack, locks)
            summary["error"] = message.splitlines()[0]
            print(f"\n{message}", file=sys.stderr)
        elif state_lock.backend_unreachable(str(error)):
            message = backend_unreachable(args.stack, str(error), args.out)
            summary["error"] = message.splitlines()[0]
            print(f"\n{_tail(str(error), 8)}\n\n{message}", file=sys.stderr)
        elif refused:  # the engine repeats the program's error; once is enough
            print(f"\n{args.command} of stack {args.stack!r} refused: {refused}", file=sys.stderr)
        else:  # the engine printed the details through on_output; the tail gives context
            print(f"\n{args.command} of stack {args.stack!r} failed:\n{_tail(str(error))}",
                  file=sys.stderr)
            if summary["error"] == PROTECTED_HINT:
                print(f"\n{PROTECTED_HINT}", file=sys.stderr)
            # Through the language host: this process has served its one inline run.
            elif args.command == "up" and stack is not None and (report := not_applied(
                    lambda: open_stack(args.stack, args.work_dir.resolve(), program=None),
                    events)):
                print("\nnot applied:\n  " + "\n  ".join(report), file=sys.stderr)
    except KeyboardInterrupt:
        left = interrupted.stop_what_is_left()
        print(f"\n{args.command} of stack {args.stack!r} interrupted (Ctrl-C): the engine "
              "recorded what it did and released the stack's lock"
              + (f"; {', '.join(left)}, left running, stopped" if left else ""),
              file=sys.stderr)
        raise
    except Exception as error:  # noqa: BLE001 - e.g. setup.env refusing a value
        summary["error"] = str(error)
        print(f"{args.command} of stack {args.stack!r} failed: {error}", file=sys.stderr)
    summary["seconds"] = round(time.monotonic() - started, 2)
    if PROFILE:
        PROFILE.mark("done")
        args.profile.write_text(json.dumps(PROFILE.marks))
    if args.summary_json:
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(json.dumps(summary))
    return 0 if summary["result"] == "succeeded" else 1


PROTECTED_HINT = (
    "the change would replace a protected resource; for the realm that means deleting every "
    "user in it (a realm rename is a delete and a create). Revert netbird:realm, or set "
    "netbird:protectRealm false first if losing the realm is really intended")


def _first_error(text: str) -> str:
    """The first diagnostic line that says what is wrong, for one-line summaries."""
    if "marked for protection" in text:
        return PROTECTED_HINT
    lines = [line.strip() for line in text.splitlines()]
    if SettingsError.HEADLINE in text:  # its first problem: "- key: why. Fix: …"
        after = text[text.index(SettingsError.HEADLINE):].splitlines()
        return next((line.strip()[2:] for line in after if line.strip().startswith("- ")),
                    SettingsError.HEADLINE)
    for line in lines:
        if line.startswith("error:") and "update failed" not in line \
                and "preview failed" not in line:
            return line[len("error:"):].strip()
    return next((line for line in lines if "error" in line.lower()), "failed")


def _one_line(message: str) -> str:
    """An engine error as one line: without "1 error occurred:" and the bullets around it."""
    message = re.sub(r"\d+ errors? occurred:", "", message)
    return " ".join(message.replace("\t* ", " ").split())


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    interrupted.become_subreaper()
    sys.exit(main())
