"""Pulumi components that stand up Keycloak as NetBird's identity provider."""
