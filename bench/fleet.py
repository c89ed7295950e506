"""Fleet throughput: N customer realms on one shared Keycloak, `fleet up` sequential vs parallel,
with the state in a file backend or in PostgreSQL (Pulumi's DIY postgres:// backend).

    .venv/bin/python -m bench.fleet [--sizes 1,10,50] [--runs 3] [--parallel 4]
                                    [--modes sequential,parallel] [--backends file,postgres]
    (make bench-fleet ARGS='…')

Per size, mode and backend it runs `netbird-keycloak fleet up` on a fresh state backend (a new folder,
or a new table in a state server of this run; realms deleted between runs, outside the timing)
and records wall time and the peak summed RSS of the fleet's process tree (fleet, per-stack
drivers, Pulumi CLIs, provider plugins; not Keycloak, not the state server). Prints medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


from bench.measure import Measured, measured, scratch
from netbird_keycloak import stack as driver
from netbird_keycloak import state_db
from foundation.keycloak_admin import KeycloakAdmin
from tests.fixtures import project as scratch_project
from tests.fixtures.local_keycloak import NativeKeycloak


def fleet_up(work: Path, names: list[str], parallel: int) -> Measured:
    """Wall seconds, peak tree RSS and exit code of one `fleet up`."""
    return measured([sys.executable, "-m", "netbird_keycloak.fleet", "up", "--stacks",
                     ",".join(names), "--parallel", str(parallel), "--work-dir", str(work),
                     "--out", str(work / "out")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--modes", default="sequential,parallel")
    parser.add_argument("--backends", default="file,postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [("sequential", 1) if m == "sequential" else (f"parallel {args.parallel}",
                                                          args.parallel)
             for m in args.modes.split(",")]
    backends = args.backends.split(",")
    work = scratch("bench-fleet-")
    scratch_project.lay_out(work)

    keycloak = NativeKeycloak(18280, 19200, work / "keycloak.log").wait_ready()
    admin = KeycloakAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    names = [f"c{i:03d}" for i in range(max(sizes))]
    print(f"native Keycloak ready after {keycloak.ready_after:.1f} s; preparing {len(names)} "
          "customer stacks (secrets encrypted once, reused by every run)", flush=True)
    state = work / "state"
    server_name = f"netbird-keycloak-bench-state-{os.getpid()}"
    server_port = 0
    if "postgres" in backends:
        server_port = 18500 + os.getpid() % 1000
        state_db.start(server_name, server_port, work / "state-db")
    tables = iter(range(10**6))

    def fresh_backend(backend: str = "file"):
        if backend == "postgres":
            os.environ["PULUMI_BACKEND_URL"] = state_db.backend_url(
                server_port, work / "state-db", f"bench_{next(tables)}")
            return
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
        driver.set_secret(stack, "keycloak:adminPassword", keycloak.admin_password)

    results = []
    try:
        for size, (mode, parallel), backend in (
                (n, m, b) for n in sizes for m in modes for b in backends):
                times, peaks = [], []
                for run in range(args.runs):
                    fresh_backend(backend)
                    for name in names[:size]:
                        admin("DELETE", f"/{name}")
                    elapsed, peak, code, *_ = fleet_up(work, names[:size], parallel)
                    if code != 0:
                        raise SystemExit(f"fleet up of {size} stacks failed; logs in "
                                         f"{work}/out")
                    times.append(elapsed)
                    peaks.append(peak)
                    print(f"N={size:3} {mode:10} {backend:8} run {run + 1}: {elapsed:6.1f} s, "
                          f"peak {peak / 2**20:6.0f} MiB", flush=True)
                results.append((size, mode, backend, statistics.median(times),
                                statistics.median(peaks)))
    finally:
        keycloak.stop()
        if server_port:
            state_db.stop(server_name)
            state_db.docker("rm", "-f", server_name, check=False)
            state_db.docker("volume", "rm", "-f", f"{server_name}-data", check=False)
    report(results)
    return 0


def report(results: list[tuple[int, str, str, float, int]]) -> None:
    """The table: per size, mode and backend; speed-up against sequential on the same backend,
    and the database backend's cost per stack against the file backend."""
    print(f"\n{'N':>3}  {'mode':10}  {'backend':8}  {'median s':>9}  {'s/stack':>8}  "
          f"{'peak MiB':>9}  {'speed-up':>8}  {'vs file':>8}")
    seconds_of = {(n, m, b): s for n, m, b, s, _ in results}
    for size, mode, backend, seconds, peak in results:
        sequential = seconds_of.get((size, "sequential", backend))
        file = seconds_of.get((size, mode, "file"))
        print(f"{size:3}  {mode:10}  {backend:8}  {seconds:9.1f}  {seconds / size:8.2f}  "
              f"{peak / 2**20:9.0f}  "
              + (f"{sequential / seconds:7.2f}x" if sequential else f"{'-':>8}") + "  "
              + (f"{(seconds - file) / size:+7.2f}s" if file and backend != "file"
                 else f"{'-':>8}"))
    print("\nvs file: (median on this backend - median on the file backend) / N, the state "
          "database's cost per stack in that fleet run")


if __name__ == "__main__":
    sys.exit(main())
