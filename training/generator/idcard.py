"""GB 11643-1999 citizen identity numbers: check character, validation and generation."""

from __future__ import annotations

import datetime as dt
import unicodedata
from random import Random

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_char(body17: str) -> str:
    """The 18th character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(body17) != 17 or not body17.isdigit():
        raise ValueError(f"need 17 digits, got {body17!r}")
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(body17, WEIGHTS, strict=True)) % 11]


def is_valid_id(number: str) -> bool:
    """True if ``number`` is an 18-character identity number with a valid date and check character."""
    s = unicodedata.normalize("NFKC", number).strip().upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    try:
        dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return check_char(s[:17]) == s[17]


def make_id(rng: Random, region_codes: list[str], years: tuple[int, int] = (1950, 2002)) -> str:
    """A random identity number with a plausible region, a real birth date and a valid check character."""
    birth = dt.date(rng.randint(*years), 1, 1) + dt.timedelta(days=rng.randrange(365))
    body = f"{rng.choice(region_codes)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + check_char(body)
