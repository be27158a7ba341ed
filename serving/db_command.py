"""`xinfang db upgrade`: bring the results store's tables to the newest migration and say what changed."""

from __future__ import annotations

from xinfang.serving.store import ResultsStore


def db_upgrade(url: str) -> str:
    """Open the store at `url` (which runs the migrations); one line saying what was done.
    Raises StoreUnavailable when the database cannot be reached or upgraded."""
    store = ResultsStore(url)
    try:
        before, after = store.revisions
    finally:
        store.close()
    if before == after:
        return f"results store {store.url}: already at revision {after}, the newest"
    return f"results store {store.url}: upgraded from {before or 'an empty database'} to revision {after}"
