"""The URLs NetBird needs, derived from Keycloak's base URL and the realm (Keycloak 17+ paths)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    oidc_configuration: str
    token: str
    device_authorization: str
    admin: str
    admin_console: str


def endpoints(base_url: str, realm: str) -> Endpoints:
    base = base_url.rstrip("/")
    issuer = f"{base}/realms/{realm}"
    return Endpoints(
        issuer=issuer,
        oidc_configuration=f"{issuer}/.well-known/openid-configuration",
        token=f"{issuer}/protocol/openid-connect/token",
        device_authorization=f"{issuer}/protocol/openid-connect/auth/device",
        # No trailing slash: Keycloak 26.4+ answers 400 to the `//users/count` NetBird would build.
        admin=f"{base}/admin/realms/{realm}",
        admin_console=f"{base}/admin/master/console/#/{realm}",
    )
