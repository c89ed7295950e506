"""PulumiServiceAccount: the master-realm client Pulumi logs in with after the first deploy.

Keycloak 26 creates its bootstrap admin as a temporary account, to be replaced. The first `up`
logs in as that admin and creates this confidential client: service accounts only (no browser
or password login), its service account holding the master realm's `admin` role, its secret the
stack's `keycloak:adminClientSecret`. `make up` then deletes the temporary admin
(scripts/handoff.py) and every later `up` logs in with this client's credentials.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_keycloak as keycloak

from components.adoption import Declared
from components.settings import KeycloakSettings

MASTER = "master"


def adoptable(name: str, settings: KeycloakSettings) -> list[Declared]:
    """The client, found again by its clientId in the master realm (components/adoption.py)."""
    return [Declared(f"{name}-client", "client", settings.admin_client_id, realm=MASTER)]


class PulumiServiceAccount(pulumi.ComponentResource):
    """Outputs: `client_id`."""

    client_id: pulumi.Output[str]

    def __init__(self, name: str, settings: KeycloakSettings, provider: keycloak.Provider,
                 import_ids: Optional[Mapping[str, str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("netbird:index:PulumiServiceAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        import_ids = import_ids or {}
        # Rotation (`make rotate WHAT=admin-client-secret`) sets the next secret here while the
        # provider still logs in with the current one.
        secret = settings.admin_client_secret_next or settings.admin_client_secret
        self.client = keycloak.openid.Client(
            f"{name}-client",
            realm_id=MASTER,
            client_id=settings.admin_client_id,
            name="netbird-keycloak (Pulumi)",
            description="Pulumi logs in with this client; created and managed by netbird-keycloak",
            access_type="CONFIDENTIAL",
            client_secret=pulumi.Output.secret(secret),
            service_accounts_enabled=True,
            standard_flow_enabled=False,
            implicit_flow_enabled=False,
            direct_access_grants_enabled=False,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                import_=import_ids.get(f"{name}-client"),
                # Deleting it would lock Pulumi out of Keycloak (the bootstrap admin is gone).
                retain_on_delete=True)),
        )
        self.admin_role = keycloak.openid.ClientServiceAccountRealmRole(
            f"{name}-admin-role",
            realm_id=MASTER,
            service_account_user_id=self.client.service_account_user_id,
            role="admin",
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                retain_on_delete=True)),
        )
        self.client_id = self.client.client_id
        self.register_outputs({"client_id": self.client_id})
