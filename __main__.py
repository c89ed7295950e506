"""netbird-keycloak: reads the stack settings, wires the components, exports what NetBird needs."""

import pulumi

from components import adoption, wiring
from components.endpoints import endpoints
from components.keycloak_server import KeycloakServer
from components.netbird_connector import NetBirdConnector
from components.netbird_realm import NetBirdRealm
from components.providers import docker_provider, keycloak_provider
from components.pulumi_service_account import PulumiServiceAccount
from components.settings import SettingsError, load_from_pulumi

try:
    settings = load_from_pulumi()
except SettingsError as error:
    # RunError prints the message alone: the operator needs the keys and fixes, not a traceback.
    raise pulumi.RunError(str(error)) from None

server = KeycloakServer(wiring.SERVER, settings.keycloak, docker_provider(settings.keycloak))
keycloak = keycloak_provider(server, settings.keycloak)
# What an interrupted earlier `up` left in Keycloak unrecorded (found by scripts/adopt.py).
import_ids = adoption.import_ids()
if settings.keycloak.deploy:
    service_account = PulumiServiceAccount(wiring.SERVICE_ACCOUNT, settings.keycloak, keycloak,
                                           import_ids)
    pulumi.export("admin_client_id", service_account.client_id)
realm = NetBirdRealm(wiring.REALM, settings.netbird, keycloak, import_ids)

urls = endpoints(settings.keycloak.url, settings.netbird.realm)
pulumi.export("integration", settings.netbird.integration)
pulumi.export("keycloak_url", settings.keycloak.url)
if settings.keycloak.deploy:  # `make up` refuses to switch it unnoticed (scripts/stack.py)
    pulumi.export("keycloak_database", settings.keycloak.database)
pulumi.export("issuer_url", urls.issuer)
pulumi.export("oidc_configuration_endpoint", urls.oidc_configuration)
pulumi.export("admin_endpoint", urls.admin)
pulumi.export("admin_console_url", urls.admin_console)
pulumi.export("realm", realm.realm_name)
pulumi.export("user_name", realm.user_name)
pulumi.export("netbird_domain", settings.netbird.domain)

if settings.netbird.integration == "connector":
    connector = NetBirdConnector(wiring.CONNECTOR, settings.netbird, realm.realm.id, keycloak,
                                 import_ids)
    pulumi.export("connector_client_id", connector.client_id)
    pulumi.export("connector_client_secret", connector.client_secret)
    pulumi.export("connector_redirect_url", connector.redirect_url)
else:
    pulumi.export("client_id", realm.client_id)
    pulumi.export("audience", realm.client_id)
    pulumi.export("audience_scope", realm.audience_scope)
    pulumi.export("backend_client_id", realm.backend_client_id)
    pulumi.export("backend_client_secret", realm.backend_client_secret)
    pulumi.export("pkce_redirect_ports", list(settings.netbird.pkce_ports))
    pulumi.export("letsencrypt_email", settings.netbird.letsencrypt_email)
    pulumi.export("disable_letsencrypt", settings.netbird.disable_letsencrypt)
