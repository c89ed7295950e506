"""Renders a real `pulumi preview` of one stack as Markdown: what a pull-request comment shows.

    make preview-md STACK=acme            (writes out/acme/preview.md and prints it)

One row per resource that would change: resource, type, operation, and each changed field with
its old and new value. Secret values never appear: they are shown as [secret].
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Optional

from components.pulumi_service_account import DYNAMIC_PROVIDER
from netbird_keycloak import ROOT

# Fields that hold secrets whatever the engine marks: never printed, even where a value is known.
SECRET_FIELDS = {"password", "clientSecret", "initialPassword", "envs", "adminPassword",
                 "userPassword", "jwtSigningKey", "jwtToken", "accessToken"}
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def mask(field: str, value: Any) -> str:
    if field.split(".")[0].split("[")[0] in SECRET_FIELDS:
        return "[secret]"
    if isinstance(value, dict) and _SECRET_SIG in value:
        return "[secret]"
    if value is None:
        return "–"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    if "[secret]" in text or _SECRET_SIG in text:
        return "[secret]"
    return text.replace("|", "\\|").replace("\n", " ")


def _get(values: Optional[dict], path: str) -> Any:
    value: Any = values or {}
    for part in path.replace("]", "").replace("[", ".").split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def steps_from_events(events: Iterable[Any]) -> list[dict]:
    """The changing steps of a preview, from the engine's events, in engine order."""
    steps = []
    for event in events:
        pre = getattr(event, "resource_pre_event", None)
        if not pre or pre.metadata.op.value in ("same", "read"):
            continue
        if pre.metadata.type == DYNAMIC_PROVIDER and pre.metadata.op.value == "update":
            continue  # any config change "updates" it: the engine hands it the whole config
        m = pre.metadata
        old_inputs = m.old.inputs if m.old else {}
        new_inputs = m.new.inputs if m.new else {}
        fields = sorted({path.split(".")[0].split("[")[0]
                         for path in (m.detailed_diff or {})} | set(m.diffs or []))
        steps.append({
            "name": m.urn.split("::")[-1], "type": m.type, "op": m.op.value,
            "fields": [(f, mask(f, _get(old_inputs, f)), mask(f, _get(new_inputs, f)))
                       for f in fields],
        })
    return steps


def render(stack: str, steps: list[dict], counts: dict[str, int]) -> str:
    title = f"### Pulumi preview of `{stack}`"
    if not steps:
        return f"{title}\n\nNo changes.\n"
    summary = ", ".join(f"{n} to {op}" for op, n in sorted(counts.items())
                        if op != "same" and n)
    lines = [title, "", summary, "", "| resource | type | operation | changed fields |",
             "|---|---|---|---|"]
    for s in steps:
        changed = "<br>".join(f"`{f}`: {old} → {new}" for f, old, new in s["fields"]) or "–"
        lines.append(f"| `{s['name']}` | `{s['type']}` | {s['op']} | {changed} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    from components.settings import SettingsError  # noqa: PLC0415
    from netbird_keycloak.stack import POLICY_PACKS  # noqa: PLC0415 - needs the CLI
    from netbird_keycloak.stack import _first_error, auto, open_stack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--work-dir", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args(argv)
    events: list[Any] = []
    stack = open_stack(args.stack, args.work_dir.resolve())
    try:
        result = stack.preview(on_event=events.append, diff=True, color="never",
                               policy_packs=POLICY_PACKS)
    except auto.CommandError as error:  # a message, not the engine's traceback
        why = SettingsError.found_in(str(error)) or _first_error(str(error))
        print(f"preview of stack {args.stack!r} failed: {why}", file=sys.stderr)
        return 1
    text = render(args.stack, steps_from_events(events), dict(result.change_summary))
    path = args.out / args.stack / "preview.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
