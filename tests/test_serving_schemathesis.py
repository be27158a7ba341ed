"""Schemathesis over the API's OpenAPI document, in-process (ASGI) against the tiny model: no check fails.

Bounded to a few examples per operation so that it runs in seconds; for a longer run:
`XINFANG_SCHEMATHESIS_EXAMPLES=200 .venv/bin/python -m pytest tests/test_serving_schemathesis.py`."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
import schemathesis_hooks  # noqa: F401  (the API's rules JSON Schema cannot state; tests/ is on sys.path)
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from xinfang.config import Settings
from xinfang.engine import Engine
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key

EXAMPLES = int(os.environ.get("XINFANG_SCHEMATHESIS_EXAMPLES", "10"))
# Small limits keep the cases cheap; the documented text limit is then max_tokens_per_request characters.
LIMITS: dict[str, Any] = {"max_batch_letters": 3, "max_tokens_per_request": 300, "microbatch_wait_ms": 0.0}
# Any bytes are a schema-valid upload, but only an image or PDF is a scan (422 unreadable_scan otherwise).
UPLOADS = {"/v1/letters:scan"}


class AppUnderTest:
    """The ASGI app schemathesis calls: the `served` fixture's, with the tiny model.

    Schemathesis collects its cases when this module is imported (its fixture-based loader does not work
    with pytest 9), before the tiny model exists, so it is given this stand-in, which passes every call
    (the lifespan included) to the app the fixture makes. The document depends on LIMITS only."""

    def __init__(self) -> None:
        self.app: Any = None
        self.key = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


APP = AppUnderTest()
schema = schemathesis.openapi.from_dict(create_app(Settings(**LIMITS)).openapi())  # that app never starts
schema.app = APP  # what schemathesis.openapi.from_asgi does


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_dir) -> AppUnderTest:
    folder = tmp_path_factory.mktemp("schemathesis")
    app_settings = Settings(state_dir=folder, models_dir=folder / "models", **LIMITS)
    APP.key = create_key(app_settings.api_keys_path, "schemathesis")
    APP.app = create_app(app_settings, engine=Engine(tiny_model_dir, precision="fp32"))
    return APP


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, served):
    excluded = [positive_data_acceptance] if case.operation.path in UPLOADS else []
    case.call_and_validate(base_url="http://testserver", headers={"Authorization": f"Bearer {served.key}"},
                           excluded_checks=excluded)
