"""Which stacks the workflows preview or deploy for a change (netbird_keycloak/changed_stacks.py)."""

from netbird_keycloak.changed_stacks import changed_stacks

STACKS = ["acme", "dev", "globex"]


def test_only_the_changed_stack_files():
    assert changed_stacks(["stacks/Pulumi.acme.yaml", "README.md"], STACKS) == ["acme"]


def test_a_program_change_touches_every_stack():
    assert changed_stacks(["components/netbird_realm.py"], STACKS) == STACKS
    assert changed_stacks(["requirements.txt"], STACKS) == STACKS


def test_removed_stacks_and_examples_are_not_deployed():
    paths = ["stacks/Pulumi.gone.yaml", "stacks/Pulumi.acme.yaml.example", ".github/x.yml"]
    assert changed_stacks(paths, STACKS) == []
