"""Headless Chromium: a report's DOM after its scripts ran, or a PNG screenshot (for tests and docs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """Debian's `chromium` (or another Chromium/Chrome binary on PATH), else None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="xinfang-chromium-") as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def dump_dom(html: Path, timeout: float = 60.0) -> str:
    """The serialised DOM of a local HTML file once its scripts have run."""
    res = _run(["--dump-dom", Path(html).resolve().as_uri()], timeout)
    if res.returncode != 0 or not res.stdout:
        raise RuntimeError(f"chromium --dump-dom failed ({res.returncode}): {res.stderr[-500:]}")
    return res.stdout


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2000, timeout: float = 60.0) -> Path:
    """A PNG of the top width x height pixels of a local HTML file."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    res = _run(
        [f"--window-size={width},{height}", f"--screenshot={png}", Path(html).resolve().as_uri()], timeout
    )
    if res.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium --screenshot failed ({res.returncode}): {res.stderr[-500:]}")
    return png


if __name__ == "__main__":  # python -m xinfang.evaluation.render REPORT.html OUT.png
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
