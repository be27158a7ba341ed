"""The review page's endpoints under /review: login, queues, one letter, corrections, served reports."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from xinfang.pii import redact_for_log
from xinfang.schema import Head, HeadKind
from xinfang.serving.errors import ApiError
from xinfang.serving.review.answers import model_value, same_label
from xinfang.serving.review.pages import HERE, STATIC, PageRoute, render
from xinfang.serving.review.queues import QUEUES, build_queue
from xinfang.serving.review.reports import router as reports_router
from xinfang.serving.review.session import (
    COOKIE,
    LOGIN_COOKIE,
    ReviewerDep,
    check_csrf,
    key_for_login,
    new_login_token,
    read_form,
    review_store,
    set_cookie,
)
from xinfang.serving.review.store import Change
from xinfang.serving.review.view import head_views, indicators, segments
from xinfang.serving.state import AppState, StateDep

log = logging.getLogger("xinfang.serving.review")
router = APIRouter(prefix="/review", include_in_schema=False, route_class=PageRoute)


def _safe_next(target: str | None) -> str:
    """Only a path of this page after login (never another site)."""
    return target if target and target.startswith("/review/") and not target.startswith("//") else "/review/"


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        raise ApiError(404, "not_found", "no such file")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    token = new_login_token()
    response = render(request, "login.html", csrf=token, next=_safe_next(next), error=None)
    set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    form = await read_form(request)
    check_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"))
    target = _safe_next(str(form.get("next") or ""))
    try:
        entry = key_for_login(state, str(form.get("key") or ""))
    except ApiError as exc:
        token = new_login_token()
        response = render(request, "login.html", status=exc.status, csrf=token, next=target, error=exc.message)
        set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
        return response
    hours = state.settings.review_session_hours
    token, _ = await run_in_threadpool(review_store(state).open_session, entry.digest, hours)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, COOKIE, token, max_age=int(hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/review")
    log.info("review login key=%s role=%s", entry.label, entry.role.value)
    return response


@router.post("/logout")
async def logout(request: Request, state: StateDep, reviewer: ReviewerDep) -> Response:
    check_csrf(reviewer.csrf, (await read_form(request)).get("csrf"))
    await run_in_threadpool(review_store(state).close_session, reviewer.token)
    response = RedirectResponse("/review/login", status_code=303)
    response.delete_cookie(COOKIE, path="/review")
    return response


@router.get("/")
@router.get("")
async def home() -> Response:
    return RedirectResponse("/review/queues/human", status_code=303)


def _queue(state: AppState, name: str) -> list[Any]:
    if name not in QUEUES:
        raise ApiError(404, "not_found", f"no queue {name!r}; queues: {', '.join(QUEUES)}")
    store = review_store(state)
    folder = state.folder
    return build_queue(name, folder.schema, folder.calibration, store.letters(), store.corrections(),
                       state.settings.review_uncertain)


@router.get("/queues/{name}")
async def queue_page(request: Request, name: str, state: StateDep, reviewer: ReviewerDep) -> Response:
    items = await run_in_threadpool(_queue, state, name)
    return render(request, "queue.html", reviewer=reviewer, queues=QUEUES, queue=name, items=items)


def _letter_context(state: AppState, letter_id: str, queue: str, unmasked: bool) -> dict[str, Any]:
    store = review_store(state)
    letter = store.letter(letter_id)
    if letter is None:
        raise ApiError(404, "not_found", "this letter is not in the review store")
    ids = [it.letter_id for it in _queue(state, queue)]
    at = ids.index(letter_id) if letter_id in ids else -1
    dups = letter.result.get("duplicates") or []
    known = store.known([d["id"] for d in dups])
    model = letter.result.get("model") or {}
    return {
        "letter": letter, "queue": queue, "queues": QUEUES, "unmasked": unmasked,
        "position": (at + 1, len(ids)) if at >= 0 else None,
        "prev": ids[at - 1] if at > 0 else None, "next": ids[at + 1] if 0 <= at < len(ids) - 1 else None,
        "segments": segments(letter.text, letter.result, unmasked),
        "heads": head_views(state.folder.schema, letter, store.corrections(letter_id)),
        "indicators": indicators(letter.result),
        "reasons": (letter.result.get("route") or {}).get("reasons") or [],
        "duplicates": [{**d, "known": d["id"] in known} for d in dups],
        "same_submitter": store.by_submitter(letter.submitter_hash, letter_id) if letter.submitter_hash else [],
        "trail": store.corrections(letter_id, current=False),
        "model": f"{model.get('name', '?')}/{model.get('version', '?')}",
    }


@router.get("/letters/{letter_id:path}")
async def letter_page(request: Request, letter_id: str, state: StateDep, reviewer: ReviewerDep,
                      queue: str = "human", unmasked: bool = False, saved: int | None = None,
                      saved_letter: str | None = None) -> Response:
    if unmasked and not reviewer.may_unmask:
        raise ApiError(403, "forbidden_role", f"角色 {reviewer.role.value} 不能查看未脱敏信件 "
                       "(only a supervisor sees personal data unmasked)")
    context = await run_in_threadpool(_letter_context, state, letter_id, queue, unmasked)
    if unmasked:
        await run_in_threadpool(review_store(state).log_unmasked, reviewer.label, letter_id)
        log.info("unmasked view key=%s letter=%s", reviewer.label, redact_for_log(letter_id))
    return render(request, "letter.html", reviewer=reviewer, saved=saved, saved_letter=saved_letter or letter_id,
                  **context)


def _form_value(head: Head, values: list[str]) -> Any:
    """A head's label from the form's values (None: nothing chosen for a single-choice head)."""
    if head.kind is HeadKind.binary:
        if values and values[-1] in {"0", "1"}:
            return values[-1] == "1"
        return None
    unknown = [v for v in values if v not in head.class_ids]
    if unknown:
        raise ApiError(422, "invalid_label", f"{head.name}: unknown class {unknown[0]!r}")
    if head.kind is HeadKind.single_label:
        return values[-1] if values else None
    return [c for c in head.class_ids if c in values]


@router.post("/letters/{letter_id:path}")
async def save_letter(request: Request, letter_id: str, state: StateDep, reviewer: ReviewerDep,
                      queue: str = "human") -> Response:
    form = await read_form(request)
    check_csrf(reviewer.csrf, form.get("csrf"))
    store = review_store(state)
    letter = await run_in_threadpool(store.letter, letter_id)
    if letter is None:
        raise ApiError(404, "not_found", "this letter is not in the review store")
    accept = form.get("action") == "accept"
    changes = []
    for head in state.folder.schema.heads:
        model = model_value(head, letter.result.get(head.name))
        value = model if accept else _form_value(head, [str(v) for v in form.getlist(f"head.{head.name}")])
        if value is not None:
            changes.append(Change(head.name, value, "accept" if same_label(head, value, model) else "set", model))
    ids = [it.letter_id for it in await run_in_threadpool(_queue, state, queue)]  # before this letter leaves it
    model = letter.result.get("model") or {}
    try:
        n = await run_in_threadpool(store.correct, letter_id, changes, reviewer.label, reviewer.role.value,
                                    f"{model.get('name', '')}/{model.get('version', '')}")
    except IntegrityError:  # another reviewer superseded the same correction a moment before
        raise ApiError(409, "conflict", "这封信刚被他人更正，请刷新后再保存 (someone else has just corrected "
                       "this letter: reload it and save again)") from None
    log.info("review saved key=%s letter=%s changes=%d", reviewer.label, redact_for_log(letter_id), n)
    target = letter_id
    if form.get("go") == "next" and letter_id in ids and ids.index(letter_id) < len(ids) - 1:
        target = ids[ids.index(letter_id) + 1]
    return RedirectResponse(f"/review/letters/{quote(target, safe='')}?queue={queue}&saved={n}"
                            f"&saved_letter={quote(letter_id, safe='')}", status_code=303)


router.include_router(reports_router)
