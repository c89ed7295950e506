"""The guardrails, in the program: every resource the program registers is judged by the rules
of foundation/policy_rules.py before the engine acts on it, in every `pulumi up` and
`pulumi preview`, typed by hand or run by `make`, with or without `--policy-pack`. A mandatory
rule fails the command with its problem named, before the resource is applied; an advisory one
warns.

The policy pack `policy/` runs the same rules, plus the one rule over the whole stack that only a
pack can judge, for `--policy-pack` (pull-request previews, `make preview-md`).
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from foundation.policy_rules import RULES

_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker for a secret value


class GuardrailViolation(Exception):
    """A resource breaks a mandatory guardrail: it is not registered."""


async def plain(value: Any) -> Any:
    """Inputs as the policy pack sees them: an unknown value as Pulumi's unknown marker (not
    judged until it is known), a secret or an Output as its value."""
    if isinstance(value, pulumi.Output):
        return await plain(await value.future()) if await value.is_known() else UNKNOWN
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        if _SECRET_SIG in value and "value" in value:
            return await plain(value["value"])
        return {key: await plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [await plain(item) for item in value]
    return value


def problems(resource_type: str, props: dict, protected: bool, stack: str
             ) -> tuple[list[str], list[str]]:
    """(mandatory, advisory) problems of one resource, each prefixed with its rule's name."""
    mandatory, advisory = [], []
    for rule in RULES:
        for problem in rule.problems(resource_type, props, protected, stack):
            (advisory if rule.advisory else mandatory).append(f"[{rule.name}] {problem}")
    return mandatory, advisory


async def judge(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    """A stack transform: changes nothing. Each problem is logged as an error, then the
    resource is refused, so the command fails before the engine applies it (errors logged alone
    would let a preview pass). Resources registered at the same time are judged too; the policy
    pack lists every violation of the whole stack at once."""
    mandatory, advisory = problems(args.type_, await plain(args.props),
                                   bool(args.opts.protect), pulumi.get_stack())
    for problem in advisory:
        pulumi.log.warn(f"guardrail (advisory) on {args.type_} {args.name}: {problem}")
    for problem in mandatory:
        pulumi.log.error(f"guardrail violated by {args.type_} {args.name}: {problem}")
    if mandatory:
        raise GuardrailViolation(f"{args.type_} {args.name} is not applied: it breaks "
                                 f"{len(mandatory)} guardrail(s), named above")
    return None


def register() -> None:
    """Judges every resource registered after this call."""
    pulumi.runtime.register_resource_transform(judge)
