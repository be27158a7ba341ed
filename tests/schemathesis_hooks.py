"""Schemathesis hooks for the API: the rules of the API that JSON Schema cannot state.

Loaded by tests/test_serving_schemathesis.py, and by the CLI with
`PYTHONPATH=tests SCHEMATHESIS_HOOKS=schemathesis_hooks .venv/bin/schemathesis run URL/openapi.json ...`."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    """Ids within one batch must be distinct (documented; 422 duplicate_ids): no generated body breaks that."""
    letters = body.get("letters") if isinstance(body, dict) else None
    if not isinstance(letters, list):
        return True
    ids = [x["id"] for x in letters if isinstance(x, dict) and isinstance(x.get("id"), str)]
    return len(ids) == len(set(ids))
