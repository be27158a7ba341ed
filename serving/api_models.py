"""Request and response bodies of the API (pydantic), so /docs and /openapi.json describe them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

_EXAMPLE = {"id": "2024-000123", "text": "我实名举报某街道办副主任王某某，2019年3月收受工程老板红包5万元，有转账记录为证。",
            "submitter": "U0042", "metadata": {"channel": "web"}}


# ---- requests ----------------------------------------------------------------------------------------

class LetterRequest(BaseModel):
    """One letter to score."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    id: str | None = Field(default=None, min_length=1, max_length=128,
                           description="caller's letter id; a random one is given when absent")
    text: str = Field(description="the letter text (not empty; at most max_text_chars characters)")
    submitter: str | None = Field(default=None, max_length=128,
                                  description="submitter id for repeat analysis; stored only as a SHA-256 hash")
    metadata: dict[str, Any] | None = Field(default=None,
                                            description="free fields (channel, received time); "
                                                        "stored only when the server stores text")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise PydanticCustomError("empty_text", "text is empty or only whitespace")
        return text


class BatchRequest(BaseModel):
    """Several letters scored together (at most max_batch_letters, 64 by default)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"letters": [_EXAMPLE]}]})

    letters: list[LetterRequest] = Field(min_length=1, description="the letters; ids must be distinct")


# ---- results -----------------------------------------------------------------------------------------

class Span(BaseModel):
    """Evidence in the letter: a rule signal and the [start, end) characters that show it."""

    type: str
    text: str
    start: int
    end: int
    source: str


class MultiLabelAnswer(BaseModel):
    """Several classes may apply (e.g. topic); `primary` is the strongest of the chosen ones."""

    model_config = ConfigDict(extra="allow")

    labels: list[str]
    primary: str | None
    scores: dict[str, float]
    confidence: float


class SingleLabelAnswer(BaseModel):
    """Exactly one class applies (e.g. sector)."""

    model_config = ConfigDict(extra="allow")

    label: str
    scores: dict[str, float]
    confidence: float


class BinaryAnswer(BaseModel):
    """A yes/no question (e.g. abusive): calibrated probability and the decision at its threshold."""

    model_config = ConfigDict(extra="allow")

    probability: float
    flag: bool
    confidence: float


class CredibilityAnswer(MultiLabelAnswer):
    """Verifiability signals the model sees, a 0-1 score, and the rule spans that show them."""

    score: float
    signals: list[Span]


class Indicator(Span):
    """A malicious indicator: a rule span, or `near_duplicate` (xinfang.near_duplicates: text "", start = end
    = -1, source "duplicates") with the number of earlier near-copies and whether one had the same submitter."""

    count: int | None = None
    same_submitter: bool | None = None


class MaliciousAnswer(BinaryAnswer):
    """Likelihood of a malicious or false report; it only ever routes the letter to a person."""

    indicators: list[Indicator]


class ModelRef(BaseModel):
    name: str
    version: str
    precision: str


class Route(BaseModel):
    """`auto` when every head is confident enough; otherwise `human`, with the reasons."""

    decision: Literal["auto", "human"]
    reasons: list[str]


class DuplicateMatch(BaseModel):
    """An earlier letter (scored by this service) that is a near-copy of this one."""

    id: str
    similarity: float = Field(description="MinHash estimate of the Jaccard similarity of word 3-shingles")


class ScoreResult(BaseModel):
    """The answer for one letter: one field per head of the model's label schema (the default heads are
    typed below; a deployment's own heads appear under their names), the route and near-duplicates."""

    model_config = ConfigDict(extra="allow")

    id: str
    model: ModelRef
    topic: MultiLabelAnswer | None = None
    sector: SingleLabelAnswer | None = None
    credibility: CredibilityAnswer | None = None
    malicious: MaliciousAnswer | None = None
    abusive: BinaryAnswer | None = None
    route: Route
    duplicates: list[DuplicateMatch]


class BatchResult(BaseModel):
    results: list[ScoreResult] = Field(description="one result per letter, in request order")


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


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    error: ErrorInfo
