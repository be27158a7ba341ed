"""What the app holds while it runs (engine, store, index, batcher, keys) and the Depends to reach it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from xinfang.config import Settings
from xinfang.model_folder import ModelFolder
from xinfang.result import LetterResult
from xinfang.serving.batcher import MicroBatcher
from xinfang.serving.errors import ApiError
from xinfang.serving.keys import KeyRing
from xinfang.serving.score_and_store import Scores, Submission
from xinfang.serving.shared_index import SharedIndex
from xinfang.serving.store import ResultsStore
from xinfang.text import LetterTokenizer

if TYPE_CHECKING:
    from xinfang.serving.rate_limits import RateLimiter


@dataclass
class AppState:
    settings: Settings
    engine: Scores
    folder: ModelFolder
    model_ref: dict[str, str]
    store: ResultsStore
    index: SharedIndex  # near-duplicates, in the store's database
    batcher: MicroBatcher[Submission, LetterResult]
    keyring: KeyRing | None  # None: authentication is off
    tokenizer: LetterTokenizer  # the model's, to count tokens at the door
    rate_limiter: RateLimiter | None = None  # None: no limit per key
    started: float = field(default_factory=time.time)


def get_state(request: Request) -> AppState:
    state = getattr(request.app.state, "xinfang", None)
    if state is None:
        raise ApiError(503, "not_ready", "the service is starting", headers={"Retry-After": "1"})
    return state


StateDep = Annotated[AppState, Depends(get_state)]
