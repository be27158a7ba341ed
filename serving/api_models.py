"""Request and response bodies of the API (pydantic), so /docs and /openapi.json describe them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from xinfang.result import LetterResult

_EXAMPLE = {"id": "2024-000123", "text": "我实名举报某街道办副主任王某某，2019年3月收受工程老板红包5万元，有转账记录为证。",
            "submitter": "U0042", "metadata": {"channel": "web"}}


# ---- requests ----------------------------------------------------------------------------------------

# Spelled out rather than \s so that Python and ECMA-262 (JSON Schema) read the patterns alike.
_BLANK = r"\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"  # the batch job's id rule: no control characters or line breaks
_FORMAT = r"\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"  # zero-width etc.
TEXT_PATTERN = f"[^{_BLANK}{_CONTROL}{_FORMAT}]"
"""A letter text must contain one visible character: not only blanks, control or zero-width characters."""
ID_PATTERN = f"^[^{_CONTROL}]*[^{_BLANK}{_CONTROL}][^{_CONTROL}]*$"
"""What xinfang.batch.reader's id check accepts (it, not this pattern, decides), for the OpenAPI document."""
_VISIBLE = re.compile(TEXT_PATTERN)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a lone surrogate (valid JSON escapes, but not Unicode text)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _no_surrogates(value: Any, field: str) -> Any:
    if _has_surrogate(value):
        raise PydanticCustomError("invalid_encoding", "{field} holds a lone surrogate (\\ud800-\\udfff): "
                                  "not valid Unicode text", {"field": field})
    return value


class LetterRequest(BaseModel):
    """One letter to score."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    id: str | None = Field(default=None, json_schema_extra={"pattern": ID_PATTERN},
                           description="caller's letter id (the batch job's rules: at most batch_max_id_chars "
                                       "characters, not blank, no control characters or line breaks); "
                                       "a random one is given when absent")
    text: str = Field(json_schema_extra={"minLength": 1, "pattern": TEXT_PATTERN},
                      description="the letter text: at most max_text_chars characters and max_tokens_per_request "
                                  "tokens, with at least one visible character (not only blanks, control or "
                                  "zero-width characters)")
    submitter: str | None = Field(default=None, max_length=128,
                                  description="submitter id for repeat analysis; stored only as a keyed hash")
    metadata: dict[str, Any] | None = Field(default=None,
                                            description="free fields (channel, received time); "
                                                        "stored only when the server stores text")

    @field_validator("text")
    @classmethod
    def _visible(cls, text: str) -> str:
        _no_surrogates(text, "text")
        if not _VISIBLE.search(text):
            raise PydanticCustomError("empty_text", "text is empty or only blanks, control or zero-width characters")
        return text

    @field_validator("id", "submitter", "metadata")
    @classmethod
    def _unicode(cls, value: Any, info: Any) -> Any:
        return _no_surrogates(value, info.field_name)


class BatchRequest(BaseModel):
    """Several letters scored together (at most max_batch_letters, 64 by default)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"letters": [_EXAMPLE]}]})

    letters: list[LetterRequest] = Field(min_length=1, description="the letters; ids must be distinct")


# ---- results ----------------------------------------------------------------------------------------

class BatchResult(BaseModel):
    results: list[LetterResult] = Field(description="one result per letter, in request order (each a "
                                                    "xinfang.result.LetterResult)")


# ---- service -----------------------------------------------------------------------------------------

class ClassInfo(BaseModel):
    id: str
    zh: str


class HeadInfo(BaseModel):
    name: str
    kind: str
    classes: list[ClassInfo]
    route_threshold: float | None = Field(description="confidence below which the letter goes to a person")
    decision_thresholds: list[float] = Field(description="per-class thresholds (multi-label and binary heads)")
    temperature: float | None


class SchemaInfo(BaseModel):
    name: str
    version: int
    heads: list[HeadInfo]


class BaseInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    licence: str | None = None
    production_use_allowed: bool | None = None


class CardSummary(BaseModel):
    """The parts of the model card a client needs; the whole card is in the model folder."""

    created: str | None = None
    base: BaseInfo
    data_sources: Any = None
    profile: str | None = None
    metrics_note: str | None = None


class ModelInfo(BaseModel):
    name: str
    version: str
    precision: str
    execution_provider: str | None = Field(
        default=None, description="the onnxruntime execution provider the model runs on: CPUExecutionProvider "
        "unless the execution_provider setting is cuda and onnxruntime-gpu and a GPU are present; null for an "
        "engine without an onnxruntime session")
    label_schema: SchemaInfo = Field(alias="schema", serialization_alias="schema")
    card: CardSummary

    model_config = ConfigDict(populate_by_name=True)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool]
    queue: dict[str, int]


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class StoredLetter(BaseModel):
    """The latest stored result of a letter id: when it was scored, which API key (by label) sent it, and
    the result as stored."""

    id: str
    scored_at: datetime
    api_key_label: str | None = Field(description="label of the API key that submitted it (null: stored "
                                      "before submitters' keys were recorded)")
    result: dict[str, Any] = Field(description="the LetterResult as stored; its evidence spans quote no "
                                   "letter text unless the service stores texts (store_text)")


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    error: ErrorInfo
