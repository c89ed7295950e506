"""Fleet throughput: N customer realms on one shared Keycloak, `fleet up` sequential vs parallel.

    .venv/bin/python bench/fleet.py [--sizes 1,10,50] [--runs 3] [--parallel 4]   (make bench-fleet)

Per size and mode it runs `scripts/fleet.py up` on a fresh state backend (realms deleted between
runs, outside the timing) and records wall time and the peak summed RSS of the fleet's process
tree (fleet, per-stack drivers, Pulumi CLIs, provider plugins; not Keycloak). Prints medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "bench")]

import stack as driver  # noqa: E402
from local_keycloak import KeycloakAdmin, NativeKeycloak  # noqa: E402
from measure import measured, scratch  # noqa: E402
from pulumi import automation as auto  # noqa: E402

def fleet_up(work: Path, names: list[str], parallel: int) -> tuple[float, int, int]:
    """Wall seconds, peak tree RSS and exit code of one `fleet up`."""
    return measured([sys.executable, str(ROOT / "scripts" / "fleet.py"), "up", "--stacks",
                     ",".join(names), "--parallel", str(parallel), "--work-dir", str(work),
                     "--out", str(work / "out")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = scratch("bench-fleet-")
    (work / "stacks").mkdir()
    (work / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())

    keycloak = NativeKeycloak(18280, 19200, work / "keycloak.log").wait_ready()
    admin = KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    names = [f"c{i:03d}" for i in range(max(sizes))]
    print(f"native Keycloak ready after {keycloak.ready_after:.1f} s; preparing {len(names)} "
          "customer stacks (secrets encrypted once, reused by every run)", flush=True)
    state = work / "state"

    def fresh_backend():
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        os.environ["PULUMI_BACKEND_URL"] = f"file://{state}"

    fresh_backend()
    for name in names:
        (work / "stacks" / f"Pulumi.{name}.yaml").write_text(
            "config:\n"
            f"  netbird:domain: netbird.{name}.bench.test\n"
            f"  netbird:realm: {name}\n"
            "  netbird:protectRealm: 'false'\n"
            "  keycloak:deploy: 'false'\n"
            f"  keycloak:url: {keycloak.url}\n")
        stack = driver.open_stack(name, work)
        stack.set_config("keycloak:adminPassword",
                         auto.ConfigValue(keycloak.admin_password, secret=True))
        driver.ensure_secrets(stack)

    results = []
    try:
        for size in sizes:
            for mode, parallel in (("sequential", 1), (f"parallel {args.parallel}",
                                                        args.parallel)):
                times, peaks = [], []
                for run in range(args.runs):
                    fresh_backend()
                    for name in names[:size]:
                        admin("DELETE", f"/{name}")
                    elapsed, peak, code = fleet_up(work, names[:size], parallel)
                    if code != 0:
                        raise SystemExit(f"fleet up of {size} stacks failed; logs in "
                                         f"{work}/out")
                    times.append(elapsed)
                    peaks.append(peak)
                    print(f"N={size:3} {mode:11} run {run + 1}: {elapsed:6.1f} s, peak "
                          f"{peak / 2**20:6.0f} MiB", flush=True)
                results.append((size, mode, statistics.median(times),
                                statistics.median(peaks)))
    finally:
        keycloak.stop()

    print(f"\n{'N':>3}  {'mode':11}  {'median s':>9}  {'s/stack':>8}  {'peak MiB':>9}  "
          f"{'speed-up':>8}")
    sequential = {}
    for size, mode, seconds, peak in results:
        if mode == "sequential":
            sequential[size] = seconds
        speedup = sequential[size] / seconds
        print(f"{size:3}  {mode:11}  {seconds:9.1f}  {seconds / size:8.2f}  "
              f"{peak / 2**20:9.0f}  {speedup:7.2f}x")
    largest = max(sizes)
    best = min(s for n, _, s, _ in results if n == largest)
    print(f"\n{largest} stacks: best {best:.0f} s (aim <= 180 s -> "
          f"{'met' if best <= 180 else 'missed'}); parallel speed-up "
          f"{sequential[largest] / best:.2f}x (aim >= 2x -> "
          f"{'met' if sequential[largest] / best >= 2 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
