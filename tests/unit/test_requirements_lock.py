"""requirements.lock, which the bootstrap installs with --require-hashes, says what the
requirement files say: each pinned version there, every package with a hash (`make lock`)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


def test_the_lock_holds_every_pin_of_the_requirement_files_at_its_version():
    locked = pins((ROOT / "requirements.lock").read_text())
    wanted = pins((ROOT / "requirements.txt").read_text())
    wanted |= pins((ROOT / "requirements-dev.txt").read_text())
    wanted |= pins((ROOT / "pyproject.toml").read_text().replace('"', "\n"))  # setuptools
    assert wanted and {k: locked.get(k) for k in wanted} == wanted, "run `make lock`"


def test_every_locked_package_carries_its_hashes():
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text())
    entries = [e for e in entries if PIN.match(e)]
    assert len(entries) > 20
    assert [e.split()[0] for e in entries if "--hash=sha256:" not in e] == []
