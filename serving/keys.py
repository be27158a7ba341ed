"""API keys file: random keys shown once, kept only as SHA-256 hashes with a label and a role, one per line."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from xinfang.errors import InputFileError, XinfangError

KEY_PREFIX = "xf_"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LABEL = re.compile(r"^[\w.@:-]{1,64}$")
log = logging.getLogger("xinfang.serving.keys")
HEADER = ("# xinfang API keys: '<sha256 of key> <label> [<role>]' per line (no role: intake); "
          "the keys themselves are never stored\n")


class Role(StrEnum):
    """What a key may do: `intake` scores letters, `reviewer` reviews them with personal data masked,
    `supervisor` may also see it unmasked, `admin` manages keys."""

    intake = "intake"
    reviewer = "reviewer"
    supervisor = "supervisor"
    admin = "admin"


class Permission(StrEnum):
    score = "score"
    review = "review"
    unmasked = "unmasked"
    keys = "keys"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.intake: frozenset({Permission.score}),
    Role.reviewer: frozenset({Permission.review}),
    Role.supervisor: frozenset({Permission.review, Permission.unmasked}),
    Role.admin: frozenset({Permission.keys}),
}


@dataclass(frozen=True)
class KeyEntry:
    """One accepted key: the SHA-256 hex digest of the key, a label naming its holder and its role."""

    digest: str
    label: str
    role: Role = Role.intake

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def line(self) -> str:
        return f"{self.digest} {self.label} {self.role.value}\n"


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise XinfangError(f"role {value!r}: use one of {', '.join(r.value for r in Role)}") from None


def new_key() -> str:
    """A fresh random key (256 bits, URL-safe)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_keys(path: Path) -> list[KeyEntry]:
    """Entries of a keys file ([] if it does not exist); a malformed line raises with its line number."""
    if not path.is_file():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, *rest = line.split()
        label = rest.pop(0) if rest else ""
        if not _HEX64.match(digest) or len(rest) > 1 or (rest and rest[0] not in Role.__members__):
            raise InputFileError(path, "expected '<64 hex sha256> <label> [intake|reviewer|supervisor|admin]'",
                                 line=n)
        entries.append(KeyEntry(digest, label, Role(rest[0]) if rest else Role.intake))
    return entries


def _check_label(label: str) -> str:
    label = label.strip()
    if not _LABEL.match(label):
        raise XinfangError(f"label {label!r}: use 1-64 letters, digits or . _ @ : -")
    return label


def create_key(path: Path, label: str, role: Role = Role.intake) -> str:
    """Append the hash of a new key under `label` (unique) with its role and return the key, which is
    stored nowhere."""
    label = _check_label(label)
    if any(e.label == label for e in read_keys(path)):
        raise XinfangError(f"a key labelled {label!r} already exists in {path}; revoke it first")
    key = new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if fh.tell() == 0:
            fh.write(HEADER)
        fh.write(KeyEntry(hash_key(key), label, Role(role)).line())
    return key


def revoke_key(path: Path, label: str) -> int:
    """Remove the entries labelled `label`; returns how many were removed."""
    entries = read_keys(path)
    keep = [e for e in entries if e.label != label]
    if len(keep) != len(entries):
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(HEADER + "".join(e.line() for e in keep))
        os.replace(tmp, path)
    return len(entries) - len(keep)


class KeyRing:
    """The accepted keys, re-read when the file changes (so `xinfang apikey create` needs no restart)."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._entries: list[KeyEntry] = []
        self.refresh()

    def refresh(self, strict: bool = True) -> None:
        """Re-read the file if it changed; with strict=False a bad file keeps the last good keys."""
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        try:
            self._entries = read_keys(self.path) if stamp else []
        except XinfangError as exc:
            if strict:
                raise
            log.error("API keys file unreadable, keeping the %d keys loaded before: %s", len(self._entries), exc)
        self._stamp = stamp

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, key: str) -> KeyEntry | None:
        """The entry of a valid key, else None."""
        return self.by_digest(hash_key(key))

    def by_digest(self, digest: str) -> KeyEntry | None:
        """The entry whose key hashes to `digest` (a login session keeps only that) while the key is
        accepted, else None (digests compared in constant time)."""
        self.refresh(strict=False)
        found = None
        for e in self._entries:
            if hmac.compare_digest(digest, e.digest):
                found = e
        return found

    def check(self, key: str) -> str | None:
        """The label of a valid key, else None."""
        entry = self.identify(key)
        return entry.label if entry else None
