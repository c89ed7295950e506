# The objects netbird-keycloak creates in existing-Keycloak mode, written the way users of
# keycloak/terraform-provider-keycloak write them: the peer that `make bench-peers` measures our
# program against, and that tests/e2e/test_peers.py proves equivalent (NetBird's checks pass).

terraform {
  required_providers {
    keycloak = {
      source  = "keycloak/keycloak"
      version = "5.9.0"
    }
  }
}

variable "keycloak_url" { type = string }
variable "admin_user" { type = string }
variable "admin_password" {
  type      = string
  sensitive = true
}
variable "realm" {
  type    = string
  default = "netbird"
}
variable "domain" { type = string }
variable "user_password" {
  type      = string
  sensitive = true
}
variable "pkce_ports" {
  type    = list(number)
  default = [53000]
}

provider "keycloak" {
  url            = var.keycloak_url
  realm          = "master"
  client_id      = "admin-cli"
  username       = var.admin_user
  password       = var.admin_password
  initial_login  = false
  client_timeout = 60
}

resource "keycloak_realm" "netbird" {
  realm   = var.realm
  enabled = true
}

resource "keycloak_user" "netbird" {
  realm_id       = keycloak_realm.netbird.id
  username       = "netbird"
  email          = "netbird@${var.domain}"
  email_verified = true
  first_name     = "NetBird"
  last_name      = "Admin"
  enabled        = true
  initial_password {
    value     = var.user_password
    temporary = false
  }
}

resource "keycloak_openid_client" "netbird" {
  realm_id                                  = keycloak_realm.netbird.id
  client_id                                 = "netbird-client"
  name                                      = "NetBird"
  enabled                                   = true
  access_type                               = "PUBLIC"
  standard_flow_enabled                     = true
  direct_access_grants_enabled              = true
  oauth2_device_authorization_grant_enabled = true
  implicit_flow_enabled                     = false
  service_accounts_enabled                  = false
  pkce_code_challenge_method                = ""
  root_url                                  = "https://${var.domain}/"
  valid_redirect_uris = concat(["https://${var.domain}/*"],
  [for port in var.pkce_ports : "http://localhost:${port}"])
  valid_post_logout_redirect_uris = ["https://${var.domain}/*"]
  web_origins                     = ["+"]
}

resource "keycloak_openid_client_scope" "audience" {
  realm_id               = keycloak_realm.netbird.id
  name                   = "netbird-client-audience"
  description            = "Adds the NetBird client to the audience of access tokens"
  include_in_token_scope = true
}

resource "keycloak_openid_audience_protocol_mapper" "audience" {
  realm_id                 = keycloak_realm.netbird.id
  client_scope_id          = keycloak_openid_client_scope.audience.id
  name                     = "Audience for NetBird Management API"
  included_client_audience = keycloak_openid_client.netbird.client_id
  add_to_access_token      = true
  add_to_id_token          = false
}

# Authoritative over the client's whole list: the built-ins are repeated (without basic, no sub).
resource "keycloak_openid_client_default_scopes" "netbird" {
  realm_id  = keycloak_realm.netbird.id
  client_id = keycloak_openid_client.netbird.id
  default_scopes = ["basic", "acr", "profile", "email", "roles", "web-origins",
  keycloak_openid_client_scope.audience.name]
  depends_on = [keycloak_openid_audience_protocol_mapper.audience]
}

resource "keycloak_openid_client" "backend" {
  realm_id                                  = keycloak_realm.netbird.id
  client_id                                 = "netbird-backend"
  name                                      = "NetBird management backend"
  enabled                                   = true
  access_type                               = "CONFIDENTIAL"
  service_accounts_enabled                  = true
  standard_flow_enabled                     = false
  direct_access_grants_enabled              = false
  implicit_flow_enabled                     = false
  oauth2_device_authorization_grant_enabled = false
}

data "keycloak_openid_client" "realm_management" {
  realm_id  = keycloak_realm.netbird.id
  client_id = "realm-management"
}

resource "keycloak_openid_client_service_account_role" "view_users" {
  realm_id                = keycloak_realm.netbird.id
  service_account_user_id = keycloak_openid_client.backend.service_account_user_id
  client_id               = data.keycloak_openid_client.realm_management.id
  role                    = "view-users"
}

locals {
  issuer = "${var.keycloak_url}/realms/${keycloak_realm.netbird.realm}"
}

# The same names as the program's stack outputs, so `make verify`'s checks read either.
output "issuer_url" { value = local.issuer }
output "oidc_configuration_endpoint" { value = "${local.issuer}/.well-known/openid-configuration" }
output "admin_endpoint" { value = "${var.keycloak_url}/admin/realms/${keycloak_realm.netbird.realm}" }
output "client_id" { value = keycloak_openid_client.netbird.client_id }
output "audience" { value = keycloak_openid_client.netbird.client_id }
output "audience_scope" { value = keycloak_openid_client_scope.audience.name }
output "user_name" { value = keycloak_user.netbird.username }
output "backend_client_id" { value = keycloak_openid_client.backend.client_id }
output "backend_client_secret" {
  value     = keycloak_openid_client.backend.client_secret
  sensitive = true
}
