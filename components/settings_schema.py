"""The machinery under components/settings.py: how a declared setting becomes a validated value,
a problem message with its fix, a row of the README's settings table, or a line of
`make settings`. Nothing here names a particular setting.

A setting is a pydantic field whose alias is its stack key (`keycloak:httpPort`), declared with
`setting(...)`: default, bounds, one example and a one-line meaning. Rules that involve two
settings are validators on the later field, which see the earlier ones in `info.data`, so that
every problem of a stack is found in one pass. A rule that blames another key than the one
being validated says so (`problem(..., key=...)`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

NAMESPACES = ("netbird:", "keycloak:", "docker:")


@dataclass(frozen=True)
class RawValue:
    """One configuration value as the stack holds it: the text, and whether it is a secret."""

    text: str
    secret: bool = False


class Section(BaseModel):
    """A group of settings: frozen, validated from stack keys, secrets kept out of repr."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_alias=True,
                              validate_by_name=False)


def setting(default: Any = ..., *, key: str, meaning: str, example: str,
            secret: bool = False, shown_default: Optional[str] = None,
            ge: Optional[int] = None, le: Optional[int] = None) -> Any:
    """Declares one setting. `shown_default` is how the README shows a default that is derived
    from other values (`keycloak-<stack>`): such a default is None here and filled in by the
    field's validator. Defaults are validated too, so that a rule between two settings holds
    whichever of them is left at its default."""
    return Field(default, alias=key, description=meaning, ge=ge, le=le, repr=not secret,
                 validate_default=True,
                 json_schema_extra={"example": example, "secret": secret,
                                    "shown_default": shown_default})


def problem(why: str, *, example: Optional[str] = None, key: Optional[str] = None,
            remove: bool = False) -> PydanticCustomError:
    """What a validator raises: why the value is wrong, and optionally a better example for the
    fix, another key to blame (a rule between two settings), or that the fix is removing it."""
    return PydanticCustomError("setting", "{why}",
                               {"why": why, "example": example, "key": key, "remove": remove})


def _fields(model: type[Section]) -> dict[str, Any]:
    return {f.alias: f for f in model.model_fields.values()}


def _extra(field: Any) -> dict:
    return field.json_schema_extra or {}


def fix(key: str, field: Any, stack: str, example: Optional[str] = None) -> str:
    if _extra(field).get("secret"):
        # No value on the command line, where every local user can read it: the CLI asks.
        return f"pulumi config set --secret {key} --stack {stack} (it asks for the value)"
    return f"pulumi config set {key} {example or _extra(field)['example']} --stack {stack}"


def _why(error: dict, field: Any) -> str:
    """Pydantic's error for a value, in the words the rest of the messages use."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    low, high = _bounds(field)
    if kind == "setting":
        return ctx["why"]
    if kind == "missing":
        return "is required and not set" + (
            " (`make up` generates it)" if _extra(field).get("secret") else "")
    if kind == "int_parsing":
        return f"must be a whole number from {low} to {high}, not {given!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be from {low} to {high}, not {given}"
    if kind == "literal_error":
        return f"must be {ctx['expected'].replace(chr(39), '')}, not {given!r}"
    return error["msg"]


def _bounds(field: Any) -> tuple[Any, Any]:
    low = high = None
    for rule in field.metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def validate(model: type[Section], raw: Mapping[str, RawValue], stack: str,
             context: Optional[dict] = None) -> tuple[Optional[Section], list[str]]:
    """The section's settings from the raw stack configuration, or None and every problem."""
    fields, problems, data = _fields(model), [], {}
    for key, field in fields.items():
        value = raw.get(key)
        if value is None or value.text == "":
            continue
        if _extra(field).get("secret"):
            if not value.secret:
                problems.append(f"{key}: is stored in plain text in the stack file; store it as "
                                f"a secret. Fix: {fix(key, field, stack)}")
        elif value.text != value.text.strip() or any(
                ord(c) < 32 or c == "\x7f" for c in value.text):
            problems.append(f"{key}: has surrounding white space or a control character. "
                            f"Fix: {fix(key, field, stack)}")
            continue
        data[key] = value.text
    try:
        section = model.model_validate(data, context={"stack": stack, **(context or {})})
    except ValidationError as error:
        # A default that failed its validator is located by field name, a given value by key.
        keys = {name: f.alias for name, f in model.model_fields.items()}
        for item in error.errors():
            named = keys.get(str(item["loc"][0]), str(item["loc"][0]))
            ctx = item.get("ctx") or {}
            key = ctx.get("key") or named
            remedy = f"pulumi config rm {key} --stack {stack}" if ctx.get("remove") else \
                fix(key, fields[key], stack, ctx.get("example"))
            problems.append(f"{key}: {_why(item, fields[named])}. Fix: {remedy}")
        return None, problems
    return (None if problems else section), problems


def unknown_keys(raw: Mapping[str, RawValue], models: list[type[Section]], stack: str
                 ) -> list[str]:
    """Keys in our namespaces that no section declares: typos, reported with the closest key."""
    known = [key for model in models for key in _fields(model)]
    problems = []
    for key in raw:
        if key.startswith(NAMESPACES) and key not in known:
            close = _closest(key, known)
            hint = f" (did you mean {close}?)" if close else ""
            problems.append(f"{key}: is not a setting of this program{hint}. "
                            f"Fix: pulumi config rm {key} --stack {stack}")
    return problems


def _closest(key: str, known: list[str]) -> Optional[str]:
    """The known key whose name (after the namespace, case aside) is nearest to a typo."""
    names = {k.split(":", 1)[1].lower(): k for k in known}
    close = difflib.get_close_matches(key.split(":", 1)[1].lower(), names, n=1, cutoff=0.7)
    return names[close[0]] if close else None


def rows(model: type[Section]) -> list[tuple[str, str, str]]:
    """(key, default as the README shows it, meaning) for each setting of the section."""
    table = []
    for key, field in _fields(model).items():
        extra = _extra(field)
        if extra.get("shown_default"):
            default = extra["shown_default"]
        elif extra.get("secret"):
            default = "generated" if field.is_required() is False else "required"
        elif field.is_required():
            default = "required"
        elif field.default is None:
            default = "unset"
        else:
            default = f"`{_shown(field.default)}`"
        low, high = _bounds(field)
        meaning = field.description + (f" ({low}-{high})" if low is not None else "")
        table.append((f"`{key}`", default, meaning))
    return table


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def effective(section: Section, raw: Mapping[str, RawValue]) -> list[tuple[str, str, str]]:
    """(key, value in force, where it came from) for `make settings`; secrets masked."""
    lines = []
    for name, field in type(section).model_fields.items():
        key, value = field.alias, getattr(section, name)
        secret = _extra(field).get("secret")
        source = "stack file" if key in raw and raw[key].text != "" else "default"
        shown = "[secret]" if secret and value else _shown(value if value is not None else "")
        lines.append((key, shown or "(unset)", source))
    return lines
