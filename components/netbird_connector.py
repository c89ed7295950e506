"""NetBirdConnector: Keycloak as a connector of NetBird's embedded identity provider (NetBird 0.62+).

In that setup NetBird's dashboard (Settings → Identity Providers) asks for an issuer, a client id
and a client secret, and shows the redirect URL to allow. It needs no setup.env, no audience
mapper and no backend client: one confidential client in the realm is the whole of it.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_keycloak as keycloak

from components.adoption import Declared
from components.netbird_realm import client_default_scopes
from components.settings import NetBirdSettings


def adoptable(name: str, settings: NetBirdSettings) -> list[Declared]:
    """The connector client, which a stopped Keycloak can leave unrecorded (adoption.py)."""
    return [Declared(f"{name}-client", "client", settings.connector_client_id)]


class NetBirdConnector(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]
    redirect_url: pulumi.Output[str]

    def __init__(self, name: str, settings: NetBirdSettings, realm_id: pulumi.Input[str],
                 provider: keycloak.Provider,
                 groups_scope: Optional[pulumi.Output[str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("netbird:index:NetBirdConnector", name, None, opts)
        if not settings.connector_redirect_url:
            raise ValueError("NetBirdConnector needs netbird:connectorRedirectUrl")
        self.client = keycloak.openid.Client(
            f"{name}-client",
            realm_id=realm_id,
            client_id=settings.connector_client_id,
            name="NetBird (embedded identity provider connector)",
            enabled=True,
            # Confidential: NetBird's management server keeps the secret, users never see it.
            access_type="CONFIDENTIAL",
            standard_flow_enabled=True,
            direct_access_grants_enabled=False,
            implicit_flow_enabled=False,
            service_accounts_enabled=False,
            oauth2_device_authorization_grant_enabled=False,
            pkce_code_challenge_method="",
            # Exactly the URL NetBird shows: Keycloak compares redirect URIs literally.
            valid_redirect_uris=[settings.connector_redirect_url],
            # Since NetBird 0.71 logout returns here; without it Keycloak says "Invalid redirect uri".
            valid_post_logout_redirect_uris=[f"https://{settings.domain}/oauth2/logout/callback"],
            web_origins=[],
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        if groups_scope is not None:
            # NetBird's embedded IdP asks Keycloak for openid, profile and email only: the groups
            # reach its ID token as a default scope of this client.
            keycloak.openid.ClientDefaultScopes(
                f"{name}-client-default-scopes", realm_id=realm_id, client_id=self.client.id,
                default_scopes=groups_scope.apply(lambda scope: client_default_scopes(scope)),
                opts=pulumi.ResourceOptions(parent=self, provider=provider))
        self.client_id = self.client.client_id
        self.client_secret = pulumi.Output.secret(self.client.client_secret)
        self.redirect_url = pulumi.Output.from_input(settings.connector_redirect_url)
        self.register_outputs({"client_id": self.client_id, "client_secret": self.client_secret,
                               "redirect_url": self.redirect_url})
