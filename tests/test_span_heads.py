"""Span heads: index maps through normalisation, span targets per window, decoding under a length cap, a
model that learns to point at annotated spans, and engine evidence that quotes the letter as written."""

from __future__ import annotations

import random
import re
import unicodedata

import numpy as np
import torch

from xinfang.engine import Engine, LetterIn
from xinfang.labels import LabelledLetter
from xinfang.schema import load_schema
from xinfang.span_decoding import NEG, best_token_spans, letter_spans
from xinfang.text import LetterTokenizer, Window, normalise, normalise_with_map
from xinfang.training.model import MultiHeadModel, load_encoder, span_keys
from xinfang.training.span_targets import NO_SPAN, letter_span_chars, window_span_targets


def _reference_normalise(text: str) -> str:
    """The regex normalisation the map must reproduce exactly."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub("[\u200b-\u200f\u2060\ufeff\u00ad]", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t\u3000\xa0]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def test_normalise_with_map_matches_normalise_and_points_back():
    alphabet = list("举报王主任收钱\n\r \t\u3000\xa0\u200b\ufeffA1。")
    rng = random.Random(3)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        out, back = normalise_with_map(text)
        assert out == _reference_normalise(text) == normalise(text)
        assert len(back) == len(out) and back == sorted(back)
        assert all(text[back[i]] == ch for i, ch in enumerate(out) if not ch.isspace())


def _letter(text: str, spans: dict) -> LabelledLetter:
    return LabelledLetter(id="x", text=text, labels={"credibility": sorted(spans)}, source="jijian",
                          extra={"spans": {k: {"text": text[a:b], "start": a, "end": b} for k, (a, b) in spans.items()}})


def test_span_targets_follow_normalisation_and_window_edges(tiny_base):
    head = load_schema().head("credibility")
    text = "标题\n  2018年12月7日，   王主任收了钱。" + "这些人都是骗子" * 12 + "举报人王刚"
    a = text.index("王主任")
    letter = _letter(text, {"named_subject": (a, a + 3), "signed": (len(text) - 5, len(text))})
    chars, usable = letter_span_chars(letter, head)
    norm = normalise(text)
    subject = chars[head.class_ids.index("named_subject")]
    assert norm[subject[0]: subject[1]] == "王主任"
    assert chars[head.class_ids.index("evidence")] == NO_SPAN and all(usable)
    tok = LetterTokenizer.from_file(tiny_base / "tokenizer.json", max_length=32, overlap=8)
    wins = tok.windows(norm)
    assert len(wins) > 2
    starts, ends, inside = window_span_targets(wins[0], chars)
    j = head.class_ids.index("named_subject")
    assert "".join(norm[wins[0].offsets[k][0]: wins[0].offsets[k][1]] for k in range(starts[j], ends[j] + 1)) == "王主任"
    signed = head.class_ids.index("signed")
    assert starts[signed] == 0 and inside[signed] == 0.0  # the signature lies in the last window, not this one
    assert inside[j] == 1.0 and inside[head.class_ids.index("evidence")] == 0.0  # absent: nothing to learn
    last = window_span_targets(wins[-1], chars)
    assert last[0][signed] > 0 and last[2][signed] == 1.0 and last[0][j] == 0 and last[2][j] == 0.0
    # a present signal whose annotated text does not match the letter is not learned from at all
    broken = _letter(text, {"named_subject": (a, a + 3)})
    broken.extra["spans"]["named_subject"]["text"] = "李局长"
    assert letter_span_chars(broken, head)[1][j] == 0.0


def test_best_token_spans_respects_cap_and_content():
    logits = np.zeros((1, 8, 4))  # one window, 8 tokens, two classes (start, end interleaved)
    logits[0, 2, 0], logits[0, 6, 1] = 5.0, 5.0  # class 0: start 2, end 6 (5 tokens)
    logits[0, 3, 2], logits[0, 3, 3] = 1.0, 1.0  # class 1: one token at 3
    logits[0, 0, 2:4] = 4.0  # the first (special) token is never part of a span
    content = np.array([[False, True, True, True, True, True, True, False]])
    out = best_token_spans(logits, content, max_tokens=8)
    assert out[0, 0, 1:].tolist() == [2, 6] and out[0, 0, 0] == 10.0
    assert out[0, 1, 1:].tolist() == [3, 3] and out[0, 1, 0] == 2.0
    capped = best_token_spans(logits, content, max_tokens=3)
    assert capped[0, 0, 2] - capped[0, 0, 1] <= 2
    assert best_token_spans(logits, np.zeros_like(content), 8)[0, 0, 0] <= NEG / 2


def test_letter_spans_quote_the_original_letter(tiny_base):
    text = "举报\r\n  王主任   收了钱"
    norm, back = normalise_with_map(text)
    tok = LetterTokenizer.from_file(tiny_base / "tokenizer.json", max_length=64, overlap=8)
    win = tok.windows(norm)[0]
    k = next(i for i, (a, _) in enumerate(win.offsets) if norm[a:a + 1] == "王")
    decoded = np.full((2, 1, 3), NEG)
    decoded[0, 0] = [1.0, k, k + 2]
    decoded[1, 0] = [0.5, k, k]  # a weaker window's answer loses
    out = letter_spans(decoded, [win, Window(win.ids, 0, 0, win.offsets)], [0, 0], 1, [back])
    score, a, b = out[0][0]
    assert text[a:b] == "王主任" and score == 1.0


def test_span_head_learns_to_point_at_annotated_spans(tiny_base):
    torch.manual_seed(0)
    schema = load_schema()
    head = schema.head("credibility")
    model = MultiHeadModel(load_encoder(tiny_base), schema, dropout=0.0)
    tok = LetterTokenizer.from_file(tiny_base / "tokenizer.json", max_length=48, overlap=8)
    texts = ["举报王主任收了钱", "我是村民，李局长不作为", "据说张书记收了钱", "王刚反映骗子"]
    names = ["王主任", "李局长", "张书记", "王刚"]
    letters = [_letter(t, {"named_subject": (t.index(n), t.index(n) + len(n))}) for t, n in zip(texts, names, strict=True)]
    wins = [tok.windows(normalise(x.text))[0] for x in letters]
    targets = [window_span_targets(w, letter_span_chars(x, head)[0]) for w, x in zip(wins, letters, strict=True)]
    assert all(t[2][head.class_ids.index("named_subject")] == 1.0 for t in targets)
    n = max(len(w.ids) for w in wins)
    ids = torch.tensor([w.ids + [0] * (n - len(w.ids)) for w in wins])
    att = torch.tensor([[1] * len(w.ids) + [0] * (n - len(w.ids)) for w in wins])
    start, end, mask = span_keys("credibility")
    labels = {start: torch.tensor([t[0] for t in targets]), end: torch.tensor([t[1] for t in targets]),
              mask: torch.tensor([t[2] for t in targets])}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = model(ids, att, **labels)["loss"]
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first / 10
    model.eval()
    with torch.no_grad():
        logits = model.all_logits(ids, att)[1]["credibility"].numpy()
    content = att.numpy().astype(bool) & ~np.isin(ids.numpy(), [2, 3])
    decoded = best_token_spans(logits, content, 24)
    j = head.class_ids.index("named_subject")
    for w, x, name, row in zip(wins, letters, names, decoded, strict=True):
        a, b = w.offsets[int(row[j, 1])][0], w.offsets[int(row[j, 2])][1]
        assert normalise(x.text)[a:b] == name


def test_engine_quotes_model_spans_from_the_letter_as_written(tiny_model_dir):
    engine = Engine(tiny_model_dir)
    assert engine.span_heads == ["credibility"]
    text = "标题\r\n  2018年12月7日，   王主任\u200b收了3000元。我有录音为证。举报人王刚"
    result = engine.score([LetterIn("a", text)])[0]
    found = result.credibility.signals
    assert {s.type for s in found} == set(result.credibility.labels)
    assert any(s.source == "model" for s in found)
    for s in found:
        assert s.text == text[s.start: s.end] and s.end > s.start
        if s.source == "model":
            assert len([t for t in found if t.type == s.type]) == 1  # one pointed span per signal


def test_engine_without_span_heads_gives_rule_evidence(tiny_model_dir):
    engine = Engine(tiny_model_dir)
    text = "2018年12月7日，王主任收了3000元。举报人王刚"
    pointed = engine.score([LetterIn("a", text)])[0]
    engine.span_heads = []  # the same graph, evidence from the rules and the n-gram model only
    plain = engine.score([LetterIn("a", text)])[0]
    assert plain.credibility.scores == pointed.credibility.scores
    assert all(s.source == "rule" for s in plain.credibility.signals)
