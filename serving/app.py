"""The app factory: `create_app(settings)`; the lifespan loads the model, store and duplicate index."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from xinfang import __version__
from xinfang.config import Settings, get_settings
from xinfang.engine import Engine, LetterIn
from xinfang.model_folder import ModelFolder
from xinfang.result import LetterResult
from xinfang.serving.auth import KeyGate
from xinfang.serving.batcher import MicroBatcher
from xinfang.serving.errors import install_error_handlers
from xinfang.serving.key_routes import keys_router
from xinfang.serving.keys import KeyRing
from xinfang.serving.limits import BodyGuard
from xinfang.serving.logs import attach_redaction
from xinfang.serving.metrics import Metrics, RequestMetrics, metrics_router
from xinfang.serving.openapi import with_limits
from xinfang.serving.rate_limits import RateLimiter
from xinfang.serving.request_ids import RequestIds
from xinfang.serving.review.routes import router as review_router
from xinfang.serving.routes import ops, v1
from xinfang.serving.scan_upload import SCAN_PATH, upload_limit
from xinfang.serving.score_and_store import Scorer, Scores, Submission
from xinfang.serving.shared_index import SharedIndex
from xinfang.serving.state import AppState
from xinfang.serving.store import ResultsStore
from xinfang.submitters import SubmitterKeyer
from xinfang.text import LetterTokenizer

log = logging.getLogger("xinfang.serving.app")
_WARM_UP = LetterIn("warm-up", "我要反映某街道办副主任的问题，2019年3月他收受红包5万元。")

DESCRIPTION = """Scores complaint and report letters (信访举报): what misconduct is reported (`topic`), which
field (`sector`), how verifiable the letter is (`credibility`, with evidence spans), whether it looks
malicious or is abusive, and whether it can be routed automatically or goes to a person (`route`).
A malicious score never discards a letter; it sends it to a person with its evidence.

Send `Authorization: Bearer <key>` or `X-API-Key: <key>` (keys: `xinfang apikey create --label NAME`).
Errors are JSON: `{"error": {"code": "...", "message": "..."}}`."""


def _build_state(settings: Settings, engine: Scores | None, folder: ModelFolder | None,
                 store: ResultsStore | None) -> AppState:
    """Blocking start-up work (run in a thread): model, store, duplicate index, keys, warm-up."""
    t = time.perf_counter()
    keyring = None
    if settings.auth_enabled:
        keyring = KeyRing(settings.api_keys_path)
        if not len(keyring):
            log.warning("no API keys in %s: every /v1 request will be refused; create one with "
                        "`xinfang apikey create --label NAME`", settings.api_keys_path)
    else:
        log.warning("API key authentication is OFF: anyone who can reach this port can score letters; "
                    "use this only on a local machine")
    if engine is None:
        folder = folder or ModelFolder.resolve(settings.models_dir, settings.serve_model)
        engine = Engine(folder, precision=settings.serve_precision, threads=settings.threads,
                        max_batch=settings.serve_max_windows, provider=settings.execution_provider)
    if folder is None:
        folder = engine.folder  # type: ignore[attr-defined]
    model_ref = dict(engine.model_ref) if hasattr(engine, "model_ref") else {
        "name": folder.name, "version": folder.version, "precision": settings.serve_precision}
    t_model = time.perf_counter()
    store = store or ResultsStore(settings.results_store_url)
    index = SharedIndex(store.engine, settings.duplicate_threshold)  # in the database: shared by every worker
    index.backfill()
    loaded = len(index)
    t_index = time.perf_counter()
    index.signature(_WARM_UP.text)  # loads jieba's dictionary now rather than on the first request
    engine.score([_WARM_UP])
    scorer = Scorer(engine, store, index, model_ref, settings.duplicate_threshold, settings.store_text,
                    keyer=SubmitterKeyer.from_settings(settings))
    batcher: MicroBatcher[Submission, LetterResult] = MicroBatcher(
        scorer, settings.microbatch_size, settings.microbatch_wait_ms, settings.queue_size,
        max_cost=settings.microbatch_tokens, shared_failures=(SQLAlchemyError,))  # a store down is no letter's fault
    tokenizer = getattr(engine, "tokenizer", None)
    if not isinstance(tokenizer, LetterTokenizer):  # a stand-in engine: the folder's tokenizer counts the same
        tokenizer = LetterTokenizer.from_file(folder.path / "tokenizer.json")
    log.info("ready: model %s/%s (%s) in %.1fs; store %s with %d letters indexed in %.1fs; warm-up %.1fs",
             model_ref["name"], model_ref["version"], model_ref["precision"], t_model - t, store.url, loaded,
             t_index - t_model, time.perf_counter() - t_index)
    if settings.queue_size < settings.max_batch_letters:
        log.warning("queue_size %d < max_batch_letters %d: batches of more than %d letters get 422 "
                    "batch_exceeds_queue", settings.queue_size, settings.max_batch_letters, settings.queue_size)
    limiter = (RateLimiter(store.engine, settings.rate_limit_requests, settings.rate_limit_window_s)
               if settings.rate_limit_requests else None)
    return AppState(settings, engine, folder, model_ref, store, index, batcher, keyring, tokenizer,
                    rate_limiter=limiter)


def create_app(settings: Settings | None = None, *, engine: Scores | None = None,
               folder: ModelFolder | None = None, store: ResultsStore | None = None) -> FastAPI:
    """The ASGI app. `engine`, `folder` and `store` replace what settings would load (tests use this)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        attach_redaction()
        state = await asyncio.to_thread(_build_state, settings, engine, folder, store)
        metrics.bind(state)
        await state.batcher.start()
        app.state.xinfang = state
        try:
            yield
        finally:
            app.state.xinfang = None
            await state.batcher.close()
            if store is None:
                state.store.close()
            log.info("stopped after %d micro-batches, %d letters", state.batcher.batches, state.batcher.items)

    app = FastAPI(title="xinfang letter scoring API", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s,
                       uploads={SCAN_PATH: upload_limit(settings)})  # scans: multipart, their own limit
    app.add_middleware(KeyGate)  # runs before BodyGuard: no body byte is read before the key is checked
    metrics = app.state.metrics = Metrics()
    app.add_middleware(RequestMetrics, metrics=metrics)  # outside KeyGate and BodyGuard: their refusals count
    app.add_middleware(RequestIds)  # outermost: every response carries X-Request-ID, every log line its id
    install_error_handlers(app)
    app.include_router(v1)
    app.include_router(ops)
    app.include_router(keys_router)  # /v1/keys: admin keys manage keys
    app.include_router(review_router)  # /review: the evaluators' page (HTML, session login)
    app.include_router(metrics_router)
    app.openapi = with_limits(app, settings)  # type: ignore[method-assign]
    return app
