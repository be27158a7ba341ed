"""Chinese numerals for amounts and dates (3000 -> 三千, 20000 -> 两万)."""

from __future__ import annotations

DIGITS = "零一二三四五六七八九"


def _below_10000(n: int, leading: bool = True) -> str:
    out = ""
    zero = False
    for val, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // val % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        if val == 10 and d == 1 and not out and leading:
            out += "十"
        elif d == 2 and val in (100, 1000) and not out:
            out += "两" + name
        else:
            out += DIGITS[d] + name
    return out


def to_chinese(n: int) -> str:
    """Colloquial Chinese numeral for 0 <= n < 10**8."""
    if not 0 <= n < 10**8:
        raise ValueError(f"out of range: {n}")
    if n == 0:
        return "零"
    hi, lo = divmod(n, 10000)
    if not hi:
        return _below_10000(lo)
    out = ("两" if hi == 2 else _below_10000(hi)) + "万"
    if lo:
        out += ("零" if lo < 1000 else "") + _below_10000(lo, leading=False)
    return out
