"""Evaluation reports served to logged-in reviewers at /review/reports/: a letter in a report then links to
its page here (the report's own script adds the links only when served this way)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from xinfang.serving.errors import ApiError
from xinfang.serving.review.pages import PageRoute, render
from xinfang.serving.review.queues import QUEUES
from xinfang.serving.review.session import ReviewerDep
from xinfang.serving.state import StateDep

router = APIRouter(prefix="/reports", route_class=PageRoute)
_NAME = re.compile(r"^(?:[\w.-]+/)?[\w.-]+\.html$")
# a report is one self-contained file: its inline style and script, images as data: URLs, nothing fetched
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _reports(folder: Path) -> list[str]:
    """The reports in the folder, and in its subfolders (`xinfang evaluate --out FOLDER/NAME`)."""
    if not folder.is_dir():
        return []
    found = [*folder.glob("*.html"), *folder.glob("*/*.html")]
    return sorted(p.relative_to(folder).as_posix() for p in found if p.is_file() and not p.is_symlink())


@router.get("/")
async def reports_list(request: Request, state: StateDep, reviewer: ReviewerDep) -> Response:
    folder = state.settings.reports_path
    return render(request, "reports.html", reviewer=reviewer, queues=QUEUES, queue=None,
                  reports=_reports(folder), folder=folder)


@router.get("/{name:path}")
async def report(name: str, state: StateDep, reviewer: ReviewerDep) -> Response:
    folder = state.settings.reports_path
    if not _NAME.match(name) or name not in _reports(folder):
        raise ApiError(404, "not_found", f"no report {name!r}")
    return FileResponse(folder / name, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
