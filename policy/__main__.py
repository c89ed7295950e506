"""Policy pack `netbird-keycloak-guardrails`: runs in every preview (`make preview`, the fleet,
pull-request previews) and fails it on settings that weaken NetBird's front door.

    pulumi preview --policy-pack policy        (scripts/stack.py passes it by default)
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from netbird_keycloak.policy_rules import POLICIES

PolicyPack(name="netbird-keycloak-guardrails", enforcement_level=EnforcementLevel.MANDATORY,
           policies=POLICIES)
