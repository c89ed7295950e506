"""A stack's settings with their secrets, as a command outside the program needs them (rotation,
`make admin-user`, the tests): the stack file's, and those the program generated and keeps in
the state (components/stack_secrets.py)."""

from __future__ import annotations

import json
from typing import Optional

from pulumi import automation as auto

from components.adoption import live
from components.settings import RawValue, Settings, SettingsError, parse_settings
from components.stack_secrets import STASH_TYPE, STASHES


def _parsed(raw: dict[str, RawValue], stack: str) -> Optional[Settings]:
    try:
        return parse_settings(raw, stack)
    except SettingsError:
        return None  # the program reports them, before anything is touched


def decrypted_settings(stack: auto.Stack) -> Optional[Settings]:
    """The stack's settings with their secrets, those the program generated read back from the
    state; None when they are not valid."""
    raw = {key: RawValue(str(value.value), value.secret)
           for key, value in stack.get_all_config().items()}
    if any(key not in raw for key in STASHES):
        kept = kept_secrets(stack.export_stack().deployment.get("resources") or [])
        raw.update({key: RawValue(value, secret=True) for key, value in kept.items()
                    if key not in raw})
    return _parsed(raw, stack.name)


def kept_secrets(resources: list[dict]) -> dict[str, str]:
    """The secrets the program generated and keeps in the state (components/stack_secrets.py),
    by the setting that would choose them, from a state export with its secrets shown."""
    keys = {name: key for key, name in STASHES.items()}
    found = {}
    for resource in live(resources):
        name = resource["urn"].rsplit("::", 1)[-1]
        value = (resource.get("outputs") or {}).get("output")
        if resource.get("type") == STASH_TYPE and name in keys and value is not None:
            found[keys[name]] = state_value(value)
    return found


def state_value(value):
    """A value of a state export with secrets shown: a secret comes as its JSON plaintext."""
    return json.loads(value["plaintext"]) if isinstance(value, dict) and "plaintext" in value \
        else value
