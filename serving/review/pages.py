"""Rendering the review page's templates (jinja2, autoescaped) with a strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from xinfang.serving.errors import ApiError

HERE = Path(__file__).resolve().parent
STATIC = {"review.css": "text/css", "review.js": "text/javascript"}
# every asset comes from this app; no inline script, no frames, forms post only here
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["q"] = lambda value: quote(str(value), safe="")


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"  # letters must not stay in a shared browser's cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class PageRoute(APIRoute):
    """A route of the page: an error is an HTML page for a browser (which asks for text/html) and the
    service's JSON error for any other client; redirects (log in first) pass through."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                if exc.status < 400 or "text/html" not in request.headers.get("accept", ""):
                    raise
                return render(request, "error.html", status=exc.status, error=exc, reviewer=None)

        return handle
