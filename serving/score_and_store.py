"""One micro-batch, in the worker thread: engine scores, near-duplicate lookup, results-store rows."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from xinfang.duplicates import signature_to_bytes
from xinfang.engine import LetterIn
from xinfang.near_duplicates import NearDuplicates
from xinfang.pii import redact_for_log
from xinfang.result import LetterResult, OcrInfo
from xinfang.serving.review.models import review_letter
from xinfang.serving.shared_index import SharedIndex
from xinfang.serving.store import ResultsStore, ScoredLetter, utcnow
from xinfang.submitters import SubmitterKeyer

log = logging.getLogger("xinfang.serving.score_and_store")


class Scores(Protocol):
    """What the API needs of xinfang.engine.Engine (tests pass slower or failing stand-ins)."""

    def score(self, letters: list[LetterIn]) -> list[LetterResult]: ...


@dataclass(frozen=True)
class Submission:
    """A letter as received: the engine input plus what only the store sees."""

    letter: LetterIn
    submitter: str | None = None
    metadata: dict[str, Any] | None = None
    key_label: str | None = None  # the API key that sent it
    ocr: OcrInfo | None = None  # a scanned letter's OCR record, kept in its result


class Scorer:
    """Callable on a list of submissions (a micro-batch), returning their results in order.

    Not thread-safe by itself: the micro-batcher calls it from its single worker thread, which is
    also the only thread that touches the duplicate index. Near-duplicates follow xinfang.near_duplicates,
    the batch job's policy: each letter is compared with every letter indexed before it (by any worker
    sharing the database: the index is xinfang.serving.shared_index), the earlier letters of its own
    micro-batch included. Those are staged and join the index in the transaction that stores their rows,
    so the index never points at letters the store lacks; a letter is answered only after its row is
    committed (ResultsStore.add_many raises otherwise).
    """

    def __init__(self, engine: Scores, store: ResultsStore, index: SharedIndex, model_ref: dict[str, str],
                 duplicate_threshold: float = 0.8, store_text: bool = False, *, keyer: SubmitterKeyer):
        self.engine, self.store = engine, store
        self.index = index
        self.dups = NearDuplicates(duplicate_threshold, index)  # type: ignore[arg-type]
        self.keyer = keyer
        self.model_ref = model_ref
        self.store_text = store_text

    def __call__(self, batch: list[Submission]) -> list[LetterResult]:
        t0 = time.perf_counter()
        results = self.engine.score([s.letter for s in batch])
        for s, r in zip(batch, results, strict=True):
            r.ocr = s.ocr
        t1 = time.perf_counter()
        staged = self.dups.stage()
        keys = [self.keyer(s.submitter) for s in batch]
        sigs = [self.dups.signature(s.letter.text) for s in batch]
        for result, sig, key in zip(results, sigs, keys, strict=True):
            self.dups.annotate(result, sig, key, staged)
        t2 = time.perf_counter()
        now = utcnow()
        rows = [ScoredLetter(
            letter_id=s.letter.id, model_name=self.model_ref["name"], model_version=self.model_ref["version"],
            precision=self.model_ref.get("precision", ""), scored_at=now, route=r.route.decision,
            scores=r.to_json(span_texts=self.store_text), signature=signature_to_bytes(sig),
            submitter_hash=key, text=s.letter.text if self.store_text else None,
            meta=s.metadata if self.store_text else None, api_key_label=s.key_label,
        ) for s, r, sig, key in zip(batch, results, sigs, keys, strict=True)]
        if self.store_text:  # the deployment keeps texts: its letters can be reviewed at /review
            rows += [review_letter(r, s.letter.text, "api", key, now)  # type: ignore[misc]
                     for s, r, key in zip(batch, results, keys, strict=True)]
        self.store.add_many(rows, also=lambda session: self.index.write(session, staged))
        t3 = time.perf_counter()
        log.info("scored n=%d ids=%s engine_ms=%.1f duplicates_ms=%.1f store_ms=%.1f", len(batch),
                 redact_for_log(",".join(s.letter.id for s in batch)), (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return results
