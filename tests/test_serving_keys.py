"""API keys: only hashes stored, labels unique, revocation, the `xinfang apikey` commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from xinfang.cli import app
from xinfang.errors import InputFileError, XinfangError
from xinfang.serving.keys import KeyRing, create_key, hash_key, read_keys, revoke_key


def test_only_the_hash_is_stored(tmp_path):
    path = tmp_path / "keys"
    key = create_key(path, "clerk-1")
    text = path.read_text(encoding="utf-8")
    assert key not in text and hash_key(key) in text
    assert read_keys(path)[0].label == "clerk-1"
    assert (path.stat().st_mode & 0o777) == 0o600
    ring = KeyRing(path)
    assert ring.check(key) == "clerk-1" and ring.check(key + "x") is None
    other = create_key(path, "clerk-2")
    assert ring.check(other) == "clerk-2"  # re-read when the file changes
    with pytest.raises(XinfangError, match="already exists"):
        create_key(path, "clerk-1")
    with pytest.raises(XinfangError, match="label"):
        create_key(path, "two words")
    assert revoke_key(path, "clerk-1") == 1
    assert ring.check(key) is None and ring.check(other) == "clerk-2"


def test_malformed_keys_file_names_the_line(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# comment\nnot-a-hash someone\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=":2"):
        read_keys(path)


def test_apikey_commands(tmp_path):
    path = tmp_path / "keys"
    runner = CliRunner()
    r = runner.invoke(app, ["apikey", "create", "--label", "ops", "--keys-file", str(path)])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[0]
    assert key.startswith("xf_") and key not in path.read_text(encoding="utf-8")
    assert KeyRing(path).check(key) == "ops"
    r = runner.invoke(app, ["apikey", "list", "--keys-file", str(path)])
    assert "ops" in r.stdout and key not in r.stdout
    r = runner.invoke(app, ["apikey", "revoke", "--label", "ops", "--keys-file", str(path)])
    assert r.exit_code == 0 and read_keys(path) == []
    assert runner.invoke(app, ["serve", "--help"]).exit_code == 0


def test_roles_in_the_keys_file(tmp_path):
    from xinfang.serving.keys import Permission, Role

    path = tmp_path / "keys"
    key = create_key(path, "lead", Role.supervisor)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{hash_key('xf_old')} old-clerk\n")  # a line written before roles: intake
    entries = {e.label: e for e in read_keys(path)}
    assert entries["lead"].role is Role.supervisor and entries["old-clerk"].role is Role.intake
    ring = KeyRing(path)
    assert ring.identify(key).may(Permission.unmasked) and not ring.identify(key).may(Permission.score)
    assert ring.identify("xf_old").may(Permission.score) and not ring.identify("xf_old").may(Permission.review)
    assert revoke_key(path, "old-clerk") == 1 and read_keys(path)[0].role is Role.supervisor  # kept on rewrite
    path.write_text(f"{hash_key('x')} someone boss\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=":1"):
        read_keys(path)


def test_apikey_create_with_a_role(tmp_path):
    path = tmp_path / "keys"
    runner = CliRunner()
    r = runner.invoke(app, ["apikey", "create", "--label", "zhang", "--role", "reviewer", "--keys-file", str(path)])
    assert r.exit_code == 0, r.output
    assert read_keys(path)[0].role.value == "reviewer"
    assert "reviewer" in runner.invoke(app, ["apikey", "list", "--keys-file", str(path)]).stdout
    r = runner.invoke(app, ["apikey", "create", "--label", "li", "--role", "boss", "--keys-file", str(path)])
    assert r.exit_code == 2 and "role" in r.output and len(read_keys(path)) == 1
