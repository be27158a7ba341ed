"""Keyed submitter hashes: HMAC under one deployment secret, from the setting or a 0600 state file."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from xinfang.config import Settings
from xinfang.errors import XinfangError
from xinfang.submitters import KEY_FILE, SubmitterKeyer, submitter_secret

PHONE = "13912345678"


def test_key_is_an_hmac_not_a_plain_hash(tmp_path: Path):
    """Issue 7 item 10: a plain SHA-256 of a phone number is reversed by hashing every phone number."""
    keyer = SubmitterKeyer.from_settings(Settings(state_dir=tmp_path))
    key = keyer(PHONE)
    assert key is not None and len(key) == 64
    assert key not in {hashlib.sha256(PHONE.encode()).hexdigest(),
                       hashlib.sha256(f"xinfang-submitter:{PHONE}".encode()).hexdigest()[:20]}
    secret = (tmp_path / KEY_FILE).read_text().strip().encode()
    assert key == hmac.new(secret, PHONE.encode(), hashlib.sha256).hexdigest()
    assert keyer(PHONE) == key and keyer("13912345679") != key
    assert keyer(None) is None and keyer("  ") is None
    assert "secret" in repr(keyer) and secret.decode() not in repr(keyer)


def test_state_file_is_created_once_with_0600(tmp_path: Path):
    state = tmp_path / "state"
    first = submitter_secret(Settings(state_dir=state))
    path = state / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 64
    # every process of the deployment (API, batch job, workers) reads the same secret
    assert submitter_secret(Settings(state_dir=state)) == first
    assert SubmitterKeyer.from_settings(Settings(state_dir=state))(PHONE) == SubmitterKeyer(first)(PHONE)
    assert [p.name for p in state.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_setting_wins_and_short_secrets_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XINFANG_SUBMITTER_KEY", "a-deployment-secret-of-some-length")
    settings = Settings(state_dir=tmp_path)
    assert submitter_secret(settings) == b"a-deployment-secret-of-some-length"
    assert not (tmp_path / KEY_FILE).exists()
    other = SubmitterKeyer.from_settings(Settings(state_dir=tmp_path, submitter_key="another-secret-entirely"))
    assert SubmitterKeyer.from_settings(settings)(PHONE) != other(PHONE)
    with pytest.raises(XinfangError, match="shorter than 16") as err:
        submitter_secret(Settings(state_dir=tmp_path, submitter_key="tiny-secret"))
    assert "tiny-secret" not in str(err.value)
