"""Run the app under uvicorn (one process: the micro-batcher and duplicate index live in it)."""

from __future__ import annotations

from xinfang.config import Settings


def serve(settings: Settings, log_level: str = "info") -> None:
    """Check the model folder and keys file first (clear one-line errors), then run uvicorn."""
    import uvicorn

    from xinfang.model_folder import ModelFolder
    from xinfang.serving.app import create_app
    from xinfang.serving.keys import read_keys
    from xinfang.serving.logs import setup_logging

    folder = ModelFolder.resolve(settings.models_dir, settings.serve_model)
    if settings.auth_enabled:
        read_keys(settings.api_keys_path)
    setup_logging(log_level, settings.log_format)
    app = create_app(settings, folder=folder)
    uvicorn.run(app, host=settings.serve_host, port=settings.serve_port, log_config=None, log_level=log_level,
                workers=1, timeout_graceful_shutdown=10, server_header=False)
