"""A head's answer read from a stored result, as a label value, its confidence and its probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from xinfang.schema import Head, HeadKind


def model_value(head: Head, answer: dict[str, Any] | None) -> Any:
    """The model's decision in the form of a training label: class id, list of class ids, or bool."""
    if not answer:
        return None
    if head.kind is HeadKind.single_label:
        return answer.get("label")
    if head.kind is HeadKind.multi_label:
        return list(answer.get("labels") or [])
    return bool(answer.get("flag"))


def same_label(head: Head, a: Any, b: Any) -> bool:
    if head.kind is HeadKind.multi_label and a is not None and b is not None:
        return sorted(a) == sorted(b)
    return a == b


def probabilities(head: Head, answer: dict[str, Any] | None) -> np.ndarray:
    """The head's probabilities in class order (binary: one column); zeros where the result lacks them."""
    if not answer:
        return np.zeros(1 if head.kind is HeadKind.binary else len(head.classes))
    if head.kind is HeadKind.binary:
        return np.array([float(answer.get("probability", 0.0))])
    scores = answer.get("scores") or {}
    return np.array([float(scores.get(c, 0.0)) for c in head.class_ids])


def label_text(head: Head, value: Any) -> str:
    """A label value as people read it: class names in Chinese with their ids, yes/no for binary heads."""
    if value is None:
        return "—"
    if head.kind is HeadKind.binary:
        return "是 (1)" if value else "否 (0)"
    names = {c.id: c.zh for c in head.classes}
    values = value if isinstance(value, list) else [value]
    return "、".join(f"{names.get(v, v)} ({v})" for v in values) or "（无）"
