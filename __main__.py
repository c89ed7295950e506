"""netbird-keycloak: reads the stack settings, wires the components, exports what NetBird needs."""

import pulumi

from components import adoption, guardrails, user_password, wiring
from components.endpoints import endpoints
from components.keycloak_database import switch_refusal
from components.keycloak_server import KeycloakServer
from components.master_realm import MasterRealmHardening
from components.netbird_connector import NetBirdConnector
from components.netbird_group_sync import NetBirdGroupSync
from components.netbird_identity_provider import NetBirdIdentityProvider
from components.netbird_realm import NetBirdRealm
from components.providers import docker_provider, keycloak_provider
from components.pulumi_service_account import PulumiServiceAccount
from components.settings import SettingsError, load_from_pulumi
from components.stack_secrets import StackSecrets
from foundation.keycloak_admin import login_for

try:
    settings = load_from_pulumi()
except SettingsError as error:
    # RunError prints the message alone: the operator needs the keys and fixes, not a traceback.
    raise pulumi.RunError(str(error)) from None

# Before any resource: each one is judged by the guardrails, however the program is run.
guardrails.register()

# What an interrupted earlier `up` left unrecorded is taken over, not created again
# (components/adoption.py).
try:
    recorded = adoption.Recorded.of_this_stack()
    # A deployed Keycloak is never silently given another, empty database.
    refusal = switch_refusal(settings.keycloak.database,
                             recorded.last_output("keycloak_database"),
                             settings.keycloak.confirm_database_switch,
                             settings.netbird.realm) if settings.keycloak.deploy else None
    stale = adoption.StaleContainers(wiring.containers(settings), settings.keycloak.docker_host,
                                     settings.keycloak.docker_cert_path, recorded,
                                     adoption.this_stack())
except adoption.AdoptionRefused as error:  # the state could not be read, or a foreign container
    raise pulumi.RunError(str(error)) from None
if refusal:
    raise pulumi.RunError(refusal)

kept = StackSecrets(wiring.SECRETS, settings)
server = KeycloakServer(wiring.SERVER, settings.keycloak, docker_provider(settings.keycloak),
                        kept.bootstrap_secret, kept.database_password, stale)
if settings.keycloak.deploy:
    # The hand-off from Keycloak's temporary bootstrap admin; every Keycloak resource below
    # logs in as this service account, so none runs before it is done.
    service_account = PulumiServiceAccount(
        wiring.SERVICE_ACCOUNT, url=server.url, client_id=settings.keycloak.admin_client_id,
        client_secret=kept.admin_client_secret, bootstrap_secret=kept.bootstrap_secret,
        owner=adoption.this_stack(), container=settings.keycloak.container_name,
        data=settings.keycloak.database_volume_name or settings.keycloak.volume_name)
    keycloak = keycloak_provider(server, settings.keycloak, service_account.client_secret)
    admin_login = service_account.client_secret.apply(
        lambda secret: {"client_id": settings.keycloak.admin_client_id, "client_secret": secret})
    pulumi.export("admin_client_id", service_account.client_id)
    # Every admin account is in the master realm: it gets the NetBird realm's defences.
    MasterRealmHardening(
        wiring.MASTER_REALM, url=server.url, login=admin_login,
        brute_force_failures=settings.netbird.brute_force_failures,
        brute_force_wait_seconds=settings.netbird.brute_force_wait_seconds,
        brute_force_max_wait_seconds=settings.netbird.brute_force_max_wait_seconds,
        password_policy=settings.netbird.password_policy)
else:
    keycloak = keycloak_provider(server, settings.keycloak)
    admin_login = login_for(settings.keycloak)
adoptable = wiring.adoptable(settings)
adopting = pulumi.ResourceOptions(transforms=[adoption.KeycloakAdoption(
    adoptable, settings.netbird.realm, settings.keycloak.admin_base_url, admin_login,
    kept.user_password, recorded, adoption.this_stack()).transform]) \
    if recorded.may_lack([d.resource for d in adoptable]) else None
realm = NetBirdRealm(wiring.REALM, settings.netbird, keycloak, kept.user_password, adopting,
                     recorded)
# A changed password reaches Keycloak here (pulumi-keycloak sets it only when creating the
# user); a stack whose password never changes goes without (components/user_password.py).
if user_password.registered(wiring.USER_PASSWORD, chosen=bool(settings.netbird.user_password),
                            rotated=settings.netbird.user_password_rotated is not None,
                            recorded=recorded.ids):
    user_password.UserPassword(
        wiring.USER_PASSWORD, url=server.url, login=admin_login, realm=realm.realm_name,
        user_id=realm.user.id, password=kept.user_password,
        set_on_create=user_password.set_on_create(wiring.user(settings), recorded.ids))

urls = endpoints(settings.keycloak.url, settings.netbird.realm)
pulumi.export("integration", settings.netbird.integration)
pulumi.export("keycloak_url", settings.keycloak.url)
if settings.keycloak.deploy:  # the next run refuses to switch it unnoticed (above)
    pulumi.export("keycloak_database", settings.keycloak.database)
pulumi.export("issuer_url", urls.issuer)
pulumi.export("oidc_configuration_endpoint", urls.oidc_configuration)
pulumi.export("admin_endpoint", urls.admin)
pulumi.export("admin_console_url", urls.admin_console)
pulumi.export("realm", realm.realm_name)
pulumi.export("user_name", realm.user_name)
# Generated unless the stack file sets netbird:userPassword: `pulumi stack output user_password
# --show-secrets` shows it.
pulumi.export("user_password", kept.user_password)
if settings.netbird.groups:  # what to tell NetBird's JWT group sync (docs/groups.md)
    pulumi.export("groups_claim", settings.netbird.groups_claim)
    pulumi.export("user_groups", list(settings.netbird.member_of))
pulumi.export("netbird_domain", settings.netbird.domain)

if settings.netbird.integration == "connector":
    connector = NetBirdConnector(wiring.CONNECTOR, settings.netbird, realm.realm.id, keycloak,
                                 groups_scope=realm.groups_scope, opts=adopting)
    pulumi.export("connector_client_id", connector.client_id)
    pulumi.export("connector_client_secret", connector.client_secret)
    pulumi.export("connector_redirect_url", connector.redirect_url)
    if settings.netbird.management_url:  # NetBird's side too, through its management API
        registered = NetBirdIdentityProvider(
            wiring.IDENTITY_PROVIDER, management_url=settings.netbird.management_url,
            api_token=pulumi.Output.secret(settings.netbird.api_token),
            display_name=settings.netbird.connector_name, issuer=urls.issuer,
            client_id=connector.client_id, client_secret=connector.client_secret)
        pulumi.export("netbird_identity_provider_id", registered.provider_id)
        if settings.netbird.groups:  # NetBird creates and fills the groups at each login
            NetBirdGroupSync(wiring.GROUP_SYNC, management_url=settings.netbird.management_url,
                             api_token=pulumi.Output.secret(settings.netbird.api_token),
                             claim=settings.netbird.groups_claim)
else:
    pulumi.export("client_id", realm.client_id)
    pulumi.export("audience", realm.client_id)
    pulumi.export("audience_scope", realm.audience_scope)
    pulumi.export("backend_client_id", realm.backend_client_id)
    pulumi.export("backend_client_secret", realm.backend_client_secret)
    pulumi.export("pkce_redirect_ports", list(settings.netbird.pkce_ports))
    pulumi.export("letsencrypt_email", settings.netbird.letsencrypt_email)
    pulumi.export("disable_letsencrypt", settings.netbird.disable_letsencrypt)
