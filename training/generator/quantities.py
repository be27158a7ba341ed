"""Time and amount phrases: specific ones (a credibility signal) and vague stand-ins."""

from __future__ import annotations

import re
from random import Random
from typing import Any

from xinfang.training.generator.cnnum import to_chinese

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _sub(pattern: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], pattern)


def time_phrase(rng: Random, lex: dict[str, Any]) -> str:
    """A specific time: 2019年3月, 去年春节前, 上个月十号 ..."""
    t = lex["time"]
    y = rng.randint(*t["years"])
    m = rng.randint(1, 10)
    d = rng.randint(1, 28)
    values = {"y": str(y), "y2": str(y + rng.randint(1, 3)), "m": str(m), "m2": str(m + rng.randint(1, 2)),
              "d": str(d), "cm": to_chinese(m), "cd": to_chinese(d), "ry": rng.choice(t["relative_years"]),
              "ryp": rng.choice(t["past_relative_years"]), "fest": rng.choice(t["festivals"]),
              "wd": rng.choice(t["weekdays"])}
    return _sub(rng.choice(t["specific"]), values)


def vague_time(rng: Random, lex: dict[str, Any]) -> str:
    return rng.choice(lex["time"]["vague"])


def _round2(v: float) -> int:
    n = int(v)
    step = 10 ** max(0, len(str(n)) - 2)
    return max(step, int(round(v / step)) * step)


def money(rng: Random, lo: float, hi: float) -> str:
    """A sum of money in one of the ways letters write it: 5万元, 五万块钱, 一千多块, 12000元 ..."""
    v = _round2(lo * (hi / lo) ** rng.random())
    if v >= 10000:
        w = v / 10000
        wi = max(1, int(round(w)))
        ws = str(wi) if w >= 10 or w == int(w) else f"{w:.1f}".rstrip("0").rstrip(".")
        forms = [f"{ws}万元", f"{ws}万", f"{ws}万块", f"{to_chinese(wi)}万元", f"{to_chinese(wi)}万多",
                 f"{wi}万多元", f"近{wi}万元", f"{to_chinese(wi)}万块钱", f"{v}元"]
    else:
        lead, unit = (v // 1000, "千") if v >= 1000 else ((v // 100, "百") if v >= 100 else (v // 10, "十"))
        forms = [f"{v}元", f"{v}块", f"{v}块钱", f"{to_chinese(v)}元", f"{to_chinese(v)}块钱",
                 f"{to_chinese(lead)}{unit}多块", f"{v}多元"]
    return rng.choice(forms)


def amount_phrase(rng: Random, lex: dict[str, Any], kind: str) -> str:
    """A specific amount of the given kind (money_small/mid/big, gift, kickback, fee, subsidy)."""
    a = lex["amount"]
    ranges = a["ranges"]
    if kind in ("money_small", "money_mid", "money_big"):
        return money(rng, *ranges[kind])
    pattern = rng.choice(a[kind])
    pct = rng.choice(a["percents"])
    values = {
        "money_small": money(rng, *ranges["money_small"]) if "{money_small}" in pattern else "",
        "money_mid": money(rng, *ranges["money_mid"]) if "{money_mid}" in pattern else "",
        "fee": money(rng, *ranges["fee"]) if "{fee}" in pattern else "",
        "pct": f"{pct}{rng.choice('%%％')}", "cpct": to_chinese(pct),
    }
    return _sub(pattern, values)


def vague_amount(rng: Random, lex: dict[str, Any], kind: str) -> str:
    return rng.choice(lex["amount"]["vague"][kind])
