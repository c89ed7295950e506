"""Which secrets `make up` generates for a stack file (scripts/stack.py missing_secrets)."""

from scripts.stack import missing_secrets

DEPLOY = {"netbird:domain": "netbird.example.com"}
SECRET = {"secure": "v1:…"}


def test_a_new_deploying_stack_gets_a_bootstrap_password_and_the_service_account_secret():
    assert missing_secrets(DEPLOY) == ["keycloak:adminPassword", "keycloak:adminClientSecret",
                                       "netbird:userPassword"]


def test_after_the_handoff_the_bootstrap_password_is_not_generated_again():
    handed_off = dict(DEPLOY, **{"keycloak:adminClientSecret": SECRET,
                                 "netbird:userPassword": SECRET})
    assert missing_secrets(handed_off) == []


def test_an_existing_keycloak_gets_only_the_user_password():
    existing = dict(DEPLOY, **{"keycloak:deploy": "false"})
    assert missing_secrets(existing) == ["netbird:userPassword"]


def test_postgres_gets_its_database_password():
    postgres = dict(DEPLOY, **{"keycloak:database": "postgres"})
    assert "keycloak:databasePassword" in missing_secrets(postgres)
