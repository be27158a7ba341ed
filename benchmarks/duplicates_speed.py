"""Speed of near-duplicate detection (and, for comparison, rule signals and PII masking) on letters.

    python benchmarks/duplicates_speed.py            # 2,000 synthetic letters, 10% planted near-copies
    python benchmarks/duplicates_speed.py --real     # also the tipdm2020 unlabeled messages, if present

Not a test: numbers depend on the machine. Prints letters per second for each stage.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from xinfang.duplicates import DuplicateIndex
from xinfang.pii import mask_pii
from xinfang.signals import extract_signals, warm_up

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_POSTS = ["副主任", "局长", "村支书", "所长", "校长", "副镇长", "科长", "院长"]
_UNITS = ["某街道办", "某县交通局", "某村", "某派出所", "某中学", "某镇政府", "某卫生院", "某住建局"]
_DEEDS = [
    "克扣困难群众的低保金和临时救助金", "在工程招标中让亲戚的公司中标并收取回扣", "用公款在酒店大吃大喝",
    "收受包工头送的购物卡和烟酒", "违规给亲属办理低保和补贴", "长期不上班却照领工资",
    "强行征收我家的承包地不给补偿",
    "与当地恶势力称兄道弟包庇他们", "私自出租村集体土地把租金装进自己口袋", "在职称评审中收钱办事",
]
_TAILS = [
    "请领导调查核实，还群众一个公道。", "希望纪委尽快查处。", "我有转账记录和照片，可以提供。",
    "以上情况属实，请查处。",
    "此事村里很多人都知道，但没人敢说。", "多次反映没有结果，恳请重视。",
]


def synthetic_letter(rng: random.Random) -> str:
    who = f"{rng.choice(_UNITS)}{rng.choice(_POSTS)}{rng.choice(_SURNAMES)}某某"
    parts = [f"尊敬的领导：我要反映{who}的问题。"]
    for _ in range(rng.randint(3, 7)):
        parts.append(f"{rng.randint(2015, 2023)}年{rng.randint(1, 12)}月，他{rng.choice(_DEEDS)}，"
                     f"涉及金额约{rng.randint(1, 90)}万元，{rng.choice(_TAILS)}")
    return "".join(parts)


def edited(text: str, rng: random.Random, n_edits: int = 3) -> str:
    chars = list(text)
    for _ in range(n_edits):
        i = rng.randrange(len(chars))
        chars[i] = rng.choice("的了和在是有我他")
    return "".join(chars)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} letters/s ({seconds:.2f} s for {n:,})"


def bench(name: str, letters: list[tuple[str, str]]) -> None:
    mean = sum(len(t) for _, t in letters) / len(letters)
    print(f"== {name}: {len(letters):,} letters, mean {mean:.0f} chars")
    index = DuplicateIndex()
    t = time.perf_counter()
    sigs = [index.signature(text) for _, text in letters]
    print("minhash signature  ", rate(len(letters), time.perf_counter() - t))
    t = time.perf_counter()
    for (letter_id, _), sig in zip(letters, sigs, strict=True):
        index.add_signature(letter_id, sig)
    print("index add (sig)    ", rate(len(letters), time.perf_counter() - t))
    t = time.perf_counter()
    hits = sum(len(index.query_signature(sig, 0.8)) > 1 for sig in sigs)
    print("query (sig)        ", rate(len(letters), time.perf_counter() - t), f"- {hits:,} have a near-copy")
    t = time.perf_counter()
    groups = index.clusters(0.8)
    print("clusters(0.8)      ", rate(len(letters), time.perf_counter() - t), f"- {len(groups):,} clusters")
    sample = letters[: min(len(letters), 1000)]
    t = time.perf_counter()
    for _, text in sample:
        extract_signals(text)
    print("extract_signals    ", rate(len(sample), time.perf_counter() - t))
    t = time.perf_counter()
    for _, text in sample:
        mask_pii(text + "。")  # a new string: the segmentation cache shared with signals does not help
    print("mask_pii           ", rate(len(sample), time.perf_counter() - t))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--real", action="store_true",
                        help="also run on shared/data/tipdm2020/unlabeled.jsonl")
    args = parser.parse_args()
    t = time.perf_counter()
    warm_up()
    print(f"jieba load {time.perf_counter() - t:.2f} s")
    rng = random.Random(0)
    base = [synthetic_letter(rng) for _ in range(int(args.n * 0.9))]
    copies = [edited(rng.choice(base), rng) for _ in range(args.n - len(base))]
    bench("synthetic", [(f"s{i}", text) for i, text in enumerate(base + copies)])
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "tipdm2020" / "unlabeled.jsonl"
    if args.real and real.is_file():
        with real.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        bench("tipdm2020 unlabeled", [(r["id"], r["text"]) for r in rows])


if __name__ == "__main__":
    main()
