"""Prints the safety figures: guardrail policies, bad inputs refused, secret scan.

    make safety-report

Bad inputs are counted now (the catalogue in tests/unit/test_settings.py through the settings
validation, pure and fast). Policies and the secret scan come from the last end-to-end run, which
records them in out/safety/ (run `make test-e2e` first); a figure with no record says so.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Optional

from netbird_keycloak import ROOT

RECORDS = ROOT / "out" / "safety"


def record(name: str) -> dict | None:
    path = RECORDS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def save(name: str, data: dict) -> None:
    """Called by the end-to-end tests to record what they measured."""
    RECORDS.mkdir(parents=True, exist_ok=True)
    data = dict(data, recorded_at=datetime.now().isoformat(timespec="seconds"))
    (RECORDS / f"{name}.json").write_text(json.dumps(data, indent=2))


# What tests/e2e/test_hardening.py and test_security.py check against a real Keycloak, each
# recorded when it passes.
HARDENING = (
    "no temporary admin after make up",
    "later ups and previews without the bootstrap password",
    "drift of the realm's protections repaired",
    "token and session lifetimes set; master realm brute-force detection, password policy and kept events",
    "brute-force detection locks after the configured failures",
    "password policy refuses weak and reused passwords",
    "login and admin events stored with an expiry",
    "backend secret rotated: old refused, new reads users",
    "admin client secret rotated: old refused, new logs in",
    "user password rotated: old refused, new logs in",
    "a permanent admin for a person (make admin-user)",
    "no secret in argv, environments or docker inspect",
    "host mode: only the bind address answers",
    "X-Forwarded-For believed from trusted proxies only",
    "user password rotation killed after each step converges",
    "admin client secret rotation killed after each step converges",
    "a customer's account: 403 on other realms and the master realm's accounts",
)


def bad_inputs() -> tuple[int, int]:
    from components.settings import SettingsError

    from tests.unit import test_settings as catalogue  # the unit tests' catalogue

    BAD, POSTGRES, POSTGRES_BAD, parse = (catalogue.BAD, catalogue.POSTGRES,  # noqa: N806
                                          catalogue.POSTGRES_BAD, catalogue.parse)

    cases = [({}, case) for case in BAD] + [(POSTGRES, case) for case in POSTGRES_BAD]
    refused = 0
    for base, (key, value, _) in cases:
        try:
            parse(**{**base, key.replace(":", "__"): value})
        except SettingsError as error:
            refused += any(p.startswith(f"{key}:") for p in error.problems)
    return refused, len(cases)


def main(argv: Optional[list[str]] = None) -> int:  # noqa: ARG001 - takes no arguments
    rows = []
    policies = record("policies")
    rows.append(("guardrail policies firing on a real preview",
                 f"{len(policies['fired'])} of {policies['total']}" if policies
                 else "no record: run make test-e2e",
                 policies["recorded_at"] if policies else ""))
    refused, total = bad_inputs()
    rows.append(("bad settings refused before any resource, key named",
                 f"{refused} of {total}", "now"))
    scan = record("secret-scan")
    rows.append(("secrets found in plain text (state, engine output, stack files, repository)",
                 f"{len(scan['leaks'])} in {scan['places']} places scanned" if scan
                 else "no record: run make test-e2e",
                 scan["recorded_at"] if scan else ""))
    faults = record("faults")
    rows.append(("faults survived (of: engine unreachable, older state, slow start, Keycloak "
                 "stopped mid-up)",
                 f"{len(faults['survived'])} of 4" if faults else "no record: run make test-e2e",
                 faults["recorded_at"] if faults else ""))
    hardening = record("hardening")
    passed = [c for c in (hardening or {}).get("passed", []) if c in HARDENING]
    rows.append(("hardening checks passed on a real Keycloak (tests/e2e)",
                 f"{len(passed)} of {len(HARDENING)}" if hardening
                 else "no record: run make test-e2e",
                 hardening["recorded_at"] if hardening else ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'check':{width}}  {'result':34}  measured")
    for what, result, when in rows:
        print(f"{what:{width}}  {result:34}  {when}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
