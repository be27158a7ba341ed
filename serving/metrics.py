"""Prometheus metrics of the API (`GET /metrics`): requests, latency, queue depth, micro-batches, decisions, model."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinfang.providers import provider_of
from xinfang.result import LetterResult
from xinfang.schema import HeadKind, Schema
from xinfang.serving.auth import authenticate
from xinfang.serving.state import StateDep

if TYPE_CHECKING:
    from xinfang.serving.state import AppState

UNMATCHED = "unmatched"  # the endpoint label of a path no route serves: scanners cannot add label values
NONE = "none"  # the decision label of a head that chose no class (a binary head's "no")
OTHER = "other"  # a decision outside the label schema's class ids (never the text itself), or an odd method
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """The metrics of one app, in a registry of its own (several apps in one process count apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("xinfang_http_requests", "HTTP requests answered, by endpoint (route template), "
                                "method and status", ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("xinfang_http_request_duration_seconds", "Time from request to the end of the "
                                 "response, by endpoint", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("xinfang_queue_depth", "Letters waiting in the scoring queue", registry=r)
        self.queue_capacity = Gauge("xinfang_queue_capacity", "Letters the scoring queue holds (queue_size)",
                                    registry=r)
        self.batch_size = Histogram("xinfang_microbatch_letters", "Letters per micro-batch scored (a micro-batch "
                                    "that failed and was scored letter by letter counts as those)",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.decisions = Counter("xinfang_letters_scored", "Letters scored and stored, by head and decision: a "
                                 "class id of the label schema, one count per chosen class; 'none' when the head chose no "
                                 "class", ["head", "decision"], registry=r)
        self.routes = Counter("xinfang_letters_routed", "Letters scored and stored, by routing decision (auto or human)",
                              ["decision"], registry=r)
        self.model = Info("xinfang_model", "The served model and the execution provider running it", registry=r)

    def bind(self, state: AppState) -> None:
        """Watch this app state: model info, queue gauges, and every micro-batch its batcher scores."""
        self.model.info({**{k: str(v) for k, v in state.model_ref.items()}, "provider": provider_of(state.engine) or ""})
        batcher = state.batcher
        self.queue_depth.set_function(lambda: batcher.qsize())
        self.queue_capacity.set(batcher.queue_size)
        batcher.process = self.counting(batcher.process, state.folder.schema)

    def counting(self, process: Callable[[list[Any]], list[LetterResult]], schema: Schema
                 ) -> Callable[[list[Any]], list[LetterResult]]:
        """`process` (the scorer of a micro-batch), counting its size and decisions when it succeeds."""
        heads = [(h.name, h.kind, frozenset(h.class_ids)) for h in schema.heads]

        def counted(batch: list[Any]) -> list[LetterResult]:
            results = process(batch)
            self.batch_size.observe(len(batch))
            for result in results:
                self.routes.labels(result.route.decision).inc()
                for name, kind, ids in heads:
                    answer = result.heads.get(name)
                    for decision in _decisions(answer, kind, ids):
                        self.decisions.labels(name, decision).inc()
            return results

        return counted

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _decisions(answer: Any, kind: HeadKind, ids: frozenset[str]) -> list[str]:
    """The class ids a head chose (label values: ids of the label schema only, else 'other')."""
    if answer is None:
        return []
    if kind is HeadKind.single_label:
        chosen = [answer.label]
    elif kind is HeadKind.binary:
        chosen = [next(iter(ids))] if answer.flag else []
    else:
        chosen = list(answer.labels)
    return [c if c in ids else OTHER for c in chosen] or [NONE]


def route_templates(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, re.Pattern[str]]]:
    """(template, regex) of every route, in routing order, through included routers (FastAPI keeps them as
    routers of their own, with their include prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from route_templates(inner.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(getattr(route, "path", None), str):
            template = prefix + route.path
            yield template, compile_path(template)[0]


def endpoint_of(table: list[tuple[str, re.Pattern[str]]], scope: Scope) -> str:
    """The route template serving this request (`/v1/letters/{letter_id:path}`, not the id), else 'unmatched'."""
    path, root = scope["path"], scope.get("root_path", "")
    path = path[len(root):] if root and path.startswith(root) else path
    return next((template for template, regex in table if regex.match(path)), UNMATCHED)


class RequestMetrics:
    """ASGI middleware counting each HTTP request by endpoint, method and status, and timing it.

    Outermost, so refusals by the other middlewares (401, 413, ...) count too; an exception that escapes
    the app counts as 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics
        self.table: list[tuple[str, re.Pattern[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.table is None:  # the app's routes, once they are all included
            self.table = list(route_templates(getattr(scope.get("app"), "routes", ())))
        endpoint = endpoint_of(self.table, scope)
        status = 500
        t = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope["method"] if scope["method"] in METHODS else OTHER
            self.metrics.requests.labels(endpoint, method, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t)


metrics_router = APIRouter(tags=["operations"])


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request, state: StateDep) -> Response:
    """Prometheus text format; needs an API key unless `metrics_require_key` is off."""
    if state.settings.metrics_require_key:
        authenticate(state.keyring, request.headers)
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
