"""What both the program (components/) and the commands (netbird_keycloak/) use, and nothing
above it: the Keycloak Admin REST client, the NetBird API client, the guardrails' rules and a
file backend's state read in place. It imports neither of the packages that build on it."""
