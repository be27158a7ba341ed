"""Run the app under uvicorn: one process, or `serve_workers` processes sharing one PostgreSQL results store
(its rows, rate limits and near-duplicate index), each with its own model and micro-batcher."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from xinfang.config import Settings, get_settings
from xinfang.errors import XinfangError

SETTINGS_ENV = "_XINFANG_SERVE_SETTINGS"  # the parent's settings (JSON), read by each worker process
LOG_LEVEL_ENV = "_XINFANG_SERVE_LOG_LEVEL"
WORKER_APP = "xinfang.serving.server:worker_app"


def check_workers(settings: Settings) -> None:
    """More than one worker needs a store every worker shares safely: PostgreSQL, not a SQLite file."""
    if settings.serve_workers > 1 and make_url(settings.results_store_url).get_backend_name() != "postgresql":
        raise XinfangError(
            f"--workers {settings.serve_workers} needs a PostgreSQL results store (XINFANG_STORE_URL="
            "postgresql+psycopg://...): the workers share its rows, rate limits and near-duplicate index, "
            f"and SQLite ({settings.results_store_url}) allows one writer; use --workers 1")


def worker_settings(settings: Settings) -> Settings:
    """Settings for one of several workers: onnxruntime threads split among them unless set."""
    if settings.threads or settings.serve_workers == 1:
        return settings
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return settings.with_overrides(threads=max(1, cpus // settings.serve_workers))


def settings_to_env(settings: Settings) -> str:
    """The settings as JSON for the worker processes (the submitter secret included, as the environment
    would pass XINFANG_SUBMITTER_KEY)."""
    data = settings.model_dump(mode="json")
    if settings.submitter_key is not None:
        data["submitter_key"] = settings.submitter_key.get_secret_value()
    return json.dumps(data)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn `--factory`): the settings `serve` handed over, else XINFANG_*
    (so `uvicorn --factory xinfang.serving.server:worker_app --workers N` works too)."""
    from xinfang.serving.app import create_app
    from xinfang.serving.logs import setup_logging

    given = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate(json.loads(given)) if given else get_settings()
    setup_logging(os.environ.get(LOG_LEVEL_ENV, "info"), settings.log_format)
    return create_app(worker_settings(settings))


def serve(settings: Settings, log_level: str = "info") -> None:
    """Check the model folder, keys file and store first (clear one-line errors), then run uvicorn."""
    import uvicorn

    from xinfang.model_folder import ModelFolder
    from xinfang.serving.app import create_app
    from xinfang.serving.keys import read_keys
    from xinfang.serving.logs import setup_logging

    check_workers(settings)
    folder = ModelFolder.resolve(settings.models_dir, settings.serve_model)
    if settings.auth_enabled:
        read_keys(settings.api_keys_path)
    setup_logging(log_level, settings.log_format)
    common = {"host": settings.serve_host, "port": settings.serve_port, "log_config": None, "log_level": log_level,
              "timeout_graceful_shutdown": 10, "server_header": False}
    if settings.serve_workers == 1:
        uvicorn.run(create_app(settings, folder=folder), workers=1, **common)
        return
    from xinfang.serving.store import ResultsStore
    from xinfang.submitters import SubmitterKeyer

    try:
        ResultsStore(settings.results_store_url).close()  # migrations once; a clear error if the store is away
    except SQLAlchemyError as exc:
        raise XinfangError(str(exc)) from None
    SubmitterKeyer.from_settings(settings)  # the secret file, if that is where it lives, made once, not raced
    os.environ[SETTINGS_ENV] = settings_to_env(settings.with_overrides(serve_model=str(folder.path)))
    os.environ[LOG_LEVEL_ENV] = log_level
    uvicorn.run(WORKER_APP, factory=True, workers=settings.serve_workers, **common)
