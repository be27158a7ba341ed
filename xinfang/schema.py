"""The label schema: heads and classes, read from one YAML/JSON file and validated."""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xinfang.errors import InputFileError

DEFAULT_SCHEMA = "default"


class HeadKind(StrEnum):
    """How a head's classes relate: several at once, exactly one, or yes/no."""

    multi_label = "multi_label"
    single_label = "single_label"
    binary = "binary"


class LabelClass(BaseModel):
    """One class of a head: a stable id, its Chinese name and an optional score weight."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str = Field(min_length=1)
    description: str = ""
    weight: float | None = Field(default=None, ge=0)
    exclusive: bool = Field(False, description="multi-label heads: never combined with other classes (when it "
                                               "is chosen it is the whole answer, e.g. out_of_scope)")


class Head(BaseModel):
    """One question the model answers about a letter."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: HeadKind
    description: str = ""
    classes: list[LabelClass] = Field(min_length=1)
    routes: bool = Field(True, description="whether low confidence on this head sends the letter to a person "
                                           "(false: the answer is shown, e.g. evidence, but does not route)")
    spans: bool = Field(False, description="whether the model also learns to point at the text that shows each "
                                           "class (one span per class, from letters labelled with spans)")

    @model_validator(mode="after")
    def _check_classes(self) -> Head:
        ids = [c.id for c in self.classes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate class ids {dupes}")
        if self.kind is HeadKind.binary and len(self.classes) != 1:
            raise ValueError("a binary head has exactly one class (the positive one)")
        if self.kind is HeadKind.single_label and len(self.classes) < 2:
            raise ValueError("a single_label head needs at least two classes")
        if self.spans and self.kind is HeadKind.single_label:
            raise ValueError("spans are for multi_label and binary heads (one span per class that is present)")
        return self

    @property
    def class_ids(self) -> list[str]:
        return [c.id for c in self.classes]

    @property
    def n_outputs(self) -> int:
        """Number of logits the model emits for this head."""
        return len(self.classes)

    def index(self, label: str) -> int:
        """Index of a class given its id or its Chinese name; KeyError if unknown."""
        for i, c in enumerate(self.classes):
            if label in (c.id, c.zh):
                return i
        raise KeyError(label)


class Schema(BaseModel):
    """The whole label profile: every head the model is trained and served with."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = 1
    heads: list[Head] = Field(min_length=1)

    @field_validator("heads")
    @classmethod
    def _unique_heads(cls, heads: list[Head]) -> list[Head]:
        names = [h.name for h in heads]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate head names {dupes}")
        return heads

    @cached_property
    def by_name(self) -> dict[str, Head]:
        return {h.name: h for h in self.heads}

    def head(self, name: str) -> Head:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"unknown head '{name}' (schema has {list(self.by_name)})") from None

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.heads]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False)


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map every key path in a YAML/JSON document to its 1-based line."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, key.value))
                lines[(*path, key.value)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def parse_schema(text: str, source: str | Path = "<schema>") -> Schema:
    """Validate schema text; errors name the source, line and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputFileError(source, f"not valid YAML/JSON: {getattr(exc, 'problem', exc)}",
                             line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputFileError(source, "a schema is a mapping with 'name' and 'heads'", line=1)
    try:
        return Schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        lines = _line_index(text)
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        field = ".".join(str(p) for p in loc) or None
        raise InputFileError(source, err["msg"], line=line, field=field) from None


def load_schema(path: str | Path | None = None) -> Schema:
    """Load a schema file, or the packaged default profile when path is None or 'default'."""
    if path is None or str(path) == DEFAULT_SCHEMA:
        ref = resources.files("xinfang") / "schemas" / "default.yaml"
        return parse_schema(ref.read_text(encoding="utf-8"), source="xinfang/schemas/default.yaml")
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "schema file not found")
    return parse_schema(p.read_text(encoding="utf-8"), source=p)


def schema_to_json(schema: Schema) -> str:
    return json.dumps(schema.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2)
