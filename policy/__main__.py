"""Policy pack `netbird-keycloak-guardrails`: the guardrails of foundation/policy_rules.py
for `pulumi preview --policy-pack policy` (pull-request previews, `make preview-md`). The program
runs the same per-resource rules itself on every command (components/guardrails.py); the pack
adds the rule over the whole stack and names each policy in the preview.
"""

from pulumi_policy import (EnforcementLevel, PolicyPack, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy)

from foundation.policy_rules import RULES, STACK_RULES, Rule, StackRule, stack_of


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation):
        for problem in rule.problems(args.resource_type, args.props, bool(args.opts.protect),
                                     stack_of(args.urn)):
            report(problem)
    return ResourceValidationPolicy(
        name=rule.name, description=rule.description, validate=validate,
        enforcement_level=EnforcementLevel.ADVISORY if rule.advisory else None)


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation):
        for problem in rule.check([(r.resource_type, r.props) for r in args.resources]):
            report(problem)
    return StackValidationPolicy(name=rule.name, description=rule.description,
                                 validate=validate)


PolicyPack(name="netbird-keycloak-guardrails", enforcement_level=EnforcementLevel.MANDATORY,
           policies=[*map(resource_policy, RULES), *map(stack_policy, STACK_RULES)])
