"""The result of scoring one letter, defined once (pydantic): the engine builds it, the batch job, the API,
evaluation and the published JSON Schema (docs/result.schema.json) read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_serializer,
    model_validator,
)

from xinfang.schema import Head, HeadKind, Schema

RESULT_VERSION = 1
"""The layout version of a result, written in every result as `result_version`. Bump it (and regenerate
docs/result.schema.json) when a reader of an older result would misread a newer one: a field removed,
renamed or retyped, or a value whose meaning changes. A new optional field does not bump it; a change of
the label schema (heads, classes) does not either: that is the model's own schema version."""

LEGACY_VERSION = 1
"""What a result written before `result_version` existed (no such field) is read as: the same layout."""

CREDIBILITY_HEAD = "credibility"
"""The multi-label head answered with a weighted 0-1 score and an evidence span per present signal."""
MALICIOUS_HEAD = "malicious"
"""The binary head answered with indicator spans (rule spans, and the near_duplicate indicator)."""

RESERVED = frozenset({"id", "model", "route", "duplicates", "ocr", "result_version"})
"""Top-level names of a result that are not heads: no head of a label schema may use them."""

_ANSWER = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Span(BaseModel):
    """Evidence in the letter: a signal and the [start, end) characters of the letter that show it."""

    model_config = _ANSWER

    type: str = Field(description="the signal or indicator (e.g. specific_amount, hearsay)")
    text: str = Field(description="the quoted letter text (personal data masked by `xinfang classify` "
                                  "unless --unmasked-spans; left out of the API's results store)")
    start: int
    end: int
    source: str = Field(description="what found it: rule (the rules), model (the model's span head, or the "
                                    "n-gram model's evidence where the model has no span head)")


class NearDuplicateIndicator(Span):
    """The malicious indicator of a mass-copied letter (xinfang.near_duplicates): points at no text."""

    type: Literal["near_duplicate"] = "near_duplicate"
    text: Literal[""] = ""
    start: Literal[-1] = -1
    end: Literal[-1] = -1
    source: Literal["duplicates"] = "duplicates"
    count: int = Field(ge=1, description="earlier near-copies seen")
    same_submitter: bool = Field(description="whether one of them came from the same submitter")


Indicator = NearDuplicateIndicator | Span


class SingleLabelAnswer(BaseModel):
    """Exactly one class applies (e.g. sector)."""

    model_config = _ANSWER

    label: str
    scores: dict[str, float] = Field(description="calibrated probability per class (they sum to 1)")
    confidence: float = Field(ge=0, le=1, description="the top probability")

    def spans(self) -> list[Span]:
        return []


class MultiLabelAnswer(BaseModel):
    """Several classes may apply (e.g. topic); `primary` is the likeliest of the chosen ones."""

    model_config = _ANSWER

    labels: list[str] = Field(description="the chosen classes, in class order")
    primary: str | None = Field(description="the likeliest chosen class; null when none is chosen")
    scores: dict[str, float] = Field(description="calibrated probability per class")
    confidence: float = Field(ge=0, le=1, description="the least sure of the per-class yes/no decisions")

    @model_validator(mode="after")
    def _primary_is_chosen(self) -> MultiLabelAnswer:
        if (self.primary is None) != (not self.labels) or (self.primary is not None
                                                            and self.primary not in self.labels):
            raise ValueError(f"primary {self.primary!r} must be one of labels {self.labels} (null when empty)")
        return self

    def spans(self) -> list[Span]:
        return []


class CredibilityAnswer(MultiLabelAnswer):
    """Verifiability signals of the letter, a weighted 0-1 score, and the spans that show each signal."""

    score: float = Field(ge=0, le=1, description="class scores weighted by the label schema's class weights")
    signals: list[Span] = Field(description="evidence: at least one span per signal in `labels`")

    def spans(self) -> list[Span]:
        return list(self.signals)


class BinaryAnswer(BaseModel):
    """A yes/no question (e.g. abusive): calibrated probability and the decision at its threshold."""

    model_config = _ANSWER

    probability: float = Field(ge=0, le=1)
    flag: bool
    confidence: float = Field(ge=0, le=1, description="the probability of the side chosen")

    def spans(self) -> list[Span]:
        return []


class MaliciousAnswer(BinaryAnswer):
    """Likelihood of a malicious or false report, with indicators; it only ever routes a letter to a person."""

    indicators: list[Indicator] = Field(description="rule spans, and near_duplicate for a mass copy")

    def spans(self) -> list[Span]:
        return list(self.indicators)


def _answer_tag(value: Any) -> str | None:
    keys = value.keys() if isinstance(value, dict) else type(value).model_fields.keys() \
        if isinstance(value, BaseModel) else ()
    for key, tag in (("label", "single_label"), ("signals", "credibility"), ("labels", "multi_label"),
                     ("indicators", "malicious"), ("flag", "binary")):
        if key in keys:
            return tag
    return None


Answer = Annotated[
    Annotated[SingleLabelAnswer, Tag("single_label")] | Annotated[CredibilityAnswer, Tag("credibility")]
    | Annotated[MultiLabelAnswer, Tag("multi_label")] | Annotated[MaliciousAnswer, Tag("malicious")]
    | Annotated[BinaryAnswer, Tag("binary")],
    Discriminator(_answer_tag, custom_error_type="unknown_answer",
                  custom_error_message="not a head answer (single_label, multi_label or binary)"),
]
"""One head's answer; which kind follows from the head (see answer_model)."""


def answer_model(head: Head) -> type[BaseModel]:
    """The answer type of a head: by its kind, with the credibility and malicious heads' extras."""
    if head.kind is HeadKind.single_label:
        return SingleLabelAnswer
    if head.kind is HeadKind.multi_label:
        return CredibilityAnswer if head.name == CREDIBILITY_HEAD else MultiLabelAnswer
    return MaliciousAnswer if head.name == MALICIOUS_HEAD else BinaryAnswer


class ModelRef(BaseModel):
    """The model that scored the letter."""

    name: str
    version: str
    precision: str


class Route(BaseModel):
    """`auto` when no rule sends the letter to a person; otherwise `human`, with the reasons
    (each starts with the head's name and a colon; xinfang.routing writes them)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["auto", "human"]
    reasons: list[str]

    @model_validator(mode="after")
    def _human_iff_reasons(self) -> Route:
        if (self.decision == "human") != bool(self.reasons):
            raise ValueError("a letter goes to a person exactly when there are reasons")
        return self


class Duplicate(BaseModel):
    """An earlier letter (same output file, or scored by the same service) that is a near-copy of this one."""

    model_config = ConfigDict(extra="forbid")

    id: str
    similarity: float = Field(description="MinHash estimate of the Jaccard similarity of word 3-shingles")


class OcrLine(BaseModel):
    """A line the OCR was unsure of: its page and the [start, end) characters of the letter's text."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(ge=1)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    confidence: float = Field(ge=0, le=1)


class OcrInfo(BaseModel):
    """How the text of a scanned letter (image or PDF) was read (xinfang.ocr); absent for a typed letter."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["ocr", "pdf_text"] = Field(description="ocr: recognised from page images (a PDF page with "
                                               "a text layer gives its text); pdf_text: no page needed OCR")
    pages: int = Field(ge=1)
    lines: int = Field(ge=0, description="lines placed in the text")
    mean_confidence: float | None = Field(ge=0, le=1, description="mean OCR confidence of the recognised lines; "
                                          "null when none was recognised")
    min_confidence: float | None = Field(ge=0, le=1, description="the lowest line confidence")
    low_confidence_threshold: float = Field(ge=0, le=1)
    low_confidence_lines: list[OcrLine] = Field(description="lines under the threshold, for the reviewer")


class LetterResult(BaseModel):
    """The answer for one letter: `id`, `model`, one field per head of the model's label schema (the
    default schema's heads are topic, sector, credibility, malicious and abusive; a deployment's own heads
    appear under their names), `route`, `duplicates` and `result_version`."""

    model_config = ConfigDict(extra="allow", title="LetterResult")
    __pydantic_extra__: dict[str, Answer] = Field(init=False)  # the head answers, by head name

    id: str
    model: ModelRef
    route: Route
    duplicates: list[Duplicate] = Field(description="earlier near-copies, best first (xinfang.near_duplicates)")
    ocr: OcrInfo | None = Field(default=None, description="present only for a scanned letter (image or PDF)")
    result_version: int = Field(ge=1, description=f"the layout version of this result ({RESULT_VERSION} now)")

    @model_validator(mode="before")
    @classmethod
    def _unversioned(cls, data: Any) -> Any:
        if isinstance(data, dict) and "result_version" not in data:
            data = {**data, "result_version": LEGACY_VERSION}  # written before the field existed
        return data

    @model_serializer(mode="wrap")
    def _layout(self, handler: Any):  # noqa: ANN202  (no return type: the schema stays the model's)
        """Today's layout: id, model, the heads in schema order, route, duplicates, ocr (scans only),
        result_version."""
        data = handler(self)
        first = {k: data.pop(k) for k in ("id", "model") if k in data}
        if data.get("ocr", 0) is None:
            del data["ocr"]  # a typed letter's result is as it always was
        last = {k: data.pop(k) for k in ("route", "duplicates", "ocr", "result_version") if k in data}
        return {**first, **data, **last}

    @property
    def heads(self) -> dict[str, Answer]:
        """The head answers by head name, in the label schema's order."""
        return self.__pydantic_extra__ or {}

    def spans(self) -> Iterator[Span]:
        """Every evidence span and indicator of every head."""
        for answer in self.heads.values():
            yield from answer.spans()

    def to_json(self, span_texts: bool = True) -> dict[str, Any]:
        """The JSON object of the result; without `span_texts`, spans keep type and offsets but no quote."""
        data = self.model_dump(mode="json")
        if not span_texts:
            for name, answer in self.heads.items():
                for key in ("signals", "indicators"):
                    if key in type(answer).model_fields:
                        for span in data[name][key]:
                            span.pop("text", None)
        return data


def name_heads(schema: dict[str, Any], labels: Schema, refs: str = "#/$defs/") -> None:
    """Name a label schema's heads in a result's JSON Schema (in place): each a required property of its
    answer type (`refs`: where the answer definitions are), between `model` and `route`."""
    heads = {h.name: {"$ref": f"{refs}{answer_model(h).__name__}", "description": h.description}
             for h in labels.heads}
    props = schema["properties"]
    schema["properties"] = {"id": props.pop("id"), "model": props.pop("model"), **heads, **props}
    schema["required"] = ["id", "model", *heads, *(r for r in schema["required"] if r not in ("id", "model"))]
    schema["description"] += f" Heads named here: label schema '{labels.name}' version {labels.version}."


def result_json_schema(labels: Schema | None = None) -> dict[str, Any]:
    """The JSON Schema of a result; with a label schema, its heads are named properties (required, each of
    its answer type) besides the rule for any other head."""
    schema = LetterResult.model_json_schema(mode="serialization")
    if labels is not None:
        name_heads(schema, labels)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://xinfang.invalid/result/v{RESULT_VERSION}.schema.json",
            "x-result-version": RESULT_VERSION, **schema}


def result_schema_text(labels: Schema | None = None) -> str:
    """The published JSON Schema file's text (docs/result.schema.json: the default label schema's heads)."""
    return json.dumps(result_json_schema(labels), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":  # python -m xinfang.result > docs/result.schema.json
    from xinfang.schema import load_schema

    print(result_schema_text(load_schema()), end="")
