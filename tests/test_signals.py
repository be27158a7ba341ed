"""Rule signals: every span points at the original text, and handwritten letters yield the expected cues."""

from __future__ import annotations

import pytest

from xinfang.schema import load_schema
from xinfang.signals import (
    CREDIBILITY_SIGNALS,
    MALICIOUS_INDICATORS,
    SIGNAL_TYPES,
    Signal,
    credibility_evidence,
    extract_signals,
    malicious_evidence,
    signal_types,
)

# Handwritten letters (invented people and places) with the (type, exact span text) each must yield.
LETTERS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "subsidy": (
        "尊敬的区纪委领导：\n我是某社区居民。2019年3月，某街道办副主任王某某把我家的低保补贴扣了两个月，"
        "一共1200元。我亲眼看到他在社区办公室把钱分给了网格员李某某。我家的补贴被他拿去请客了。"
        "我手里有银行转账记录和录音，可以提供。\n举报人：张建华\n联系电话：13912345678",
        [("named_subject", "某街道办副主任王某某"), ("named_subject", "网格员李某某"),
         ("specific_time", "2019年3月"), ("specific_amount", "1200元"), ("first_hand", "亲眼看到"),
         ("first_hand", "我家的补贴被"), ("evidence", "转账记录"), ("evidence", "录音"),
         ("signed", "张建华"), ("signed", "联系电话：13912345678")],
    ),
    "banquet": (
        "去年春节前，城管局张三局长在人民路88号的金龙大酒店请客吃饭，席间收了包工头送的两条中华烟和"
        "一个5000元的红包。当时我就在现场，有照片为证。",
        [("specific_time", "去年春节前"), ("named_subject", "城管局张三局长"),
         ("specific_place", "人民路88号"), ("specific_place", "金龙大酒店"),
         ("specific_amount", "两条中华烟"), ("specific_amount", "5000元"), ("first_hand", "我就在现场"),
         ("evidence", "照片")],
    ),
    "malicious": (
        "听说村支书李某某贪污了很多钱，据说他家在城里买了好几套房。这个人无恶不作，所有人都恨他。"
        "他以前整过我，我和他有矛盾。如果你们不处理，我就去北京上访，否则就找媒体曝光。"
        "此信同时寄给省纪委、中纪委和巡视组。这种人应该枪毙，判死刑！",
        [("hearsay", "听说"), ("hearsay", "据说"), ("exaggeration", "无恶不作"), ("exaggeration", "所有人都"),
         ("grudge", "整过我"), ("grudge", "有矛盾"), ("threat", "不处理，我就"),
         ("mass_copy", "同时寄给省纪委"), ("punishment_demand", "枪毙"), ("punishment_demand", "判死刑"),
         ("named_subject", "村支书李某某")],
    ),
    "tender": (
        "2018年5月至8月，某镇副镇长刘某在某村道路硬化工程招标中，让其小舅子的公司中标，"
        "并收取工程款30%回扣，合计约15万元。施工合同和转账记录我都保存着。",
        [("specific_time", "2018年5月"), ("named_subject", "某镇副镇长刘某"),
         ("specific_amount", "30%回扣"), ("specific_amount", "15万元"), ("evidence", "转账记录")],
    ),
    "school": (
        "尊敬的王书记：\r\n\u3000\u3000我孩子在某某中学读初三，上个月十号班主任赵老师要求每人交３００元资料费，"
        "不交就不让上课。我家的孩子被赶出教室，我有收据。",
        [("specific_time", "上个月十号"), ("specific_amount", "３００元"), ("named_subject", "班主任赵老师"),
         ("first_hand", "我家的孩子被"), ("evidence", "收据")],
    ),
    "gang": (
        "我们村的恶霸陈某某长期霸占村集体鱼塘。2020年7月15日晚上9点，我父亲被他带人打伤住院。"
        "派出所民警周某某和他称兄道弟，报警后一直不立案。证人有三个村民，医院的发票也在。",
        [("named_subject", "陈某某"), ("specific_time", "2020年7月15日晚上9点"),
         ("named_subject", "派出所民警周某某"), ("first_hand", "我父亲被"), ("evidence", "证人"),
         ("evidence", "发票")],
    ),
    "wages": (
        "反映某建筑公司拖欠农民工工资问题，共欠我们二十三人工资四十六万元。\n"
        "反映人：刘德明\n住址：某区幸福路12号3栋501室\n电话：0731-84561234",
        [("specific_amount", "四十六万元"), ("signed", "刘德明"), ("signed", "电话：0731-84561234"),
         ("specific_place", "某区幸福路12号3栋501室")],
    ),
    "land": (
        "2021年元旦前后，村委会把我家的一块地租给了外地老板，已经3年了，一分钱租金都没给。",
        [("specific_time", "2021年元旦前后")],
    ),
    "repeat": (
        "本人亲历：2017年至今，我已经多次反映区某局违规发放补贴的问题，但一直没有结果。据了解，"
        "该局局长的妻子在下属单位挂名领工资，每月3000多元。",
        [("first_hand", "本人亲历"), ("mass_copy", "多次反映"), ("hearsay", "据了解"),
         ("specific_amount", "3000多元"), ("specific_time", "2017年")],
    ),
    "question": (
        "请问我户口已迁至深圳，最近在深圳买车，想开回老家上牌，是否可以用流动人口登记回执办理？",
        [],
    ),
}


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[Signal]]:
    return {name: extract_signals(text) for name, (text, _) in LETTERS.items()}


@pytest.mark.parametrize("name", list(LETTERS))
def test_every_span_is_the_original_text(name: str, extracted: dict[str, list[Signal]]):
    text = LETTERS[name][0]
    for s in extracted[name]:
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start:s.end] == s.text, s
        assert s.source == "rule" and s.type in SIGNAL_TYPES and s.rule


@pytest.mark.parametrize("name", list(LETTERS))
def test_expected_signals_found(name: str, extracted: dict[str, list[Signal]]):
    found = {(s.type, s.text) for s in extracted[name]}
    missing = [e for e in LETTERS[name][1] if e not in found]
    assert not missing, f"missing {missing}; found {sorted(found)}"


def test_genuine_letters_have_no_malicious_indicators(extracted: dict[str, list[Signal]]):
    for name in ("subsidy", "banquet", "tender", "school", "gang", "wages", "question"):
        assert not signal_types(extracted[name]) & set(MALICIOUS_INDICATORS), name


def test_precision_traps(extracted: dict[str, list[Signal]]):
    school = extracted["school"]
    assert not any("王书记" in s.text for s in school), "the addressee is not the accused"
    land = extracted["land"]
    assert not any(s.type == "specific_amount" for s in land), "一块地 and 3年 are not amounts"
    assert not any(s.type == "specific_time" and s.text == "3年" for s in land)
    question = extracted["question"]
    assert not signal_types(question) & {"named_subject", "evidence", "specific_amount", "signed"}


def test_negated_evidence_is_not_evidence():
    signals = extract_signals("他收钱的时候没有录音，我手上也没有任何照片。")
    assert not [s for s in signals if s.type == "evidence"]


def test_weak_evidence_needs_an_offering_cue():
    assert not [s for s in extract_signals("我们和开发商签订了购房合同。") if s.type == "evidence"]
    assert [s for s in extract_signals("我手里有当时签的合同原件。") if s.type == "evidence"]


def test_groupings_cover_every_type(extracted: dict[str, list[Signal]]):
    cred = credibility_evidence(extracted["subsidy"])
    assert list(cred) == list(CREDIBILITY_SIGNALS)
    assert cred["specific_time"] and cred["signed"]
    mal = malicious_evidence(extracted["malicious"])
    assert list(mal) == list(MALICIOUS_INDICATORS) and all(mal.values())


def test_signal_names_match_the_schema():
    assert list(CREDIBILITY_SIGNALS) == load_schema().head("credibility").class_ids


def test_empty_and_blank_letters():
    assert extract_signals("") == [] and extract_signals(" \n\u3000") == []


def test_signal_is_immutable_and_serialisable(extracted: dict[str, list[Signal]]):
    s = extracted["banquet"][0]
    with pytest.raises(AttributeError):
        s.start = 3  # type: ignore[misc]
    assert set(s.as_dict()) == {"type", "text", "start", "end", "source", "rule"}
