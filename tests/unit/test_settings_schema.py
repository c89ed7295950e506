"""What the settings declarations drive (unit: no Pulumi): the table in docs/settings.md, the fix commands
naming the stack, typo hints, the refusal of a stack without its stack file."""

import contextlib
import io

from components.settings import RawValue, SettingsError, parse_settings
from components.settings_schema import effective
from netbird_keycloak import settings_table, stack
from tests.unit.test_settings import GOOD


def problems(**changes) -> list[str]:
    raw = {**GOOD, **{k: RawValue(v) for k, v in changes.items()}}
    try:
        parse_settings(raw, "acme")
    except SettingsError as error:
        return error.problems
    return []


def test_readme_table_is_generated_from_the_declarations():
    readme = settings_table.TABLE_DOC.read_text()
    assert settings_table.with_table(readme) == readme, "run `make settings-doc`"
    assert "| `keycloak:httpPort` | `8080` | HTTP port (1-65535) |" in settings_table.render()


def test_every_fix_names_the_stack():
    found = problems(**{"netbird:realm": "net bird", "keycloak:httpPort": "0"})
    assert len(found) == 2
    assert all(p.endswith("--stack acme") for p in found), found


def test_unknown_key_is_refused_with_the_closest_known_one():
    found = problems(**{"keycloak:httpport": "8080", "docker:hots": "unix:///x",
                        "netbird:zzz": "1"})
    assert any(p.startswith("keycloak:httpport: is not a setting of this program (did you "
                            "mean keycloak:httpPort?)") for p in found), found
    assert any("docker:hots" in p and "did you mean docker:host?" in p for p in found), found
    assert any(p.startswith("netbird:zzz: is not a setting") and "did you mean" not in p
               for p in found), found
    assert all("pulumi config rm" in p for p in found)


def test_each_problem_is_reported_once():
    found = problems(**{"netbird:domain": "https://x", "netbird:realm": "a b"})
    assert len(found) == len(set(found)) == 2


def test_stack_without_a_stack_file_is_refused_before_anything_is_created(tmp_path,
                                                                          monkeypatch):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/state")
    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        code = stack.main(["up", "--stack", "nosuch",
                           "--work-dir", str(tmp_path)])
    assert code == 1
    assert "has no stack file" in out.getvalue() and "make new CUSTOMER=nosuch" in out.getvalue()
    assert "Stacks here: dev" in out.getvalue()
    assert not (tmp_path / "stacks" / "Pulumi.nosuch.yaml").exists()
    assert not (tmp_path / "state").exists()  # no stack was created in the backend


def test_effective_settings_show_value_and_source_and_mask_secrets():
    raw = {**GOOD, "keycloak:httpPort": RawValue("8081")}
    settings = parse_settings(raw, "acme")
    lines = {key: (value, source) for section in (settings.netbird, settings.keycloak)
             for key, value, source in effective(section, raw)}
    assert lines["keycloak:httpPort"] == ("8081", "stack file")
    assert lines["keycloak:url"] == ("http://localhost:8081", "default")
    assert lines["keycloak:containerName"] == ("keycloak-acme", "default")
    assert lines["netbird:userPassword"] == ("[secret]", "stack file")
    assert "Ab9-Zx8-Cv7-Qw6" not in str(lines)
