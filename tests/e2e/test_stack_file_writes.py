"""Settings written to one stack file at once (two rotations, an operator's `make rotate` while
the fleet writes another stack's secret) are all kept: the writers take turns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import yaml

from tests.e2e import harness


def test_writers_of_one_stack_file_at_once_lose_nothing(project):
    stack = project.stack("writers", {"netbird:domain": "netbird.writers.test"})
    keys = [f"netbird:probe{i}" for i in range(6)]
    with ThreadPoolExecutor(len(keys)) as pool:
        list(pool.map(lambda key: harness.stack_driver.set_setting(stack, key, key[-1]), keys))
    config = yaml.safe_load((project.path / "stacks" / "Pulumi.writers.yaml").read_text())["config"]
    assert {key: config.get(key) for key in keys} == {key: key[-1] for key in keys}
    assert config["netbird:domain"] == "netbird.writers.test"
    assert not list((project.path / "stacks").glob(".*.tmp.yaml"))
