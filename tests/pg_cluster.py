"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary folder, the server on a unix socket
in that folder only (no TCP port), run as the `postgres` user when the tests run as root (the server refuses
to run as root), stopped and removed at the end of the session.

Without PostgreSQL (`make install` installs Debian's `postgresql`) the tests that need it fail when CI is set
(as .ci/run sets it) and are skipped with that reason otherwise."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

BACKENDS = ["sqlite", "postgresql"]
SERVER_OPTIONS = "-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl (Debian's layout), else PATH's."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PgCluster:
    """One cluster: `start`, `stop` (as an outage would), `new_database` (a fresh, empty database's URL)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.user = "postgres" if os.geteuid() == 0 else None
        # as root, in /tmp: TMPDIR may lie under a folder the postgres user cannot enter
        self.folder = Path(tempfile.mkdtemp(prefix="xinfang-pg-", dir="/tmp" if self.user else None))
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.data = self.folder / "data"
        self._names = itertools.count(1)
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                 "--locale=C")

    def _pg(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bindir / tool), *args], cwd=self.folder, user=self.user,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}\n{tail}")

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                 "-o", f"-k {self.folder} {SERVER_OPTIONS}", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.folder}"

    def new_database(self) -> str:
        import psycopg

        name = f"xinfang_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(host=str(self.folder), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    """A running throw-away cluster, one per session."""
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL is not installed (initdb not found); `make install` installs Debian's postgresql"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI: {reason}", pytrace=False)
        pytest.skip(reason)
    cluster = PgCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def backend_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A fresh database of `backend`: None for SQLite (the settings' default file), a new PostgreSQL
    database's URL otherwise."""
    if backend == "sqlite":
        return None
    return request.getfixturevalue("postgres_cluster").new_database()
