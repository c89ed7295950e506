"""Preview Markdown rendering (pure): changed fields named, secrets masked."""

from netbird_keycloak.preview_md import mask, render

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
              "value": "hunter2-hunter2"}


def test_secret_fields_and_secret_values_are_masked():
    assert mask("clientSecret", "abc") == "[secret]"
    assert mask("initialPassword", {"value": "x", "temporary": False}) == "[secret]"
    assert mask("envs", ["KC_BOOTSTRAP_ADMIN_PASSWORD=x"]) == "[secret]"
    assert mask("name", SECRET_SIG) == "[secret]"
    assert mask("name", "[secret]") == "[secret]"


def test_plain_values_are_shown_and_table_safe():
    assert mask("rootUrl", "https://a/") == "https://a/"
    assert mask("validRedirectUris", ["a", "b"]) == '["a", "b"]'
    assert mask("description", "a|b") == "a\\|b"


def test_render_lists_each_changed_resource_and_field():
    text = render("acme", [{"name": "netbird-client", "type": "keycloak:openid/client:Client",
                            "op": "update", "fields": [("validRedirectUris", '["a"]', '["a", "b"]')]}],
                  {"update": 1, "same": 15})
    assert "### Pulumi preview of `acme`" in text
    assert "1 to update" in text and "same" not in text
    assert "| `netbird-client` | `keycloak:openid/client:Client` | update | " \
           '`validRedirectUris`: ["a"] → ["a", "b"] |' in text


def test_render_without_changes():
    assert "No changes." in render("acme", [], {"same": 16})
