"""The endpoints: /v1/letters:score, /v1/letters:batch, /v1/model (API key required), /healthz, /readyz."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from serving.api_models import (
    BatchRequest,
    BatchResult,
    ErrorBody,
    Health,
    LetterRequest,
    ModelInfo,
    Readiness,
    ScoreResult,
)
from serving.auth import require_api_key
from serving.batcher import BatcherClosed, QueueFull
from serving.errors import ApiError
from serving.scoring import Submission
from serving.state import AppState, StateDep
from xinfang.engine import LetterIn
from xinfang.pii import redact_for_log

log = logging.getLogger("serving.routes")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no API key"},
    403: {"model": ErrorBody, "description": "wrong API key"},
    413: {"model": ErrorBody, "description": "request body too large"},
    415: {"model": ErrorBody, "description": "not JSON"},
    422: {"model": ErrorBody, "description": "empty text, text too long, too many letters, bad fields"},
    503: {"model": ErrorBody, "description": "queue full (see Retry-After) or store unavailable"},
}

v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=_ERRORS)
ops = APIRouter(tags=["operations"])


def _submission(req: LetterRequest, index: int | None, state: AppState) -> Submission:
    limit = state.settings.max_text_chars
    if len(req.text) > limit:
        where = f"letters.{index}.text" if index is not None else "text"
        raise ApiError(422, "text_too_long", f"{where}: {len(req.text)} characters; at most {limit} are accepted")
    letter_id = req.id or uuid.uuid4().hex
    return Submission(LetterIn(letter_id, req.text), req.submitter, req.metadata)


async def _score(state: AppState, submissions: list[Submission]) -> list[dict[str, Any]]:
    try:
        return await state.batcher.submit(submissions)
    except QueueFull as exc:
        raise ApiError(503, "queue_full", f"the scorer is busy ({exc}); retry shortly",
                       headers={"Retry-After": "1"}) from None
    except BatcherClosed as exc:
        raise ApiError(503, "unavailable", str(exc), headers={"Retry-After": "5"}) from None
    except SQLAlchemyError:
        raise ApiError(503, "store_unavailable", "the results store did not accept the letters; retry later",
                       headers={"Retry-After": "5"}) from None


@v1.post("/letters:score", response_model=ScoreResult, response_model_exclude_unset=True, tags=["letters"],
         summary="Score one letter")
async def score_letter(body: LetterRequest, state: StateDep) -> Any:
    """Topic, sector, credibility (with evidence spans), malicious and abusive scores, the routing
    decision with its reasons, and near-duplicates among letters this service has scored."""
    t = time.perf_counter()
    (result,) = await _score(state, [_submission(body, None, state)])
    log.info("score id=%s route=%s duplicates=%d ms=%.1f", redact_for_log(result["id"]), result["route"]["decision"],
             len(result["duplicates"]), (time.perf_counter() - t) * 1e3)
    return result


@v1.post("/letters:batch", response_model=BatchResult, response_model_exclude_unset=True, tags=["letters"],
         summary="Score several letters")
async def score_batch(body: BatchRequest, state: StateDep) -> Any:
    """Up to `max_batch_letters` (64 by default) letters; results come back in request order."""
    limit = state.settings.max_batch_letters
    if len(body.letters) > limit:
        raise ApiError(422, "too_many_letters", f"{len(body.letters)} letters; at most {limit} per request")
    given = [x.id for x in body.letters if x.id is not None]
    if len(given) != len(set(given)):
        raise ApiError(422, "duplicate_ids", "letter ids within one request must be distinct")
    t = time.perf_counter()
    results = await _score(state, [_submission(x, i, state) for i, x in enumerate(body.letters)])
    log.info("batch n=%d human=%d ms=%.1f", len(results), sum(r["route"]["decision"] == "human" for r in results),
             (time.perf_counter() - t) * 1e3)
    return {"results": results}


@v1.get("/model", response_model=ModelInfo, tags=["model"], summary="The served model")
async def model_info(state: StateDep) -> Any:
    """Name, version, label schema (heads and classes), calibration thresholds and a model-card summary."""
    folder = state.folder
    heads = []
    for head in folder.schema.heads:
        cal = folder.calibration.get(head.name, {})
        heads.append({"name": head.name, "kind": str(head.kind.value),
                      "classes": [{"id": c.id, "zh": c.zh} for c in head.classes],
                      "route_threshold": (cal.get("route") or {}).get("threshold"),
                      "decision_thresholds": cal.get("decision_thresholds") or [],
                      "temperature": cal.get("temperature")})
    card = folder.card
    base = card.get("base") or {}
    return {
        **state.model_ref,
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
