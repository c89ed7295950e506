"""The `run:` steps of this project's GitHub workflows, run here as a GitHub-hosted runner runs
them: read from the workflow files (never retyped), in order, each by `bash --noprofile --norc
-eo pipefail` in a fresh clone, with the environment a runner gives a step (its job's and its
own `env:`, `GITHUB_OUTPUT`, `GITHUB_PATH`, `GITHUB_ENV`, `CI`, the secrets as test values) and
an empty HOME: nothing of this machine's toolchain, caches or source snapshots is reachable.

A `uses:` step cannot run here (an action is JavaScript run by the runner, and these download
from GitHub). Each is replaced by what it leaves on the runner, which `USES` says:

- actions/checkout: the repository at the event's commit, with its history (a `git clone`).
- actions/setup-python: a Python of the version asked on PATH (this machine's python3, checked to
  be that version).
- pulumi/actions (install only): the official CLI release's folder at the version asked, in the
  runner's tool cache and on PATH. The release's folder holds `pulumi` and its language hosts;
  it is laid out from the same programs, built here from the pinned sources, since the release
  download cannot be reached from this machine.
- actions/upload-artifact: nothing on the runner (it uploads the named files; the test checks
  that they exist).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

RUNNER_IMAGE = "ubuntu-24.04"
# Where the bootstrap's CLI folder holds what the official release's `pulumi/` folder holds
# (the CLI and the Python language host with its two helper files).
RELEASE_FILES = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec",
                 "pulumi-resource-pulumi-python")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class Unsupported(Exception):
    """A workflow uses something this simulation does not know how to run faithfully."""


@dataclass
class Context:
    """The expression context of a job: github, secrets, matrix, needs, steps."""
    github: dict
    secrets: dict
    matrix: dict = field(default_factory=dict)
    needs: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    def lookup(self, dotted: str) -> Any:
        parts = dotted.split(".")
        value: Any = {"github": self.github, "secrets": self.secrets, "matrix": self.matrix,
                      "needs": self.needs, "steps": self.steps}.get(parts[0])
        if value is None:
            raise Unsupported(f"context {parts[0]!r} in {dotted!r}")
        for part in parts[1:]:
            value = value.get(part, "") if isinstance(value, dict) else ""
        return value


def evaluate(expression: str, context: Context) -> Any:
    """GitHub's expression language, the part these workflows use: literals, context names,
    `==`, `!=`, `&&`, `||`, `always()`, `fromJSON()`. Anything else is refused by name."""
    expression = expression.strip()
    for operator in ("||", "&&"):
        if operator in expression:
            parts = [evaluate(part, context) for part in expression.split(operator)]
            return any(parts) if operator == "||" else all(parts)
    for operator in ("!=", "=="):
        if operator in expression:
            left, right = (evaluate(part, context) for part in expression.split(operator, 1))
            return (left != right) if operator == "!=" else (left == right)
    if expression == "always()":
        return True
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    call = re.fullmatch(r"fromJSON\((.*)\)", expression)
    if call:
        return json.loads(evaluate(call[1], context))
    if re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)*", expression):
        return context.lookup(expression)
    raise Unsupported(f"expression {expression!r}")


def expand(text: str, context: Context) -> str:
    return EXPRESSION.sub(lambda m: str(evaluate(m[1], context)), str(text))


def condition(text: Optional[str], context: Context) -> bool:
    if text is None:
        return True
    match = EXPRESSION.fullmatch(str(text).strip())
    return bool(evaluate(match[1] if match else str(text), context))


@dataclass
class Machine:
    """One runner machine, new for each job: an empty HOME, the tool cache, a workspace."""
    root: Path
    repository: Path  # the repository the checkout step clones
    cli_folder: Path  # the bootstrap's CLI folder on this machine: what the release holds
    base_path: str
    pip_cache: Path  # shared by the jobs of one test run (downloads only; see the test)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.tool_cache = self.root / "hostedtoolcache"
        self.workspace = self.root / "work" / "repo"
        self.temp = self.root / "temp"
        self.sources = self.root / "no-sources"
        for folder in (self.home, self.tool_cache, self.workspace.parent, self.temp,
                       self.sources):
            folder.mkdir(parents=True, exist_ok=True)
        self.path_additions: list[str] = []
        self.env_additions: dict[str, str] = {}

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            "HOME": str(self.home), "PATH": os.pathsep.join([*self.path_additions,
                                                             self.base_path]),
            "CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(self.temp), "RUNNER_TOOL_CACHE": str(self.tool_cache),
            "GITHUB_WORKSPACE": str(self.workspace), "LANG": "C.UTF-8",
            # No source snapshots on a runner: the bootstrap must build nothing.
            "NETBIRD_KEYCLOAK_SOURCES": str(self.sources),
            "PIP_CACHE_DIR": str(self.pip_cache),
        }
        return {**env, **self.env_additions, **extra}

    # What each action leaves on the runner (module docstring).
    def checkout(self, step: dict, context: Context) -> None:
        with_ = step.get("with", {})
        depth = int(with_.get("fetch-depth", 1))
        args = ["git", "clone", "--quiet", "--no-local"] + \
            ([] if depth == 0 else ["--depth", str(depth)])
        subprocess.run([*args, f"file://{self.repository}", str(self.workspace)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run(["git", "checkout", "--quiet", context.github["sha"]],
                       cwd=self.workspace, check=True, capture_output=True, timeout=60)

    def setup_python(self, step: dict, context: Context) -> None:
        wanted = str(step["with"]["python-version"])
        have = subprocess.run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=True,
                              env={"PATH": self.base_path}).stdout.strip()
        if have != wanted:
            raise Unsupported(f"setup-python asks for {wanted}; this machine has {have}")

    def pulumi_actions(self, step: dict, context: Context) -> None:
        with_ = step.get("with", {})
        if "command" in with_:
            raise Unsupported("pulumi/actions with a command (only install-only is simulated)")
        version = with_.get("pulumi-version") or \
            (self.workspace / with_["pulumi-version-file"]).read_text().strip()
        built = subprocess.run([str(self.cli_folder / "pulumi"), "version"], capture_output=True,
                               text=True, check=True).stdout.strip()
        if built != f"v{version}":
            raise Unsupported(f"the workflow asks for CLI {version}; the one here is {built}")
        folder = self.tool_cache / "pulumi" / version / "x64"
        folder.mkdir(parents=True)
        for name in RELEASE_FILES:
            shutil.copy2(self.cli_folder / name, folder / name, follow_symlinks=True)
        self.path_additions.insert(0, str(folder))

    def upload_artifact(self, step: dict, context: Context) -> None:
        self.log.append(f"upload-artifact would upload {expand(step['with']['path'], context)}")

    def run_step(self, step: dict, job_env: dict, context: Context) -> None:
        outputs = self.temp / "output"
        for name in ("output", "path", "env"):
            (self.temp / name).write_text("")
        env = {key: expand(value, context) for key, value in {**job_env,
                                                               **step.get("env", {})}.items()}
        env.update(GITHUB_OUTPUT=str(outputs), GITHUB_PATH=str(self.temp / "path"),
                   GITHUB_ENV=str(self.temp / "env"))
        script = self.temp / "step.sh"
        script.write_text(expand(step["run"], context))
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=self.workspace, env=self.environment(env), text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=1800)
        name = step.get("name", step["run"].splitlines()[0])
        self.log.append(f"--- {name} (exit {done.returncode})\n{done.stdout}")
        if done.returncode != 0:
            raise StepFailed(name, done.stdout)
        if "id" in step:
            context.steps[step["id"]] = {"outputs": _key_values(outputs.read_text())}
        self.path_additions[:0] = reversed((self.temp / "path").read_text().split())
        self.env_additions.update(_key_values((self.temp / "env").read_text()))


class StepFailed(Exception):
    def __init__(self, name: str, output: str):
        super().__init__(f"step {name!r} failed:\n{output[-4000:]}")
        self.output = output


USES = {"actions/checkout": Machine.checkout, "actions/setup-python": Machine.setup_python,
        "pulumi/actions": Machine.pulumi_actions,
        "actions/upload-artifact": Machine.upload_artifact}


def _key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's and GITHUB_ENV's `name=value` lines (the heredoc form is not used)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def run_job(workflow: Path, job_name: str, machine: Machine, context: Context,
            before: Optional[dict[str, Callable[[], None]]] = None,
            not_here: Optional[dict[str, str]] = None) -> dict:
    """Runs one job's steps on `machine`; returns the job's outputs. `before`: what to do
    before the step of that name; `not_here`: steps that cannot run here, each with why."""
    job = yaml.safe_load(workflow.read_text())["jobs"][job_name]
    if job.get("runs-on") != RUNNER_IMAGE:
        raise Unsupported(f"{workflow.name} {job_name} runs on {job.get('runs-on')}")
    if not condition(job.get("if"), context):
        return {"skipped": True}
    for step in job["steps"]:
        name = step.get("name", step.get("uses"))
        if not condition(step.get("if"), context):
            machine.log.append(f"--- {name}: skipped by its if:")
            continue
        if name in (not_here or {}):
            machine.log.append(f"--- {name}: not run here: {not_here[name]}")
            continue
        (before or {}).get(name, lambda: None)()
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action not in USES:
                raise Unsupported(f"action {action}")
            USES[action](machine, step, context)
        else:
            machine.run_step(step, job.get("env", {}), context)
    return {name: expand(value, context) for name, value in job.get("outputs", {}).items()}


def runner_path() -> str:
    """PATH of a runner-like machine: the system's folders, none of this project's."""
    return os.pathsep.join(p for p in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                       "/usr/bin", "/sbin", "/bin") if Path(p).is_dir())


def python_version() -> str:
    return "%d.%d" % sys.version_info[:2]
