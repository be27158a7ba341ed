"""Pseudonymous submitter keys: HMAC-SHA256 under one deployment secret (a setting, or a 0600 state file)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from xinfang.config import Settings
from xinfang.errors import XinfangError

log = logging.getLogger("xinfang.submitters")
KEY_FILE = "submitter_key"  # in settings.state_dir
MIN_SECRET_CHARS = 16


def _create_key_file(path: Path) -> None:
    """Write a random secret to `path` unless it exists: written to a 0600 temporary file, then linked into
    place, so a process that races this one reads either nothing or the whole secret, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("created a submitter key in %s (keep it: repeat-submitter links depend on it)", path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)


def _read_key_file(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users (mode %o); chmod 600 it", path, stat.S_IMODE(mode))
    return path.read_text(encoding="utf-8").strip()


def submitter_secret(settings: Settings) -> bytes:
    """The deployment's submitter secret: XINFANG_SUBMITTER_KEY, else state_dir/submitter_key (created with
    a random 256-bit secret and mode 0600 on first use)."""
    if settings.submitter_key is not None:
        value, where = settings.submitter_key.get_secret_value().strip(), "XINFANG_SUBMITTER_KEY"
    else:
        path = settings.state_dir / KEY_FILE
        if not path.exists():
            _create_key_file(path)
        value, where = _read_key_file(path), str(path)
    if len(value) < MIN_SECRET_CHARS:
        raise XinfangError(f"the submitter key in {where} is shorter than {MIN_SECRET_CHARS} characters; "
                           "use a long random value (e.g. `openssl rand -hex 32`)")
    return value.encode("utf-8")


class SubmitterKeyer:
    """Turns a submitter id into a key that only says whether two letters share a submitter: HMAC-SHA256
    (hex) under the deployment secret, so the id cannot be recovered by hashing guesses."""

    def __init__(self, secret: bytes):
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the submitter secret must have at least {MIN_SECRET_CHARS} bytes")
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> SubmitterKeyer:
        return cls(submitter_secret(settings))

    def __call__(self, submitter: str | None) -> str | None:
        """The key of a submitter id; None for no (or a blank) submitter."""
        if submitter is None or not submitter.strip():
            return None
        return hmac.new(self._secret, submitter.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never shows the secret
        return "SubmitterKeyer(<secret>)"
