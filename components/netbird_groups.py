"""NetBirdGroups: Keycloak groups for NetBird's JWT group sync (`netbird:groups`).

The realm gets one group per name, the first user the memberships `netbird:userGroups` names,
and a client scope whose Group Membership mapper puts the user's groups into ID tokens, access
tokens and userinfo as plain names (full path off: NetBird would otherwise create groups called
"/ops"). The clients NetBird logs in with bind the scope as a default scope
(components/netbird_realm.py, components/netbird_connector.py), so no login has to ask for it.
"""

from __future__ import annotations

import pulumi
import pulumi_keycloak as keycloak

from components.adoption import Declared
from components.settings import NetBirdSettings

MAPPER_NAME = "group membership"


def adoptable(name: str, settings: NetBirdSettings) -> list[Declared]:
    """The groups, the scope and its mapper, found again by name (components/adoption.py); the
    memberships are not among them: setting them again is harmless."""
    scope = Declared(f"{name}-scope", "client-scope", settings.groups_claim)
    return [*(Declared(f"{name}-{group}", "group", group) for group in settings.groups), scope,
            Declared(f"{name}-mapper", "scope-mapper", MAPPER_NAME, scope)]


class NetBirdGroups(pulumi.ComponentResource):
    """Outputs: `scope_name`, the client scope to bind as a default scope."""

    scope_name: pulumi.Output[str]

    def __init__(self, name: str, settings: NetBirdSettings, realm_id: pulumi.Input[str],
                 user_id: pulumi.Input[str], provider: keycloak.Provider,
                 opts: pulumi.ResourceOptions = None):
        super().__init__("netbird:index:NetBirdGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        groups = {group: keycloak.Group(f"{name}-{group}", realm_id=realm_id, name=group,
                                        opts=child)
                  for group in settings.groups}
        # Exhaustive: the user is in exactly these groups, as the stack file says.
        keycloak.UserGroups(f"{name}-memberships", realm_id=realm_id, user_id=user_id,
                            group_ids=[groups[g].id for g in settings.member_of],
                            exhaustive=True, opts=child)
        self.scope = keycloak.openid.ClientScope(
            f"{name}-scope", realm_id=realm_id, name=settings.groups_claim,
            description="Adds the user's groups (names) for NetBird's JWT group sync",
            include_in_token_scope=True, opts=child)
        self.mapper = keycloak.openid.GroupMembershipProtocolMapper(
            f"{name}-mapper", realm_id=realm_id, client_scope_id=self.scope.id,
            name=MAPPER_NAME, claim_name=settings.groups_claim, full_path=False,
            add_to_id_token=True, add_to_access_token=True, add_to_userinfo=True, opts=child)
        # Known once the mapper exists: a client bound to it gets groups from its first token.
        self.scope_name = pulumi.Output.all(self.scope.name, self.mapper.id).apply(
            lambda values: values[0])
        self.register_outputs({"scope_name": self.scope_name})
