"""The bodies of `xinfang review load` and `xinfang review corrections` (cli.py registers them)."""

from __future__ import annotations

from pathlib import Path

from xinfang.config import get_settings
from xinfang.errors import XinfangError
from xinfang.schema import load_schema
from xinfang.serving.review.files import export_corrections, load_batch
from xinfang.serving.review.store import ReviewStore
from xinfang.serving.store import ResultsStore, StoreUnavailable


def _open(url: str) -> tuple[ResultsStore, ReviewStore]:
    try:
        results = ResultsStore(url)
    except StoreUnavailable as exc:
        raise XinfangError(str(exc)) from None
    return results, ReviewStore(results.engine)


def load_command(output: Path, texts: Path) -> str:
    """Load a batch output into the review store of the settings' database; a line saying what was loaded."""
    settings = get_settings()
    results, store = _open(settings.results_store_url)
    try:
        res = load_batch(output, texts, settings, load_schema(settings.schema_path), store)
    finally:
        results.close()
    missing = (f"; {len(res.without_text)} results without a text in {texts.name} left out (first: "
               f"{res.without_text[0]})") if res.without_text else ""
    bad = f"; {res.bad_labels} unreadable labels left out" if res.bad_labels else ""
    return f"{res.loaded} letters of {output.name} added to the review store {results.url}{missing}{bad}"


def corrections_command(out_dir: Path | None) -> str:
    """Write the review page's current corrections where training reads reviews; a line saying where."""
    settings = get_settings()
    results, store = _open(settings.results_store_url)
    try:
        path, n = export_corrections(store, out_dir or settings.reviews_path)
    finally:
        results.close()
    return f"{n} corrected letters written to {path}; the next `xinfang train` reads them"
