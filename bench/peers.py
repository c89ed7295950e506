"""Side by side with the tools operators use today, on the same work and the same Keycloak:
OpenTofu with terraform-provider-keycloak (bench/peers/netbird.tf) and Keycloak's own realm
import, against this program's `make up`/`make preview` (the netbird-keycloak command) and its
fleet.

    .venv/bin/python -m bench.peers [--runs 5] [--sizes 10,50] [--parallel 4]   (make bench-peers)

Everything runs against one native Keycloak started for the benchmark. Prints a table of
medians (seconds, ratios to the floors and to tofu, peak memory) and whether each aim is met.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from pulumi import automation as auto

from bench import peer_tools
from bench.floor import floor_once
from bench.measure import measured, scratch
from netbird_keycloak import ROOT
from netbird_keycloak import stack as driver
from foundation.keycloak_admin import KeycloakAdmin
from tests.fixtures import project as scratch_project
from tests.fixtures.local_keycloak import NativeKeycloak

DOMAIN = "netbird.bench.test"
SEALED = "tofu, state encrypted"  # the peer with this program's guarantee (peer_tools.Tofu)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Ours:
    """This program as an operator runs it: the netbird-keycloak command (`make up` without the
    bootstrap) on stacks of a scratch project in existing-Keycloak mode."""

    def __init__(self, work: Path, keycloak: NativeKeycloak):
        self.work, self.keycloak = work, keycloak
        scratch_project.lay_out(work)

    def stack(self, name: str, realm: str) -> auto.Stack:
        (self.work / "stacks" / f"Pulumi.{name}.yaml").write_text(
            "config:\n"
            f"  netbird:domain: {DOMAIN}\n"
            f"  netbird:realm: {realm}\n"
            "  netbird:protectRealm: 'false'\n"
            "  keycloak:deploy: 'false'\n"
            f"  keycloak:url: {self.keycloak.url}\n")
        stack = driver.open_stack(name, self.work, program=None)
        driver.set_secret(stack, "keycloak:adminPassword", self.keycloak.admin_password)
        return stack

    def run(self, command: str, name: str, profile: Path | None = None) -> float:
        argv = [sys.executable, "-m", "netbird_keycloak.cli", command, "--stack", name,
                "--work-dir", str(self.work), "--out", str(self.work / "out")] + \
            (["--profile", str(profile)] if profile else [])
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{command} of {name} failed:\n{done.stdout[-2000:]}"
                             f"{done.stderr[-2000:]}")
        return elapsed


def single_stack(runs: int, keycloak: NativeKeycloak, admin: KeycloakAdmin, work: Path,
                 tofu: peer_tools.Tofu, sealed: peer_tools.Tofu) -> dict[str, list[float]]:
    """Cold apply, no-op plan/preview and one change, each tool on its own realm per run;
    `sealed`: tofu with its state encrypted, as this program's is."""
    ours = Ours(work / "ours", keycloak)
    template = peer_tools.realm_import_template(admin)
    empty = driver.open_stack("empty", _empty_project(work), program=lambda: None,
                              project="netbird-keycloak-empty")
    samples: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    for i in range(runs):
        add("floor A: Admin REST script", floor_once(admin, f"floor-a-{i}"))
        add("floor B: one realm import", peer_tools.import_realm(admin, template, f"floor-b-{i}",
                                                                  DOMAIN))
        add("empty program up (engine start-up)", timed(lambda: empty.up(color="never")))
        workspace = f"t{i}"
        add("tofu apply (cold)", tofu.apply(workspace, realm=f"tofu-{i}"))
        add(f"{SEALED} apply (cold)", sealed.apply(workspace, realm=f"sealed-{i}"))
        stack = ours.stack(f"o{i}", f"ours-{i}")
        profile = work / f"profile-{i}.json"
        add("our up (cold)", ours.run("up", stack.name, profile))
        for phase, at in json.loads(profile.read_text()).items():
            add(f"profile: {phase}", at)
        add("tofu plan (no changes)", tofu.plan(workspace, realm=f"tofu-{i}"))
        add(f"{SEALED} plan (no changes)", sealed.plan(workspace, realm=f"sealed-{i}"))
        add("our preview (no changes)", ours.run("preview", stack.name))
        alone(add, stack)
        add("tofu apply (one change)", tofu.apply(workspace, realm=f"tofu-{i}",
                                                  pkce_ports=[53000, 54000]))
        add(f"{SEALED} apply (one change)", sealed.apply(workspace, realm=f"sealed-{i}",
                                                        pkce_ports=[53000, 54000]))
        stack.set_config("netbird:pkcePorts", auto.ConfigValue("[53000, 54000]"))
        add("our up (one change)", ours.run("up", stack.name))
        print(f"run {i + 1}/{runs}: " + ", ".join(
            f"{k.split(' (')[0]} {v[-1]:.2f}" for k, v in samples.items()), flush=True)
        tofu.destroy(workspace, realm=f"tofu-{i}")
        sealed.destroy(workspace, realm=f"sealed-{i}")
        ours.run("destroy", stack.name)
    return samples


def alone(add: Callable[[str, float], None], stack: auto.Stack) -> None:
    """The parts of the profile that are measured on their own."""
    add("alone: python start and imports", timed(lambda: subprocess.run(
        [sys.executable, "-c", "import netbird_keycloak.stack"], check=True)))
    add("alone: bootstrap check", timed(lambda: subprocess.run(
        ["bash", str(ROOT / "scripts/bootstrap.sh"), "--stack", "dev"], check=True,
        capture_output=True)))
    add("alone: preview with policy pack (language host)", timed(lambda: stack.preview(
        color="never", policy_packs=driver.POLICY_PACKS)))
    add("alone: preview without policy pack (language host)",
        timed(lambda: stack.preview(color="never")))


def _empty_project(work: Path) -> Path:
    folder = work / "empty-project"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fleets(sizes: list[int], runs: int, parallel: int, keycloak: NativeKeycloak,
           admin: KeycloakAdmin, work: Path, tofu: peer_tools.Tofu, sealed: peer_tools.Tofu
           ) -> list[tuple[int, str, float, int, float, int]]:
    """(N, tool and mode, median seconds, median peak RSS bytes, median CPU seconds, median
    peak PSS bytes) for N customer realms."""
    names = [f"c{i:03d}" for i in range(max(sizes))]
    ours = Ours(work / "fleet", keycloak)
    for name in names:
        ours.stack(name, name)
    state = Path(os.environ["PULUMI_BACKEND_URL"][len("file://"):])
    results = []
    for size in sizes:
        modes = {
            "tofu, sequential": lambda n: tofu.fleet(n, 1),
            f"tofu, xargs -P {parallel}": lambda n: tofu.fleet(n, parallel),
            f"{SEALED}, xargs -P {parallel}": lambda n: sealed.fleet(n, parallel),
            f"ours, fleet --parallel {parallel}": lambda n: measured(
                [sys.executable, "-m", "netbird_keycloak.fleet", "up", "--stacks",
                 ",".join(n), "--parallel", str(parallel), "--work-dir", str(ours.work),
                 "--out", str(ours.work / "out")]),
        }
        for mode, run in modes.items():
            times, peaks, cpus, psses = [], [], [], []
            for i in range(runs):
                for name in names[:size]:  # every run creates every realm afresh
                    admin("DELETE", f"/{name}")
                tofu.forget(names[:size])
                sealed.forget(names[:size])
                _forget_stacks(state, ours.work, names[:size])
                elapsed, peak, code, cpu, peak_pss = run(names[:size])
                if code != 0:
                    raise SystemExit(f"{mode} of {size} stacks failed (work dir {work})")
                times.append(elapsed)
                peaks.append(peak)
                cpus.append(cpu)
                psses.append(peak_pss)
                print(f"N={size:3} {mode:28} run {i + 1}: {elapsed:6.1f} s, peak "
                      f"{peak / 2**20:6.0f} MiB RSS, {peak_pss / 2**20:6.0f} MiB PSS, CPU "
                      f"{cpu:6.1f} s", flush=True)
            results.append((size, mode, statistics.median(times), int(statistics.median(peaks)),
                            statistics.median(cpus), int(statistics.median(psses))))
    return results


def _forget_stacks(state: Path, work: Path, names: list[str]) -> None:
    """A fresh deployment per run: the stacks' state goes, their stack files stay."""
    for name in names:
        for found in state.glob(f".pulumi/stacks/*/{name}.json*"):
            found.unlink()


def report(single: dict[str, list[float]], fleet: list[tuple[int, str, float, int, float, int]],
           init_seconds: float, parallel: int) -> None:
    med = {k: statistics.median(v) for k, v in single.items()}
    floor_a = med["floor A: Admin REST script"]
    print(f"\n`tofu init` (not timed below): {init_seconds:.2f} s")
    print(f"\n{'what':40} {'median s':>9} {'/ floor A':>10} {'/ tofu':>8} {'/ sealed':>9}"
          "  runs (s)")
    for name, values in single.items():
        if name.startswith("profile: ") or name.startswith("alone: "):
            continue
        ratios = [f"{med[name] / med[peer]:.2f}x" if peer in med else ""
                  for peer in (PEER.get(name, "-"), PEER.get(name, "-").replace("tofu", SEALED))]
        print(f"{name:41} {med[name]:8.2f} {med[name] / floor_a:9.1f}x {ratios[0]:>8} "
              f"{ratios[1]:>9}  " + " ".join(f"{v:.2f}" for v in values))
    print(f"\n{'N':>3}  {'tool, mode':34} {'median s':>9} {'s/stack':>8} {'CPU s/stack':>12} "
          f"{'peak MiB RSS':>13} {'PSS':>6} {'MiB PSS/stack in flight':>24}")
    for size, mode, seconds, peak, cpu, peak_pss in fleet:
        flight = 1 if "sequential" in mode else parallel
        print(f"{size:3}  {mode:34} {seconds:9.1f} {seconds / size:8.2f} {cpu / size:12.2f} "
              f"{peak / 2**20:13.0f} {peak_pss / 2**20:6.0f} {peak_pss / 2**20 / flight:24.0f}")
    aims(med, fleet, parallel)


AIMS = (  # (what, ours, the peer, the most ours may take, as a multiple of the peer)
    ("new-stack up / tofu apply", "our up (cold)", "tofu apply (cold)", 1.5),
    ("no-op preview / tofu plan", "our preview (no changes)", "tofu plan (no changes)", 2.0),
    ("one change / tofu apply", "our up (one change)", "tofu apply (one change)", 2.0),
)
PEER = {ours: peer for _, ours, peer, _ in AIMS}


def aims(med: dict[str, float], fleet: list[tuple[int, str, float, int, float, int]],
         parallel: int) -> None:
    """Each aim of issue #19 against tofu as it runs by default, then against tofu given this
    program's guarantee (its state encrypted): the aims are judged on the first."""
    largest = max(size for size, *_ in fleet)
    by_mode = {mode: (seconds, peak_pss, cpu / size) for size, mode, seconds, _, cpu, peak_pss
               in fleet if size == largest}
    ours_fleet = by_mode[f"ours, fleet --parallel {parallel}"]

    before = json.loads((Path(__file__).parent / "peers_before.json").read_text())

    def line(what: str, ours: float, peer: float, limit: float, unit: str = "s") -> None:
        ratio = ours / peer
        earlier = before["ratios"].get("fleet" if what.startswith("fleet") else what) \
            if against_plain_tofu else None
        print(f"{what:44} {ours:7.2f}{unit} {peer:7.2f}{unit} {ratio:6.2f}x "
              f"{f'{earlier:.2f}x' if earlier else '':>7} {limit:5.1f}x  "
              + ("met" if ratio <= limit else "missed"))

    print(f"\n(before: {before['measured']})")
    for peer in ("tofu", SEALED):
        against_plain_tofu = peer == "tofu"  # the before figures are against plain tofu
        print(f"\n{'aim, against ' + peer:44} {'ours':>8} {'peer':>8} {'ratio':>7} "
              f"{'before':>7} {'aim':>6}")
        for what, ours, against, limit in AIMS:
            line(what, med[ours], med[against.replace("tofu", peer, 1)], limit)
        seconds, peak_pss, cpu = by_mode[f"{peer}, xargs -P {parallel}"]
        line(f"fleet N={largest} -P {parallel} / xargs -P {parallel}", ours_fleet[0], seconds,
             2.0)
        line("memory (PSS) per stack in flight (MiB)", ours_fleet[1] / parallel / 2**20,
             peak_pss / parallel / 2**20, 2.0, " ")
        print(f"(what bounds the fleet on {os.cpu_count()} cores: CPU seconds per stack, ours "
              f"{ours_fleet[2]:.2f} against {cpu:.2f}, {ours_fleet[2] / cpu:.1f}x)")
    profile(med)


def profile(med: dict[str, float]) -> None:
    """Where a new stack's `up` spends its time (medians; each phase ends at the time shown)."""
    print("\nprofile of our new-stack up (median end of each phase, s since the command "
          "started)")
    print(f"{'  python start and imports (alone)':60} "
          f"{med['alone: python start and imports']:6.2f}")
    print(f"{'  bootstrap check, warm (alone; make up runs it first)':60} "
          f"{med['alone: bootstrap check']:6.2f}  (before: "
          f"{json.loads((Path(__file__).parent / 'peers_before.json').read_text())['bootstrap check, warm (s)']:.2f})")
    previous = 0.0
    for phase in sorted((k for k in med if k.startswith("profile: ")), key=med.get):
        print(f"  {phase[len('profile: '):]:58} {med[phase]:6.2f}  (+{med[phase] - previous:.2f})")
        previous = med[phase]
    print(f"{'  policy pack alone: no-op preview with it - without it':60} "
          f"{med['alone: preview with policy pack (language host)'] - med['alone: preview without policy pack (language host)']:6.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10,50")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    work = scratch("bench-peers-")
    keycloak = NativeKeycloak(18480, 19400, work / "keycloak.log").wait_ready()
    print(f"native Keycloak ready after {keycloak.ready_after:.1f} s", flush=True)
    admin = KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    try:
        tofu = peer_tools.Tofu(work / "tofu", keycloak, DOMAIN)
        sealed = peer_tools.Tofu(work / "tofu-sealed", keycloak, DOMAIN, encrypted=True)
        single = single_stack(args.runs, keycloak, admin, work, tofu, sealed)
        fleet = fleets([int(s) for s in args.sizes.split(",")], args.runs, args.parallel,
                       keycloak, admin, work, tofu, sealed)
    finally:
        keycloak.stop()
    report(single, fleet, tofu.init_seconds, args.parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
