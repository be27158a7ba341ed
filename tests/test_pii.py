"""PII: checksummed IDs and cards are found and masked, invalid ones are not IDs, logs never carry letters."""

from __future__ import annotations

import logging
import random
import re

import pytest

from xinfang.pii import (
    NUMBER_TYPES,
    RedactingFilter,
    find_pii,
    luhn_ok,
    mask_pii,
    redact_for_log,
    safe_log_fields,
    valid_id15,
    valid_id18,
)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_AREAS = ("110101", "310104", "430102", "440305", "510107", "320582", "610113")
_MOBILE_PREFIXES = ("130", "135", "139", "150", "158", "166", "177", "181", "188", "191", "199")


def random_id(rng: random.Random) -> str:
    body = (rng.choice(_AREAS) + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            + f"{rng.randint(0, 999):03d}")
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def random_phone(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))


def random_card(rng: random.Random, length: int) -> str:
    body = "62" + "".join(rng.choice("0123456789") for _ in range(length - 3))
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


def _formats(phone: str) -> list[str]:
    return [phone, f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
            f"+86 {phone}"]


@pytest.fixture(scope="module")
def rng() -> random.Random:
    return random.Random(20240601)


def test_generated_ids_validate(rng: random.Random):
    for _ in range(200):
        assert valid_id18(random_id(rng))


def test_masking_leaves_no_raw_id_phone_or_card(rng: random.Random):
    for _ in range(40):
        id_number, phone, card = random_id(rng), random_phone(rng), random_card(rng, rng.choice((16, 19)))
        shown_phone = rng.choice(_formats(phone))
        text = (f"举报人：李建国，身份证号{id_number}，手机{shown_phone}。\n"
                f"他让我把钱打到他的银行卡{card}上，一共3万元。")
        masked = mask_pii(text)
        digits = re.sub(r"\D", "", masked)
        for raw in (id_number, phone, card, shown_phone):
            assert raw not in masked
        assert id_number[:17] not in digits and phone not in digits and card not in digits
        assert "〔身份证号〕" in masked and "〔手机号〕" in masked and "〔银行卡号〕" in masked
        assert "3万元" in masked  # amounts are not personal data


def test_invalid_ids_are_not_ids(rng: random.Random):
    for _ in range(50):
        good = random_id(rng)
        bad_check = good[:17] + rng.choice([c for c in "0123456789X" if c != good[17]])
        assert not valid_id18(bad_check)
        assert all(s.type != "id_number" for s in find_pii(f"号码{bad_check}。"))
    bad_date = "110101" + "19901332" + "123"
    bad_date += "10X98765432"[sum(int(d) * w for d, w in zip(bad_date, _WEIGHTS, strict=True)) % 11]
    assert not valid_id18(bad_date)
    assert all(s.type != "id_number" for s in find_pii(bad_date))


def test_odd_long_numbers_are_still_masked(rng: random.Random):
    id_number = random_id(rng)
    odd = " ".join(id_number[i:i + 4] for i in range(0, 18, 4))  # not the 6-8-4 grouping
    typo = id_number[:17] + ("0" if id_number[17] != "0" else "1")
    text = f"身份证：{odd}，另一个写错的号码{typo}。"
    masked = mask_pii(text)
    assert odd not in masked and typo not in masked and masked.count("〔") == 2


def test_old_15_digit_ids_and_formatted_ids(rng: random.Random):
    assert valid_id15("430102850317123") and not valid_id15("430102851317123")
    assert [s.type for s in find_pii("旧身份证430102850317123")] == ["id_number"]
    id_number = random_id(rng)
    spaced = f"{id_number[:6]} {id_number[6:14]} {id_number[14:]}"
    assert [s.type for s in find_pii(f"证件号 {spaced} 。")] == ["id_number"]


def test_luhn_filters_bank_cards(rng: random.Random):
    card = random_card(rng, 16)
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert [s.type for s in find_pii(f"卡号{card}")] == ["bank_card"]
    assert all(s.type != "bank_card" for s in find_pii(f"卡号{wrong}"))
    grouped = " ".join(card[i:i + 4] for i in range(0, 16, 4))
    assert [s.type for s in find_pii(f"卡号：{grouped}。")] == ["bank_card"]


def test_phones_landlines_emails_accounts():
    text = "手机１３９１２３４５６７８，座机0731-84561234，邮箱zhang.san@example.com，QQ：123456789。"
    spans = find_pii(text)
    assert [s.type for s in spans] == ["phone", "landline", "email", "account"]
    assert text[spans[0].start:spans[0].end] == "１３９１２３４５６７８"  # full-width, original offsets
    masked = mask_pii(text)
    assert masked == "手机〔手机号〕，座机〔固定电话〕，邮箱〔邮箱〕，QQ：〔账号〕。"
    assert not find_pii("2019年3月5日，共计1200元，第12345号文件")


def test_names_and_addresses_are_masked():
    text = ("某街道办副主任王某某和张三局长收了钱。\n举报人：刘德明\n"
            "住址：某区幸福路12号3栋501室\n电话：0731-84561234")
    masked = mask_pii(text)
    for raw in ("王某某", "张三", "刘德明", "幸福路12号", "501室", "84561234"):
        assert raw not in masked, raw
    assert "副主任〔姓名〕" in masked and "〔姓名〕局长" in masked and "〔地址〕" in masked
    assert "局长" in masked and "副主任" in masked  # posts stay: they are not personal data


def test_keep_length_preserves_offsets(rng: random.Random):
    phone = random_phone(rng)
    text = f"我是王某某，电话{phone}，2019年3月的事。"
    masked = mask_pii(text, keep_length=True)
    assert len(masked) == len(text) and phone not in masked
    assert masked.index("2019年3月") == text.index("2019年3月")


def test_number_types_need_no_segmentation():
    spans = find_pii("电话13912345678 张三", types=NUMBER_TYPES)
    assert [s.type for s in spans] == ["phone"]


def test_log_redaction(rng: random.Random):
    phone = random_phone(rng)
    letter = f"尊敬的领导：某街道办副主任王某某克扣我家低保补贴，联系电话{phone}，请调查处理。"
    out = redact_for_log(f"scored letter {letter} in 12 ms")
    assert phone not in out and "克扣" not in out and "in 12 ms" in out and "〔正文" in out
    assert redact_for_log("model v3 loaded") == "model v3 loaded"
    fields = safe_log_fields({"id": "L-1", "text": letter, "note": f"call {phone}", "score": 0.7})
    assert fields["id"] == "L-1" and fields["score"] == 0.7
    assert "克扣" not in fields["text"] and fields["text"].startswith(f"<{len(letter)} chars")
    assert phone not in fields["note"]


def test_redacting_filter_on_a_logger(rng: random.Random, caplog: pytest.LogCaptureFixture):
    phone = random_phone(rng)
    letter = f"村支书李某某收了我两条烟和五千元红包，这是我的电话{phone}，请纪委领导调查。"
    logger = logging.getLogger("xinfang.test_pii")
    flt = RedactingFilter()
    caplog.handler.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="xinfang.test_pii"):
            logger.info("received %s from %s", letter, phone)
            try:
                raise ValueError(f"cannot parse {letter}")
            except ValueError:
                logger.exception("parse failed")
    finally:
        caplog.handler.removeFilter(flt)
    assert phone not in caplog.text and "红包" not in caplog.text and "received" in caplog.text
    assert "ValueError" in caplog.text and "parse failed" in caplog.text


@pytest.mark.parametrize("words", ["赵六", "挪用扶贫款", "王", "赵六挪用扶贫款三万元", "Zhào Liù 赵六"])
def test_log_redaction_does_not_depend_on_run_length(words: str):
    """Issue 7 item 9: short Chinese runs (a two-character name, a five-character phrase) are removed too."""
    out = redact_for_log(f"insert failed id=L-7 text={words} n=3")
    assert out.startswith("insert failed id=L-7 text=") and out.endswith(" n=3")
    for ch in words:
        if not ch.isascii():
            assert ch not in out
    assert redact_for_log(out) == out  # a second pass (routes redact, then the handler's filter) is a no-op


def test_log_redaction_keeps_model_versions_and_tags():
    """Issue 7 item 6: a YYYYMMDD-HHMMSS model version is not a number to mask; masks survive a second pass."""
    line = "ready: model tiny/20240601-120000 (int8) store sqlite:///x.sqlite with 12 letters"
    assert redact_for_log(line) == line
    masked = redact_for_log("call 13912345678 about L-0001")
    assert masked == "call 〔手机号〕 about L-0001"
    assert redact_for_log(masked) == masked
    assert "〔号码〕" in redact_for_log("ref 20241399-120000")  # not a real date: still masked
