"""The stand-in provider's diff rules (unit: no engine, no Keycloak): which changes update in
place and which replace, as pulumi-keycloak decides them for the resources this program uses."""

import sys
from pathlib import Path

from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "toolchain"))

from standin.keycloak import KeycloakProvider  # noqa: E402

REALM_URN = "urn:pulumi:dev::netbird-keycloak::netbird:index:NetBirdRealm$keycloak:index/realm:Realm::r"
CLIENT_URN = ("urn:pulumi:dev::netbird-keycloak::netbird:index:NetBirdRealm"
              "$keycloak:openid/client:Client::c")


def struct(data):
    s = struct_pb2.Struct()
    s.update(data)
    return s


def diff(urn, old, new, ignore=()):
    request = provider_pb2.DiffRequest(id="x", urn=urn, olds=struct(old), old_inputs=struct(old),
                                       news=struct(new), ignoreChanges=list(ignore))
    return KeycloakProvider().Diff(request, context=None)


def test_realm_rename_is_a_replacement_deleted_first():
    result = diff(REALM_URN, {"realm": "netbird", "enabled": True},
                  {"realm": "renamed", "enabled": True})
    assert result.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(result.replaces) == ["realm"] and result.deleteBeforeReplace


def test_redirect_uri_change_updates_the_client_in_place():
    old = {"realmId": "netbird", "clientId": "netbird-client",
           "validRedirectUris": ["https://a/*", "http://localhost:53000"]}
    new = dict(old, validRedirectUris=old["validRedirectUris"] + ["http://localhost:54000"])
    result = diff(CLIENT_URN, old, new)
    assert list(result.diffs) == ["validRedirectUris"] and list(result.replaces) == []
    assert result.detailedDiff["validRedirectUris"].kind == provider_pb2.PropertyDiff.UPDATE


def test_no_change_and_ignored_change_are_no_diff():
    old = {"realmId": "netbird", "clientId": "netbird-client"}
    assert diff(CLIENT_URN, old, dict(old)).changes == provider_pb2.DiffResponse.DIFF_NONE
    assert diff(CLIENT_URN, old, dict(old, clientId="x"), ignore=["clientId"]).changes == \
        provider_pb2.DiffResponse.DIFF_NONE
