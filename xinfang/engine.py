"""The scoring engine: ONNX Runtime + tokenizers, overlapping windows, length-sorted batches,
calibrated per-head answers, rule evidence spans and a routing decision: a typed result per letter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from xinfang.answers import letter_answers
from xinfang.credibility import rule_evidence
from xinfang.heads import aggregate_windows, blend_logits, probabilities
from xinfang.model_folder import ModelFolder
from xinfang.ngram_model import NGRAM_FILE, NgramModel
from xinfang.precision import Precision
from xinfang.providers import create_session
from xinfang.result import RESERVED, RESULT_VERSION, LetterResult, ModelRef
from xinfang.routing import route
from xinfang.schema import Head
from xinfang.signals import Signal, extract_signals
from xinfang.span_decoding import (
    SPAN_MAX_TOKENS,
    ModelSpans,
    best_token_spans,
    letter_spans,
    span_output,
    span_tokens,
)
from xinfang.text import LetterTokenizer, Window, normalise_with_map
from xinfang.window_batches import run_length_sorted


@dataclass(frozen=True)
class LetterIn:
    """A letter to score."""

    id: str
    text: str


class Engine:
    """Scores letters with a trained model folder; thread-safe for concurrent `score` calls."""

    def __init__(self, folder: ModelFolder | str | Path, precision: str | Precision = Precision.auto,
                 threads: int = 0, max_batch: int = 32, batch_tokens: int = 8192, with_signals: bool = True,
                 provider: str = "cpu"):
        self.folder = folder if isinstance(folder, ModelFolder) else ModelFolder(Path(folder))
        self.folder.check()
        self.schema = self.folder.schema
        clash = RESERVED & set(self.schema.head_names)
        if clash:
            raise ValueError(f"head names {sorted(clash)} are taken by a result's own fields; rename the heads")
        self.calibration = self.folder.calibration
        cfg = self.folder.inference
        self.tokenizer = LetterTokenizer.from_file(self.folder.path / "tokenizer.json",
                                                   max_length=int(cfg["max_length"]), overlap=int(cfg["overlap"]))
        self.pad_id = int(cfg.get("pad_id", self.tokenizer.pad_id))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.precision = self.folder.resolve_precision(precision)
        self.session = create_session(self.folder.onnx_path(self.precision), opts, provider)  # CPU if it must
        ngram_path = self.folder.path / NGRAM_FILE
        self.ngram = NgramModel.load(ngram_path) if ngram_path.is_file() else None  # the blend partner
        self.outputs = [o.name for o in self.session.get_outputs()]
        missing = set(self.schema.head_names) - set(self.outputs)
        if missing:
            raise ValueError(f"ONNX graph lacks outputs for heads {sorted(missing)}")
        # heads whose evidence the model points at (schema `spans` and a span output in the graph); set to [] for
        # evidence from the rules and the n-gram model only
        self.span_heads = [h.name for h in self.schema.heads if h.spans and span_output(h.name) in self.outputs]
        self.span_max_tokens = int(cfg.get("span_max_tokens", SPAN_MAX_TOKENS))
        self.max_batch = max_batch
        self.batch_tokens = batch_tokens
        self.with_signals = with_signals

    @property
    def model_ref(self) -> dict[str, str]:
        return {"name": self.folder.name, "version": self.folder.version, "precision": self.precision}

    # ---- model outputs ----
    def _run(self, windows: list[list[int]]) -> dict[str, np.ndarray]:
        """Window logits per head (and each span head's best span per class, decoded batch by batch), in
        batches of similar length so little padding is computed."""
        specials = [t for t in (self.tokenizer.bos_id, self.tokenizer.eos_id) if t is not None]

        names = self.schema.head_names + [span_output(h) for h in self.span_heads]

        def run(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
            outs = dict(zip(names, self.session.run(names, {"input_ids": ids, "attention_mask": mask}), strict=True))
            content = span_tokens(ids, mask, specials)
            for h in self.span_heads:
                outs[span_output(h)] = best_token_spans(outs[span_output(h)], content, self.span_max_tokens)
            return outs

        return run_length_sorted(windows, self.pad_id, run, self.max_batch, self.batch_tokens)

    def letter_logits(self, texts: Sequence[str], signals: Sequence[Sequence[Signal]] | None = None
                      ) -> dict[str, np.ndarray]:
        """Letter-level (aggregated, uncalibrated) logits per head: the encoder's, blended with the n-gram
        model's (and the rule evidence in `signals`, found here when not given) where the folder has one."""
        return self._outputs(texts, signals)[0]

    def _outputs(self, texts: Sequence[str], signals: Sequence[Sequence[Signal]] | None = None
                 ) -> tuple[dict[str, np.ndarray], list[dict[str, ModelSpans]]]:
        """Letter logits per head, and per letter each span head's best span per class (None: no span)."""
        windows: list[Window] = []
        rows: list[int] = []
        mapped = [normalise_with_map(text) for text in texts]
        normalised = [text for text, _ in mapped]
        for i, letter_windows in enumerate(self.tokenizer.windows_batch(normalised)):
            for w in letter_windows:
                windows.append(w)
                rows.append(i)
        if not windows:
            return {h.name: np.zeros((0, h.n_outputs)) for h in self.schema.heads}, [{} for _ in texts]
        raw = self._run([w.ids for w in windows])
        r = np.asarray(rows)
        partner = self.ngram.logits(normalised) if self.ngram is not None else {}
        rules = rule_evidence(self.schema, texts, signals) if self.ngram is not None else {}
        logits = {h.name: blend_logits(aggregate_windows(raw[h.name], r, len(texts), h.kind),
                                       partner.get(h.name), self._cal(h).get("blend"), rules.get(h.name))
                  for h in self.schema.heads}
        found = {h: letter_spans(raw[span_output(h)], windows, rows, len(texts), [m for _, m in mapped])
                 for h in self.span_heads}
        return logits, [{h: found[h][i] for h in self.span_heads} for i in range(len(texts))]

    def probabilities(self, texts: Sequence[str], signals: Sequence[Sequence[Signal]] | None = None
                      ) -> dict[str, np.ndarray]:
        return self._calibrated(self.letter_logits(texts, signals))

    def _calibrated(self, logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {h.name: probabilities(logits[h.name], h.kind, self._cal(h).get("temperature", 1.0))
                for h in self.schema.heads}

    def _cal(self, head: Head) -> dict:
        return self.calibration.get(head.name, {})

    # ---- results ----
    def score(self, letters: Sequence[LetterIn]) -> list[LetterResult]:
        """One result per letter, in input order (`duplicates` empty: near-copies are the caller's policy)."""
        signals = [extract_signals(x.text) if self.with_signals or self.ngram is not None else []
                   for x in letters]
        logits, spans = self._outputs([x.text for x in letters], signals)
        probs = self._calibrated(logits)
        return [self._letter_result(x, {h: p[i] for h, p in probs.items()},
                                    signals[i] if self.with_signals else None, spans[i])
                for i, x in enumerate(letters)]

    def _letter_result(self, letter: LetterIn, probs: dict[str, np.ndarray], signals: Sequence[Signal] | None,
                       spans: dict[str, ModelSpans]) -> LetterResult:
        answers, confidences = letter_answers(self.schema, self.calibration, probs, letter.text, signals,
                                              self.ngram, spans)
        return LetterResult(id=letter.id, model=ModelRef(**self.model_ref),
                            route=route(self.schema, self.calibration, answers, confidences), duplicates=[],
                            result_version=RESULT_VERSION, **answers)
