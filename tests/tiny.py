"""Builders for tests: a character tokenizer and a tiny randomly initialised BERT saved as a base folder."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

SAMPLE = (
    "尊敬的纪委领导您好我是某某街道居民现实名举报村支书王某某在2019年3月收受工程老板红包5万元有转账记录和照片为证"
    "听说他还利用职权为亲属谋利低保补贴被克扣我家的补贴被扣了三年联系电话地址小区工地医院学校院长校长董事长"
    "城乡建设环境保护交通运输教育文体劳动和社会保障商贸旅游卫生计生污染噪音公交道路拆迁工资社保旅游景区"
    "垃圾这些人都是骗子滚你妈的傻逼黑人女人地域歧视恶意诬告扬言不处理就上访所有人都无恶不作据说网传"
    "，。！？、；：（）“”《》"
)


def build_char_tokenizer(extra: str = "") -> Tokenizer:
    """WordPiece over single characters: every CJK character is its own token, like Chinese BERT."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted(set(SAMPLE + extra + "0123456789abcdefghijklmnopqrstuvwxyz%.,-"))
    vocab = {t: i for i, t in enumerate(specials + chars)}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(True)])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return tok


def build_tiny_base(folder: Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """A transformers folder (config, safetensors, tokenizer.json, base_card.json) with random weights."""
    import torch
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_char_tokenizer()
    tok.save(str(folder / "tokenizer.json"))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=128)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    (folder / "base_card.json").write_text(json.dumps({
        "name": "tiny-random-bert", "licence": "test fixture", "pooling": "mean",
        "production_use_allowed": True}), encoding="utf-8")
    return folder


def sample_windows(tokenizer_path: Path, max_length: int = 64, overlap: int = 16) -> list[list[int]]:
    """Token windows of letter-like texts of many lengths (int8 calibration input for tiny models)."""
    from xinfang.text import LetterTokenizer

    tok = LetterTokenizer.from_file(tokenizer_path, max_length=max_length, overlap=overlap)
    texts = [SAMPLE[i: i + n] for i, n in zip(range(0, 120, 7), (5, 40, 90, 13, 200, 61, 150, 27, 8, 300),
                                                 strict=False)]
    return [w.ids for t in texts for w in tok.windows(t)]
