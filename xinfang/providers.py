"""onnxruntime execution providers: the configured one when this onnxruntime and machine have it, else CPU."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import onnxruntime as ort

from xinfang.pii import redact_for_log

log = logging.getLogger("xinfang.providers")

CPU = "CPUExecutionProvider"
PROVIDERS = {"cpu": CPU, "cuda": "CUDAExecutionProvider"}
"""The setting's values (xinfang.config `execution_provider`) and onnxruntime's names for them."""


def create_session(path: Path | str, options: ort.SessionOptions, provider: str = "cpu") -> ort.InferenceSession:
    """A session on `provider` ('cpu' or 'cuda'); on CPU, with a warning, when this onnxruntime lacks the
    provider (onnxruntime rather than onnxruntime-gpu), it fails to start, or onnxruntime leaves it out (no GPU)."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown execution provider {provider!r}; one of {sorted(PROVIDERS)}")
    wanted = PROVIDERS[provider]
    if wanted == CPU:
        return ort.InferenceSession(str(path), options, providers=[CPU])
    available = ort.get_available_providers()
    if wanted not in available:
        log.warning("execution provider %s is not in this onnxruntime (it has %s; for cuda install onnxruntime-gpu "
                    "instead of onnxruntime): running on CPU", wanted, ", ".join(available))
        return ort.InferenceSession(str(path), options, providers=[CPU])
    try:
        session = ort.InferenceSession(str(path), options, providers=[wanted, CPU])
    except Exception as exc:  # a CUDA library or driver missing: onnxruntime's message says which
        log.warning("execution provider %s failed to start (%s: %s): running on CPU", wanted, type(exc).__name__,
                    redact_for_log(str(exc).splitlines()[0] if str(exc) else "")[:300])
        return ort.InferenceSession(str(path), options, providers=[CPU])
    if session.get_providers()[0] != wanted:
        log.warning("onnxruntime did not start execution provider %s (no usable GPU?): running on %s", wanted,
                    session.get_providers()[0])
    return session


def provider_of(engine: Any) -> str | None:
    """The execution provider an engine's session actually runs on (None for an engine without a session)."""
    session = getattr(engine, "session", None)
    providers = session.get_providers() if session is not None else []
    return str(providers[0]) if providers else None
