"""Loads the generator's YAML data (config, templates, lexicons) once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from xinfang.training.generator.catalog import Catalog, build_catalog

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LEXICON_FILES = ("people", "places", "units", "quantities", "misc", "noise")


@dataclass(frozen=True)
class Resources:
    """Everything the generator reads from data files."""

    config: dict[str, Any]
    lex: dict[str, Any]
    catalog: Catalog


def _read(*parts: str) -> Any:
    ref = resources.files("xinfang.training.generator").joinpath(*parts)
    return yaml.load(ref.read_text(encoding="utf-8"), Loader=_Loader)


@lru_cache(maxsize=1)
def load_resources() -> Resources:
    """Parse every data file of the package (cached)."""
    lex: dict[str, Any] = {}
    for name in LEXICON_FILES:
        doc = _read("lexicon", f"{name}.yaml")
        overlap = set(lex) & set(doc)
        if overlap:
            raise ValueError(f"lexicon key(s) {sorted(overlap)} defined twice")
        lex.update(doc)
    catalog = build_catalog(_read("letter.yaml"), _read("indicators.yaml"), _read("problems.yaml"),
                            groups=lex["groups"])
    return Resources(config=_read("config.yaml"), lex=lex, catalog=catalog)
