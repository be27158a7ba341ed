"""The OpenAPI document with this deployment's limits (text and id lengths, letters per batch) and the served
model's heads (named in the result) filled in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from xinfang.config import Settings
from xinfang.result import name_heads


def text_char_limit(settings: Settings) -> int:
    """The most characters a letter may have: max_text_chars, and no more than max_tokens_per_request.

    The tokenizers in use make about one token of a character or fewer (0.7 for real letters with e5), so
    within this limit the token limit binds only on characters that normalisation expands (such as U+FDFA,
    8 tokens), and the OpenAPI document, which can count characters but not tokens, states the limit."""
    return min(settings.max_text_chars, settings.max_tokens_per_request)


def with_limits(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi` that writes the settings' limits into the request schemas."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            models = schema.get("components", {}).get("schemas", {})
            letter = models.get("LetterRequest", {}).get("properties", {})
            if "text" in letter:
                letter["text"]["maxLength"] = text_char_limit(settings)
            if "id" in letter:
                letter["id"]["maxLength"] = settings.batch_max_id_chars
            batch = models.get("BatchRequest", {}).get("properties", {})
            if "letters" in batch:
                batch["letters"]["maxItems"] = min(settings.max_batch_letters, settings.queue_size)
            state = getattr(app.state, "xinfang", None)
            if state is None:  # not started: the generic result (any head), kept only until the model is known
                app.openapi_schema = None
                return schema
            if "LetterResult" in models:
                name_heads(models["LetterResult"], state.folder.schema, "#/components/schemas/")
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
