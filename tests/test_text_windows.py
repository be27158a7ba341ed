"""Token windows: the batch path (one encode_batch call) cuts exactly the windows of the per-letter path."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from tiny import SAMPLE, build_char_tokenizer
from tokenizers import Tokenizer

from xinfang.engine import Engine, LetterIn
from xinfang.text import LetterTokenizer, normalise

AWKWARD = [
    "",  # empty: one window of specials only
    "   ",
    "短",
    SAMPLE * 12,  # very long: many windows, the last flush with the end
    "举报😀村支书👍🏽收受红包🇨🇳，有记录🙏",  # emoji, skin tone and flag sequences (unknown pieces)
    "Hello 举报 Привет مرحبا नमस्ते 12345 abc，ＡＢＣ全角",  # mixed scripts and full-width letters
    "第一行\n第二行\t制表\u3000全角空格",
    "e\u0301\u0301 组合字符 \U0002a6a5 扩展汉字",  # combining marks, a CJK extension B character
    SAMPLE[:61],  # exactly around one window's length
    SAMPLE[:62],
    SAMPLE[:63],
]


def _no_specials() -> Tokenizer:
    tok = build_char_tokenizer()
    tok.post_processor = None  # type: ignore[assignment]
    return tok


@pytest.mark.parametrize("make", [build_char_tokenizer, _no_specials], ids=["specials", "no-specials"])
@pytest.mark.parametrize(("max_length", "overlap"), [(64, 16), (32, 0), (16, 15), (128, 32)])
def test_batch_windows_equal_per_letter_windows(make, max_length, overlap):
    tok = LetterTokenizer(make(), max_length=max_length, overlap=overlap)
    texts = AWKWARD + [normalise(t) for t in AWKWARD]
    batch = tok.windows_batch(texts)
    assert len(batch) == len(texts)
    assert batch == [tok.windows(t) for t in texts]
    assert all(len(w.ids) <= max_length for ws in batch for w in ws)
    assert tok.windows_batch([]) == []


def test_long_letter_is_cut_into_overlapping_windows():
    tok = LetterTokenizer(build_char_tokenizer(), max_length=32, overlap=8)
    (windows,) = tok.windows_batch([SAMPLE * 3])
    assert len(windows) > 3
    assert windows[-1].char_end == max(w.char_end for w in windows)
    bodies = [w.ids[1:-1] for w in windows]
    assert bodies[0][-8:] == bodies[1][:8]  # the overlap is shared by neighbours


class _CountingTokenizer:
    """A `tokenizers.Tokenizer` stand-in that counts encode and encode_batch calls."""

    def __init__(self, inner: Tokenizer):
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["encode"] += 1
        return self.inner.encode(*args, **kwargs)

    def encode_batch(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["encode_batch"] += 1
        return self.inner.encode_batch(*args, **kwargs)


def test_engine_tokenises_a_batch_of_letters_in_one_call(tiny_model_dir):
    engine = Engine(tiny_model_dir, precision="fp32")
    letters = [LetterIn(str(i), t) for i, t in enumerate(AWKWARD)]
    counting = _CountingTokenizer(engine.tokenizer.tokenizer)
    engine.tokenizer.tokenizer = counting  # type: ignore[assignment]
    results = engine.score(letters)
    assert counting.calls == {"encode_batch": 1}
    assert [r.id for r in results] == [x.id for x in letters]
