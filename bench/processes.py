"""Where the CPU time and the memory of one stack's commands go, process by process: what bounds
the aims of `make bench-peers` (docs/benchmarks.md).

    .venv/bin/python -m bench.processes [--runs 3] [--fleet 8]     (make bench-processes)

On one native Keycloak, for each run a new stack in existing-Keycloak mode: `up`, then a no-op
`preview`, each as `make up`/`make preview` run them (the netbird-keycloak command in a process
of its own); then `fleet up` of `--fleet` new stacks, parallel 2. A sampler reads /proc every
10 ms: per process its CPU seconds (user + system) and its peak PSS (shared pages divided among
the processes that share them). Prints medians by kind of process; for the fleet, per stack.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from bench.measure import pss, scratch, tree
from bench.peers import Ours
from tests.fixtures.local_keycloak import NativeKeycloak

TICK = os.sysconf("SC_CLK_TCK")
KINDS = (  # (kind, what its command line holds), first match wins
    ("Pulumi CLI and engine", "/bin/pulumi "),
    ("keycloak provider plugin", "pulumi-resource-keycloak"),
    ("dynamic provider (Python)", "pulumi.dynamic"),
    ("driver and program (Python)", "netbird_keycloak.cli"),
    ("stacks forked from the fleet's server", "multiprocessing.forkserver"),
    ("fleet", "netbird_keycloak.fleet"),
)


def kind(command: str) -> str:
    return next((name for name, mark in KINDS if mark in command), "other")


def sampled(argv: list[str]) -> tuple[float, dict[str, float], dict[str, int]]:
    """Runs `argv`; its wall seconds, and CPU seconds and peak PSS bytes summed by kind."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, tuple[str, float, int]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in tree(process.pid):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / TICK
                old = seen.get(pid, ("", 0.0, 0))
                seen[pid] = (old[0] or kind(command.decode(errors="replace")),
                             max(cpu, old[1]), max(pss(pid), old[2]))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    process.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed")
    cpu: dict[str, float] = defaultdict(float)
    memory: dict[str, int] = defaultdict(int)
    for name, seconds, size in seen.values():
        cpu[name] += seconds
        memory[name] += size
    return elapsed, cpu, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=8)
    args = parser.parse_args()
    work = scratch("bench-processes-")
    keycloak = NativeKeycloak(18580, 19500, work / "keycloak.log").wait_ready()
    results: dict[str, list] = defaultdict(list)
    try:
        ours = Ours(work / "ours", keycloak)
        for i in range(args.runs):
            stack = ours.stack(f"p{i}", f"proc-{i}")
            for command in ("up", "preview"):
                results[command].append(sampled(
                    [sys.executable, "-m", "netbird_keycloak.cli", command, "--stack",
                     stack.name, "--work-dir", str(ours.work), "--out", str(ours.work / "out")]))
            names = [f"f{i}-{n}" for n in range(args.fleet)]
            for name in names:
                ours.stack(name, name)
            results[f"fleet up, {args.fleet} stacks, parallel 2 (per stack)"].append(sampled(
                [sys.executable, "-m", "netbird_keycloak.fleet", "up", "--stacks",
                 ",".join(names), "--parallel", "2", "--work-dir", str(ours.work),
                 "--out", str(ours.work / "out")]))
            print(f"run {i + 1}/{args.runs} done", flush=True)
    finally:
        keycloak.stop()
    for command, samples in results.items():
        per = args.fleet if command.startswith("fleet") else 1
        wall = statistics.median(s[0] for s in samples)
        print(f"\n{command}: wall {wall:.2f} s (median of {len(samples)})")
        print(f"  {'process':40} {'CPU s':>7} {'peak PSS MiB':>13}")
        kinds = sorted({k for s in samples for k in s[1]},
                       key=lambda k: -statistics.median(s[1].get(k, 0) for s in samples))
        for name in kinds:
            cpu = statistics.median(s[1].get(name, 0.0) for s in samples) / per
            memory = statistics.median(s[2].get(name, 0) for s in samples) / 2**20 / per
            print(f"  {name:40} {cpu:7.2f} {memory:13.0f}")
        total = statistics.median(sum(s[1].values()) for s in samples) / per
        print(f"  {'all':40} {total:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
