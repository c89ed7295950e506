"""netbird-keycloak: reads the stack settings, wires the components, exports what NetBird needs."""

import pulumi

from components import guardrails, user_password, wiring
from components.adoption import this_stack
from components.endpoints import endpoints
from components.keycloak_server import KeycloakServer
from components.master_realm import MasterRealmHardening
from components.netbird_connector import NetBirdConnector
from components.netbird_group_sync import NetBirdGroupSync
from components.netbird_identity_provider import NetBirdIdentityProvider
from components.netbird_realm import NetBirdRealm
from components.providers import docker_provider, keycloak_provider
from components.pulumi_service_account import PulumiServiceAccount
from components.stack_secrets import StackSecrets
from foundation.keycloak_admin import login_for

settings = wiring.load_settings()
# Before any resource: each one is judged by the guardrails, however the program is run.
guardrails.register()
recorded, stale, beside_data = wiring.look_before_acting(settings)

kept = StackSecrets(wiring.SECRETS, settings, beside_data)
server = KeycloakServer(wiring.SERVER, settings.keycloak, docker_provider(settings.keycloak),
                        kept.bootstrap_secret, kept.database_password, stale, kept.values,
                        this_stack())
if settings.keycloak.deploy:
    wiring.kept_with(server.data)  # `destroy` keeps the realm and its users in the data
    # The hand-off from Keycloak's temporary bootstrap admin; every Keycloak resource below
    # logs in as this service account, so none runs before it is done.
    service_account = PulumiServiceAccount(
        wiring.SERVICE_ACCOUNT, url=server.url, client_id=settings.keycloak.admin_client_id,
        client_secret=kept.admin_client_secret, bootstrap_secret=kept.bootstrap_secret,
        owner=this_stack(), container=settings.keycloak.container_name,
        data=settings.keycloak.data_volume_name, kept=settings.keycloak.secrets_name,
        opts=pulumi.ResourceOptions(depends_on=[server.secrets_copy]))
    keycloak = keycloak_provider(server, settings.keycloak, service_account.client_secret)
    admin_login = service_account.client_secret.apply(
        lambda secret: {"client_id": settings.keycloak.admin_client_id, "client_secret": secret})
    pulumi.export("admin_client_id", service_account.client_id)
    # Every admin account is in the master realm: it gets the NetBird realm's defences.
    MasterRealmHardening(wiring.MASTER_REALM, url=server.url, login=admin_login,
                         netbird=settings.netbird)
else:
    keycloak = keycloak_provider(server, settings.keycloak)
    admin_login = login_for(settings.keycloak)
adopting = wiring.adopting(settings, admin_login, kept.user_password, recorded,
                           reopened=bool(beside_data))
realm = NetBirdRealm(wiring.REALM, settings.netbird, keycloak, kept.user_password, adopting,
                     recorded)
user_password.register_for(
    wiring.USER_PASSWORD, wiring.user(settings), chosen=bool(settings.netbird.user_password),
    rotated=settings.netbird.user_password_rotated is not None, recorded=recorded.ids,
    url=server.url, login=admin_login, realm=realm.realm_name, user_id=realm.user.id,
    password=kept.user_password)

urls = endpoints(settings.keycloak.url, settings.netbird.realm)
wiring.export(integration=settings.netbird.integration, keycloak_url=settings.keycloak.url,
              issuer_url=urls.issuer, oidc_configuration_endpoint=urls.oidc_configuration,
              admin_endpoint=urls.admin, admin_console_url=urls.admin_console,
              realm=realm.realm_name, user_name=realm.user_name,
              netbird_domain=settings.netbird.domain,
              # Generated unless the stack file sets netbird:userPassword; `pulumi stack output
              # user_password --show-secrets` shows it.
              user_password=kept.user_password)
if settings.keycloak.deploy:  # the next run refuses to switch it unnoticed (wiring.py)
    pulumi.export("keycloak_database", settings.keycloak.database)
if settings.netbird.groups:  # what to tell NetBird's JWT group sync (docs/groups.md)
    wiring.export(groups_claim=settings.netbird.groups_claim,
                  user_groups=list(settings.netbird.member_of))

if settings.netbird.integration == "connector":
    connector = NetBirdConnector(wiring.CONNECTOR, settings.netbird, realm.realm.id, keycloak,
                                 groups_scope=realm.groups_scope, opts=adopting)
    wiring.export(connector_client_id=connector.client_id,
                  connector_client_secret=connector.client_secret,
                  connector_redirect_url=connector.redirect_url)
    if settings.netbird.management_url:  # NetBird's side too, through its management API
        token = pulumi.Output.secret(settings.netbird.api_token)
        registered = NetBirdIdentityProvider(
            wiring.IDENTITY_PROVIDER, management_url=settings.netbird.management_url,
            api_token=token, display_name=settings.netbird.connector_name, issuer=urls.issuer,
            client_id=connector.client_id, client_secret=connector.client_secret)
        pulumi.export("netbird_identity_provider_id", registered.provider_id)
        if settings.netbird.groups:  # NetBird creates and fills the groups at each login
            NetBirdGroupSync(wiring.GROUP_SYNC, management_url=settings.netbird.management_url,
                             api_token=token, claim=settings.netbird.groups_claim)
else:
    wiring.export(client_id=realm.client_id, audience=realm.client_id,
                  audience_scope=realm.audience_scope, backend_client_id=realm.backend_client_id,
                  backend_client_secret=realm.backend_client_secret,
                  pkce_redirect_ports=list(settings.netbird.pkce_ports),
                  letsencrypt_email=settings.netbird.letsencrypt_email,
                  disable_letsencrypt=settings.netbird.disable_letsencrypt)
