"""The endpoints: /v1/letters:score, /v1/letters:batch, /v1/letters:scan, /v1/model (API key required),
/healthz, /readyz."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from xinfang.batch.reader import Limits
from xinfang.batch.reader import _check_id as check_id  # the batch job's id rules, the same function
from xinfang.engine import LetterIn
from xinfang.pii import redact_for_log
from xinfang.providers import provider_of
from xinfang.result import LetterResult
from xinfang.routing import route_threshold
from xinfang.serving.api_models import (
    ID_PATTERN,
    BatchRequest,
    BatchResult,
    ErrorBody,
    Health,
    LetterRequest,
    ModelInfo,
    Readiness,
    StoredLetter,
)
from xinfang.serving.auth import require_api_key
from xinfang.serving.batcher import BatcherClosed, QueueFull, TooManyItems
from xinfang.serving.errors import ApiError
from xinfang.serving.openapi import text_char_limit
from xinfang.serving.rate_limits import enforce_rate_limit
from xinfang.serving.scan_upload import SCAN_ERRORS, ScannedLetter, read_upload
from xinfang.serving.score_and_store import Submission
from xinfang.serving.state import AppState, StateDep
from xinfang.text import LetterTokenizer, normalise

log = logging.getLogger("xinfang.serving.routes")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "`bad_request`: a request the framework cannot parse"},
    401: {"model": ErrorBody, "description": "`missing_api_key`"},
    403: {"model": ErrorBody, "description": "`invalid_api_key`, `forbidden_role` (only keys with role intake "
          "score letters)"},
    408: {"model": ErrorBody, "description": "`body_timeout`: the body did not arrive within body_timeout_s"},
    413: {"model": ErrorBody, "description": "`body_too_large`: more than max_body_bytes"},
    415: {"model": ErrorBody, "description": "`unsupported_media_type`: not JSON"},
    429: {"model": ErrorBody, "description": "`rate_limited`: more than rate_limit_requests requests with this "
          "API key in rate_limit_window_s seconds (see Retry-After)"},
    422: {"model": ErrorBody, "description": "`empty_text`, `invalid_encoding` (lone surrogates), `text_too_long` "
          "(max_text_chars characters or max_tokens_per_request tokens), `missing_id`, `invalid_id`, "
          "`duplicate_ids`, `too_many_letters`, `batch_exceeds_queue`, `invalid_json`, `invalid_request`"},
    500: {"model": ErrorBody, "description": "`scoring_failed`: the model failed on a letter (other letters are "
          "not affected)"},
    503: {"model": ErrorBody, "description": "`queue_full` (see Retry-After), `store_unavailable` or `not_ready`"},
}

v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key), Depends(enforce_rate_limit)],
               responses=_ERRORS)
ops = APIRouter(tags=["operations"])


def _where(index: int | None, field: str) -> str:
    return f"letters.{index}.{field}" if index is not None else field


def _check_letter(req: LetterRequest, index: int | None, settings: Any) -> None:
    """The checks that need settings: text length in characters, and the batch job's id rules."""
    limit = text_char_limit(settings)
    if len(req.text) > limit:
        raise ApiError(422, "text_too_long", f"{_where(index, 'text')}: {len(req.text)} characters; at most "
                       f"{limit} are accepted (max_text_chars, and no more than max_tokens_per_request)")
    if req.id is not None:
        _, reason, message = check_id(req.id, Limits(max_id_chars=settings.batch_max_id_chars))
        if reason is not None:
            raise ApiError(422, str(reason), f"{_where(index, 'id')}: {message}")


def _count_tokens(tokenizer: LetterTokenizer, texts: list[str]) -> list[int]:
    return [tokenizer.count_tokens(normalise(t)) for t in texts]


async def _submissions(letters: list[LetterRequest], batch: bool, state: AppState, request: Request
                       ) -> tuple[list[Submission], list[int]]:
    """Checked letters ready to queue, with their token counts (the scheduler's cost); 422 on the first bad one."""
    for i, req in enumerate(letters):
        _check_letter(req, i if batch else None, state.settings)
    tokens = await run_in_threadpool(_count_tokens, state.tokenizer, [x.text for x in letters])
    limit = state.settings.max_tokens_per_request
    for i, n in enumerate(tokens):
        if n > limit:
            raise ApiError(422, "text_too_long", f"{_where(i if batch else None, 'text')}: {n} tokens; at most "
                           f"{limit} are accepted (max_tokens_per_request); split the letter or shorten it")
    label = getattr(request.state, "api_key_label", None)  # set by require_api_key
    subs = [Submission(LetterIn(x.id or uuid.uuid4().hex, x.text), x.submitter, x.metadata, label)
            for x in letters]
    return subs, tokens


async def _until_disconnected(request: Request) -> None:
    """Returns when the client has hung up (the body is already read, so the next message says so)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _score(state: AppState, request: Request, submissions: list[Submission], costs: list[int]
                 ) -> list[LetterResult]:
    """The results in order; the letters leave the queue unscored if the client hangs up first."""
    work = asyncio.ensure_future(state.batcher.submit(submissions, costs))
    gone = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        raise
    finally:
        gone.cancel()
    if not work.done():
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)  # its letters leave the queue
        log.info("client gone: %d queued letters dropped", len(submissions))
        raise ApiError(499, "client_closed_request", "the client closed the connection")
    try:
        return work.result()
    except QueueFull as exc:
        raise ApiError(503, "queue_full", f"the scorer is busy ({exc}); retry shortly",
                       headers={"Retry-After": "1"}) from None
    except TooManyItems as exc:
        raise ApiError(422, "batch_exceeds_queue", f"{exc}; send fewer letters per request") from None
    except BatcherClosed as exc:
        raise ApiError(503, "unavailable", str(exc), headers={"Retry-After": "5"}) from None
    except SQLAlchemyError:
        raise ApiError(503, "store_unavailable", "the results store did not accept the letters; retry later",
                       headers={"Retry-After": "5"}) from None
    except Exception as exc:
        log.error("scoring failed: %s", type(exc).__name__)
        raise ApiError(500, "scoring_failed", "the model failed on a letter of this request; the server log "
                       "has the details; other letters are not affected") from None


@v1.post("/letters:score", response_model=LetterResult, tags=["letters"], summary="Score one letter")
async def score_letter(body: LetterRequest, state: StateDep, request: Request) -> Any:
    """Topic, sector, credibility (with evidence spans), malicious and abusive scores, the routing
    decision with its reasons, and near-duplicates among letters this service has scored."""
    t = time.perf_counter()
    (result,) = await _score(state, request, *await _submissions([body], False, state, request))
    log.info("score id=%s route=%s duplicates=%d ms=%.1f", redact_for_log(result.id), result.route.decision,
             len(result.duplicates), (time.perf_counter() - t) * 1e3)
    return result


@v1.post("/letters:batch", response_model=BatchResult, tags=["letters"], summary="Score several letters")
async def score_batch(body: BatchRequest, state: StateDep, request: Request) -> Any:
    """Up to `max_batch_letters` (64 by default, and never more than `queue_size`) letters; results come
    back in request order."""
    limit, queue = state.settings.max_batch_letters, state.settings.queue_size
    if len(body.letters) > limit:
        raise ApiError(422, "too_many_letters", f"{len(body.letters)} letters; at most {limit} per request")
    if len(body.letters) > queue:
        raise ApiError(422, "batch_exceeds_queue", f"{len(body.letters)} letters; the scoring queue holds at most "
                       f"{queue} (queue_size), so send at most {queue} per request")
    given = [x.id for x in body.letters if x.id is not None]
    if len(given) != len(set(given)):
        raise ApiError(422, "duplicate_ids", "letter ids within one request must be distinct")
    t = time.perf_counter()
    results = await _score(state, request, *await _submissions(body.letters, True, state, request))
    log.info("batch n=%d human=%d ms=%.1f", len(results), sum(r.route.decision == "human" for r in results),
             (time.perf_counter() - t) * 1e3)
    return BatchResult(results=results)


@v1.post("/letters:scan", response_model=ScannedLetter, tags=["letters"], responses=SCAN_ERRORS,
         summary="Score a scanned letter (image or PDF)")
async def score_scan(
    state: StateDep, request: Request,
    file: Annotated[UploadFile, File(description="one letter: PNG, JPEG, TIFF (pages as frames) or PDF")],
    id: Annotated[str | None, Form(description="the letter id (LetterRequest's rules); random when absent",
                                   json_schema_extra={"pattern": ID_PATTERN, "maxLength": 128})] = None,
    submitter: Annotated[str | None, Form(max_length=128, description="as in LetterRequest")] = None,
) -> Any:
    """OCR (PDF pages with a text layer give their text), then scored as /v1/letters:score; the result's
    `ocr` gives pages, mean and lowest line confidence and the doubtful lines as spans of `text`."""
    scan = await read_upload(file, state.settings)
    info = scan.info(state.settings.ocr_low_confidence)
    subs, costs = await _submissions([LetterRequest(id=id, text=scan.text, submitter=submitter)], False, state,
                                     request)
    (result,) = await _score(state, request, [replace(s, ocr=info) for s in subs], costs)
    log.info("scan id=%s pages=%d route=%s", redact_for_log(result.id), info.pages, result.route.decision)
    return ScannedLetter(text=scan.text, result=result)


@v1.get("/letters/{letter_id:path}", response_model=StoredLetter, tags=["letters"],
        summary="The latest stored result of a letter",
        responses={404: {"model": ErrorBody, "description": "`letter_not_found`"}})
async def stored_letter(letter_id: str, state: StateDep) -> Any:
    """The newest result stored for this id, with the label of the API key that sent it. URL-encode the id
    (`a/b c` is `a%2Fb%20c`). An id the service would refuse (control characters, too long) has none: 404."""
    _, reason, _ = check_id(letter_id, Limits(max_id_chars=state.settings.batch_max_id_chars))
    try:
        row = None if reason is not None else await run_in_threadpool(state.store.latest, letter_id)
    except SQLAlchemyError:
        raise ApiError(503, "store_unavailable", "the results store is unavailable; retry later",
                       headers={"Retry-After": "5"}) from None
    if row is None:
        raise ApiError(404, "letter_not_found", "no stored result has this id")
    return {"id": row.letter_id, "scored_at": row.scored_at, "api_key_label": row.api_key_label,
            "result": row.scores}


@v1.get("/model", response_model=ModelInfo, tags=["model"], summary="The served model")
async def model_info(state: StateDep) -> Any:
    """Name, version, label schema (heads and classes), calibration thresholds and a model-card summary."""
    folder = state.folder
    heads = []
    for head in folder.schema.heads:
        cal = folder.calibration.get(head.name, {})
        heads.append({"name": head.name, "kind": str(head.kind.value),
                      "classes": [{"id": c.id, "zh": c.zh} for c in head.classes],
                      "route_threshold": route_threshold(folder.calibration, head.name),
                      "decision_thresholds": cal.get("decision_thresholds") or [],
                      "temperature": cal.get("temperature")})
    card = folder.card
    base = card.get("base") or {}
    return {
        **state.model_ref,
        "execution_provider": provider_of(state.engine),
        "schema": {"name": folder.schema.name, "version": folder.schema.version, "heads": heads},
        "card": {"created": card.get("created"),
                 "base": {k: base[k] for k in ("name", "licence", "licence_note", "production_use_allowed",
                                                "weights_sha256") if k in base},
                 "data_sources": (card.get("data") or {}).get("sources"),
                 "profile": (card.get("profile") or {}).get("name"),
                 "metrics_note": (card.get("metrics") or {}).get("note")},
    }


@ops.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Any:
    return {"status": "ok"}


@ops.get("/readyz", response_model=Readiness, summary="Model loaded, store reachable, scorer running",
         responses={503: {"model": Readiness}})
async def readyz(state: StateDep) -> Any:
    store_ok = await run_in_threadpool(state.store.ping)
    checks = {"model": state.engine is not None, "store": store_ok, "scorer": state.batcher.running}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks,
            "queue": {"waiting": state.batcher.qsize(), "size": state.batcher.queue_size,
                      "indexed_letters": len(state.index)}}
    return body if ready else JSONResponse(body, status_code=503)
