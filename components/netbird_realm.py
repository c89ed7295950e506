"""NetBirdRealm: everything NetBird's Keycloak guide clicks together, as one component.

Realm, user, the public `netbird-client` with its access settings, the audience client scope and
its Audience mapper, that scope bound as a default scope of the client, and the confidential
`netbird-backend` whose service account may read users. Every name is literal: pulumi-keycloak
autonames realms, client ids and scope names that are left out, which would give NetBird a realm
called `netbird-3f9c2a1`.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_keycloak as keycloak

from components.adoption import OWNER_ATTRIBUTE, Declared, Recorded, this_stack
from components import netbird_groups
from components.netbird_groups import NetBirdGroups
from components.settings import BUILTIN_DEFAULT_SCOPES, NetBirdSettings

AUDIENCE_MAPPER_NAME = "Audience for NetBird Management API"
REALM_MANAGEMENT = "realm-management"  # Keycloak's client holding a realm's admin roles


def redirect_uris(settings: NetBirdSettings) -> list[str]:
    # The NetBird desktop and mobile clients finish PKCE on a loopback port; Keycloak compares
    # redirect URIs literally, so each port is listed without a trailing slash.
    return [f"https://{settings.domain}/*"] + [
        f"http://localhost:{port}" for port in settings.pkce_ports]


def client_default_scopes(*scopes: str) -> list[str]:
    """A client's whole default-scope list: the built-ins, then ours (audience, groups)."""
    return list(BUILTIN_DEFAULT_SCOPES) + list(scopes)


def go_duration(seconds: int) -> str:
    """A duration as pulumi-keycloak writes it back from Keycloak's seconds (Go's
    time.Duration.String(): 300 -> "5m0s", 36000 -> "10h0m0s"), so an imported or refreshed
    realm matches its inputs to the letter."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def adoptable(name: str, settings: NetBirdSettings) -> list[Declared]:
    """The objects whose create a stopped Keycloak can leave unrecorded (components/adoption.py).
    The default-scope binding and the role grant are not among them: creating them again is
    harmless."""
    objects = [Declared(f"{name}-realm", "realm", settings.realm),
               Declared(f"{name}-user", "user", settings.user_name)]
    if settings.integration == "setup-env":
        scope = Declared(f"{name}-audience-scope", "client-scope", settings.audience_scope)
        objects += [Declared(f"{name}-client", "client", settings.client_id), scope,
                    Declared(f"{name}-audience-mapper", "scope-mapper", AUDIENCE_MAPPER_NAME,
                             scope),
                    Declared(f"{name}-backend-client", "client", settings.backend_client_id)]
    if settings.groups:
        objects += netbird_groups.adoptable(f"{name}-groups", settings)
    return objects


def backend_role(name: str, settings: NetBirdSettings) -> str:
    """The resource name of the backend service account's role grant."""
    return f"{name}-backend-{settings.backend_role}"


def recorded_realm_management(name: str, settings: NetBirdSettings,
                              recorded: Optional[Recorded]) -> Optional[str]:
    """The id of the realm's `realm-management` client as the role grant's last run recorded it,
    when it granted in the realm this run declares (None: look it up). Keycloak makes that client
    with the realm and never changes its id; the lookup is otherwise the only call a preview
    without changes makes to Keycloak: a login (the admin's password hashed by Keycloak) and a
    read, on the preview's critical path."""
    inputs = recorded.inputs(backend_role(name, settings)) if recorded else {}
    if inputs.get("realmId") == settings.realm and isinstance(inputs.get("clientId"), str):
        return inputs["clientId"]
    return None


class NetBirdRealm(pulumi.ComponentResource):
    realm_name: pulumi.Output[str]
    client_id: pulumi.Output[str]
    audience_scope: pulumi.Output[str]
    backend_client_id: pulumi.Output[str]
    backend_client_secret: pulumi.Output[str]
    user_name: pulumi.Output[str]

    def __init__(self, name: str, settings: NetBirdSettings, provider: keycloak.Provider,
                 user_password: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None,
                 recorded: Optional[Recorded] = None):
        """`recorded`: what the stack's state records (components/adoption.Recorded)."""
        super().__init__("netbird:index:NetBirdRealm", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # Renaming or deleting the realm deletes every user and session in it. Protection makes
        # Pulumi refuse such a plan; the provider-side flag also refuses a delete from outside.
        keep = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
            protect=settings.protect_realm))

        self.realm = self._realm(name, settings, keep)
        realm_id = self.realm.id
        # Logins (failed ones included) and admin changes, for a security review; kept
        # eventsDays. Keycloak's own log listener stays, as on every new realm.
        self.events = keycloak.RealmEvents(
            f"{name}-events",
            realm_id=realm_id,
            events_enabled=True,
            events_expiration=settings.events_days * 86400,
            admin_events_enabled=True,
            events_listeners=["jboss-logging"],
            opts=child,
        )

        self.user = keycloak.User(
            f"{name}-user",
            realm_id=realm_id,
            username=settings.user_name,
            email=settings.user_email,
            # Without a verified e-mail and names, Keycloak 24+ stops the first login to ask.
            email_verified=True,
            first_name=settings.user_first_name,
            last_name=settings.user_last_name,
            enabled=True,
            initial_password=keycloak.UserInitialPasswordArgs(
                value=pulumi.Output.secret(user_password), temporary=False),
            opts=keep,
        )

        # Keycloak groups for NetBird's JWT group sync, and the scope that puts them in tokens.
        self.groups = NetBirdGroups(f"{name}-groups", settings, realm_id, self.user.id, provider,
                                    opts=pulumi.ResourceOptions(parent=self)) \
            if settings.groups else None
        self.groups_scope = self.groups.scope_name if self.groups else None

        self.realm_name = self.realm.realm
        self.user_name = self.user.username
        outputs = {"realm_name": self.realm_name, "user_name": self.user_name}
        if settings.integration == "setup-env":
            self._setup_env_clients(name, settings, provider, child, realm_id,
                                    recorded_realm_management(name, settings, recorded))
            outputs.update({
                "client_id": self.client_id,
                "audience_scope": self.audience_scope,
                "backend_client_id": self.backend_client_id,
                "backend_client_secret": self.backend_client_secret,
            })
        self.register_outputs(outputs)

    def _realm(self, name: str, settings: NetBirdSettings,
               keep: pulumi.ResourceOptions) -> keycloak.Realm:
        """The realm, hardened: HTTPS outside private networks, explicit token and session
        lifetimes, a password policy, and brute-force detection (a temporary lock that grows
        with each further failure)."""
        return keycloak.Realm(
            f"{name}-realm",
            realm=settings.realm,
            enabled=True,
            terraform_deletion_protection=settings.protect_realm,
            # Marks the realm as this stack's, in the request that creates it (adoption.py).
            attributes={OWNER_ATTRIBUTE: this_stack()},
            ssl_required=settings.ssl_required,
            access_token_lifespan=go_duration(settings.access_token_seconds),
            sso_session_idle_timeout=go_duration(settings.sso_session_idle_seconds),
            sso_session_max_lifespan=go_duration(settings.sso_session_max_seconds),
            offline_session_idle_timeout=go_duration(settings.offline_session_idle_seconds),
            password_policy=settings.password_policy,
            security_defenses=keycloak.RealmSecurityDefensesArgs(
                brute_force_detection=keycloak.RealmSecurityDefensesBruteForceDetectionArgs(
                    permanent_lockout=False,
                    max_login_failures=settings.brute_force_failures,
                    wait_increment_seconds=settings.brute_force_wait_seconds,
                    max_failure_wait_seconds=settings.brute_force_max_wait_seconds,
                )),
            opts=keep,
        )

    def _setup_env_clients(self, name: str, settings: NetBirdSettings,
                           provider: keycloak.Provider, child: pulumi.ResourceOptions,
                           realm_id: pulumi.Output[str],
                           realm_management: Optional[str]) -> None:
        """What NetBird's configure.sh path needs: the public client, the audience scope bound
        to it, and the backend client that lets NetBird's management read users."""
        self._public_client(name, settings, child, realm_id)
        self._audience_scope(name, settings, child, realm_id)
        self._backend_client(name, settings, provider, child, realm_id, realm_management)
        self.client_id = self.client.client_id
        self.audience_scope = self.scope.name
        self.backend_client_id = self.backend_client.client_id
        self.backend_client_secret = pulumi.Output.secret(self.backend_client.client_secret)

    def _public_client(self, name: str, settings: NetBirdSettings,
                       child: pulumi.ResourceOptions, realm_id: pulumi.Output[str]) -> None:
        root = f"https://{settings.domain}/"
        self.client = keycloak.openid.Client(
            f"{name}-client",
            realm_id=realm_id,
            client_id=settings.client_id,
            name="NetBird",
            enabled=True,
            # Public: the dashboard and the CLI cannot keep a secret.
            access_type="PUBLIC",
            standard_flow_enabled=True,
            direct_access_grants_enabled=True,
            # Linux CLI clients log in only through the device-code flow.
            oauth2_device_authorization_grant_enabled=True,
            implicit_flow_enabled=False,
            service_accounts_enabled=False,
            # PKCE stays optional, not required: NetBird's desktop clients send S256 challenges
            # anyway, but its device flow (Linux CLI) sends none, and Keycloak 26.7 refuses a
            # device request without one from a client that requires PKCE ("Missing parameter:
            # code_challenge_method"), seen here against Keycloak 26.7.3.
            pkce_code_challenge_method="",
            root_url=root,
            valid_redirect_uris=redirect_uris(settings),
            valid_post_logout_redirect_uris=[f"https://{settings.domain}/*"],
            web_origins=["+"],
            opts=child,
        )

    def _audience_scope(self, name: str, settings: NetBirdSettings,
                        child: pulumi.ResourceOptions, realm_id: pulumi.Output[str]) -> None:
        # The scope is bound to the client below, not made a realm default: a realm default
        # would reach only clients created later and would add a second, drifting owner.
        self.scope = keycloak.openid.ClientScope(
            f"{name}-audience-scope",
            realm_id=realm_id,
            name=settings.audience_scope,
            description="Adds the NetBird client to the audience of access tokens",
            include_in_token_scope=True,
            opts=child,
        )
        self.audience_mapper = keycloak.openid.AudienceProtocolMapper(
            f"{name}-audience-mapper",
            realm_id=realm_id,
            client_scope_id=self.scope.id,
            name=AUDIENCE_MAPPER_NAME,
            # The client's Output, not the literal, so the mapper waits for the client to exist.
            included_client_audience=self.client.client_id,
            add_to_access_token=True,
            add_to_id_token=False,
            opts=child,
        )
        # Authoritative over the client's whole default list: the built-ins must be repeated.
        self.default_scopes = keycloak.openid.ClientDefaultScopes(
            f"{name}-client-default-scopes",
            realm_id=realm_id,
            client_id=self.client.id,
            default_scopes=pulumi.Output.all(
                self.scope.name, *([self.groups_scope] if self.groups_scope else [])).apply(
                lambda names: client_default_scopes(*names)),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=[self.audience_mapper])),
        )

    def _backend_client(self, name: str, settings: NetBirdSettings,
                        provider: keycloak.Provider, child: pulumi.ResourceOptions,
                        realm_id: pulumi.Output[str], realm_management: Optional[str]) -> None:
        """`realm_management`: the id of the realm's `realm-management` client (None: looked
        up)."""
        self.backend_client = keycloak.openid.Client(
            f"{name}-backend-client",
            realm_id=realm_id,
            client_id=settings.backend_client_id,
            name="NetBird management backend",
            # `make rotate WHAT=backend-secret` changes the value: Keycloak issues a new secret.
            client_secret_regenerate_when_changed={"rotated": settings.backend_secret_rotated}
            if settings.backend_secret_rotated else None,
            enabled=True,
            access_type="CONFIDENTIAL",
            service_accounts_enabled=True,
            standard_flow_enabled=False,
            direct_access_grants_enabled=False,
            implicit_flow_enabled=False,
            oauth2_device_authorization_grant_enabled=False,
            opts=child,
        )
        self.backend_role = keycloak.openid.ClientServiceAccountRole(
            backend_role(name, settings),
            realm_id=realm_id,
            service_account_user_id=self.backend_client.service_account_user_id,
            client_id=realm_management or keycloak.openid.get_client_output(
                realm_id=realm_id, client_id=REALM_MANAGEMENT,
                opts=pulumi.InvokeOutputOptions(provider=provider, parent=self)).id,
            role=settings.backend_role,
            opts=child,
        )
