"""Span heads at inference: per window and class the best [start, end] token pair under a length cap, then per
letter the best window's pair as characters of the letter as written."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xinfang.text import Window

NEG = -1e9
SPAN_MAX_TOKENS = 24  # a span covers at most this many tokens (annotated spans are at most 30 characters)
ModelSpans = list[tuple[float, int, int] | None]  # per class of a head: (score, start, end) in the letter, or None
SPAN_SUFFIX = ".spans"


def span_output(head: str) -> str:
    """The ONNX output holding a span head's start/end logits: (batch, tokens, 2 x classes)."""
    return head + SPAN_SUFFIX


def is_span_output(name: str) -> bool:
    return name.endswith(SPAN_SUFFIX)


def span_tokens(ids: np.ndarray, mask: np.ndarray, specials: Sequence[int]) -> np.ndarray:
    """(windows, tokens): the tokens a span may cover, real tokens that are not the tokenizer's specials."""
    return (mask == 1) & ~np.isin(ids, list(specials))


def best_token_spans(logits: np.ndarray, content: np.ndarray, max_tokens: int) -> np.ndarray:
    """(windows, classes, 3): for each window and class the best span's score (start logit + end logit), its
    start and its end token. `logits` (windows, tokens, 2 x classes) hold the start and the end logit of each
    class, interleaved; `content` (windows, tokens) marks the tokens a span may cover."""
    n = logits.shape[2] // 2
    start = np.where(content[:, :, None], logits[:, :, 0::2], NEG)
    end = np.where(content[:, :, None], logits[:, :, 1::2], NEG)
    b, t, _ = start.shape
    best = np.full((b, n), NEG)
    where = np.zeros((b, n, 2), dtype=np.int64)
    for d in range(min(max_tokens, t)):
        cand = start[:, : t - d] + end[:, d:]
        i = cand.argmax(axis=1)
        score = np.take_along_axis(cand, i[:, None, :], axis=1)[:, 0]
        better = score > best
        best = np.where(better, score, best)
        where[..., 0] = np.where(better, i, where[..., 0])
        where[..., 1] = np.where(better, i + d, where[..., 1])
    return np.concatenate([best[..., None], where.astype(np.float64)], axis=2)


def letter_spans(decoded: np.ndarray, windows: Sequence[Window], rows: Sequence[int], n_letters: int,
                 origins: Sequence[Sequence[int]]) -> list[ModelSpans]:
    """Per letter and class the best window's span as (score, start, end) characters of the original letter
    (`origins`: each normalised character's index in the original, from xinfang.text.normalise_with_map)."""
    n = decoded.shape[1]
    out: list[ModelSpans] = [[None] * n for _ in range(n_letters)]
    for w, (row, win) in enumerate(zip(rows, windows, strict=True)):
        for c in range(n):
            score, s, e = decoded[w, c]
            if score <= NEG / 2:
                continue
            a, b = win.offsets[int(s)][0], win.offsets[int(e)][1]
            if b <= a:
                continue
            best = out[row][c]
            if best is None or score > best[0]:
                back = origins[row]
                out[row][c] = (float(score), back[a], back[b - 1] + 1)
    return out
