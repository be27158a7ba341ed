"""Near-duplicates: an edited copy is found, unrelated letters are not, variants cluster, state persists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from xinfang.duplicates import (
    EMPTY,
    DuplicateIndex,
    MinHasher,
    estimate,
    is_empty,
    jaccard,
    repeats_by_submitter,
    signature_from_bytes,
    signature_to_bytes,
)

ORIGINAL = (
    "尊敬的区纪委领导：我要实名举报某街道办事处副主任王某某。2019年3月至2020年6月，王某某利用分管民政工作的"
    "便利，多次克扣辖区困难群众的低保金和临时救助金，涉及金额约8万元。他还把自己的亲戚违规纳入低保名单，"
    "每月领取补贴。社区工作人员私下都知道这件事，但是害怕被打击报复不敢说。我本人的母亲是低保户，"
    "去年有三个月的低保金被他以各种理由扣下，一共2100元，至今没有退还。我保存了银行流水和社区的发放名单，"
    "请领导调查核实，还群众一个公道。举报人：张建华，联系电话：13912345678。"
)
# A few edits: a changed date and amount, one word swapped.
EDITED = (
    "尊敬的区纪委领导：我要实名举报某街道办事处副主任王某某。2019年4月至2020年6月，王某某利用分管民政工作的"
    "便利，多次克扣辖区困难群众的低保金和临时救助金，涉及金额约9万元。他还把自己的亲戚违规纳入低保名单，"
    "每月领取补贴。社区工作人员私下都知道这件事，但是害怕被打击报复不敢说。我本人的母亲是低保户，"
    "去年有三个月的低保金被他以各种理由扣下，一共2100元，至今没有退还。我保存了银行流水和社区的发放名单，"
    "恳请领导调查核实，还群众一个公道。举报人：张建华，联系电话：13912345678。"
)
VARIANT_B = ORIGINAL.replace("8万元", "十万元").replace("银行流水", "转账记录")
VARIANT_C = ORIGINAL.replace("举报人：张建华，联系电话：13912345678。", "知情群众") + "望尽快处理！"
UNRELATED = [
    "请问我户口已迁至深圳，最近在深圳买车，想开回老家上牌，是否可以用流动人口登记回执办理？还是需要等居住证"
    "办下来之后再用身份证办理车辆上牌业务？谢谢！",
    "我们小区旁边的工地每天晚上十二点以后还在施工，噪音很大，严重影响居民休息，多次向城管部门投诉都没有用，"
    "希望有关部门尽快处理，还我们一个安静的环境。",
    "某县交通运输局局长李某在公路养护工程招标中，把工程交给其妻弟的公司，收受好处费二十万元，"
    "工程质量很差，刚修好的路不到半年就开裂。请纪委查处。",
    "本人是某中学的老师，学校连续三年拖欠我们的绩效工资和班主任津贴，每人大约一万多元，多次找校长都说没钱，"
    "请教育局督促学校尽快发放。",
]


@pytest.fixture(scope="module")
def index() -> DuplicateIndex:
    idx = DuplicateIndex()
    idx.add("orig", ORIGINAL, submitter="U1")
    for i, text in enumerate(UNRELATED):
        idx.add(f"other-{i}", text, submitter=f"U{i + 2}")
    return idx


def test_edited_copy_is_a_near_duplicate(index: DuplicateIndex):
    assert jaccard(ORIGINAL, EDITED) > 0.8
    hits = index.query(EDITED, threshold=0.8)
    assert hits and hits[0][0] == "orig" and hits[0][1] > 0.8
    assert abs(hits[0][1] - jaccard(ORIGINAL, EDITED)) < 0.15


def test_unrelated_letters_are_not_duplicates(index: DuplicateIndex):
    for i, text in enumerate(UNRELATED):
        assert [h[0] for h in index.query(text, threshold=0.5)] == [f"other-{i}"]
    assert index.near_duplicates_of("orig", threshold=0.5) == []


def test_three_variants_form_one_cluster():
    idx = DuplicateIndex()
    idx.add("a", ORIGINAL)
    for i, text in enumerate(UNRELATED[:2]):
        idx.add(f"x{i}", text)
    idx.add("b", VARIANT_B)
    idx.add("c", VARIANT_C)
    idx.add("d", EDITED)
    for i, text in enumerate(UNRELATED[2:]):
        idx.add(f"y{i}", text)
    assert idx.clusters(threshold=0.7) == [["a", "b", "c", "d"]]
    assert idx.clusters(threshold=0.99) == []


def test_signatures_are_deterministic_and_serialisable():
    a, b = MinHasher(seed=7).signature(ORIGINAL), MinHasher(seed=7).signature(ORIGINAL)
    assert a.dtype == np.uint32 and a.shape == (128,) and np.array_equal(a, b)
    assert not np.array_equal(a, MinHasher(seed=8).signature(ORIGINAL))
    raw = signature_to_bytes(a)
    assert len(raw) == 512 and np.array_equal(signature_from_bytes(raw), a)
    assert estimate(a, b) == 1.0


def test_index_roundtrip(index: DuplicateIndex, tmp_path):
    path = tmp_path / "dups.npz"
    index.save(path)
    loaded = DuplicateIndex.load(path)
    assert loaded.ids == index.ids and loaded.submitter_of("orig") == "U1"
    assert np.array_equal(loaded.signature_of("orig"), index.signature_of("orig"))
    assert loaded.query(EDITED)[0][0] == "orig"


def test_precomputed_signatures_and_large_index():
    rng = np.random.default_rng(0)
    idx = DuplicateIndex()
    for i in range(3000):  # random signatures: past several rebuilds of the band tables, no jieba needed
        idx.add_signature(f"r{i}", rng.integers(0, 2**32 - 2, size=128, dtype=np.uint32))
    planted = idx.signature_of("r10")
    near = planted.copy()
    near[:12] = rng.integers(0, 2**32 - 2, size=12, dtype=np.uint32)
    idx.add_signature("near", near)  # stays in the unsorted buffer
    assert [h[0] for h in idx.query_signature(near, threshold=0.8)] == ["near", "r10"]
    assert idx.near_duplicates_of("r10", 0.8) == [("near", pytest.approx(116 / 128, abs=1e-3))]
    assert idx.clusters(0.8) == [["r10", "near"]]
    with pytest.raises(ValueError):
        idx.add_signature("r1", near)
    with pytest.raises(ValueError):
        idx.add_signature("bad", near[:64])


def test_empty_letters_match_nothing():
    idx = DuplicateIndex()
    sig = idx.add("e1", "")
    idx.add("e2", "，。！")
    assert is_empty(sig) and np.all(sig == EMPTY)
    assert idx.query("") == [] and idx.clusters(0.5) == []


def test_repeats_by_submitter():
    @dataclass
    class Rec:
        id: str
        submitter: str | None

    records = [{"id": "1", "submitter": "A"}, {"id": "2", "submitter": "B"}, {"id": "3", "submitter": "A"},
               {"id": "4", "submitter": None}, Rec("5", "A"), Rec("6", "B"), Rec("7", "C"), {"id": "8"}]
    assert repeats_by_submitter(records) == {"A": ["1", "3", "5"], "B": ["2", "6"]}
    assert list(repeats_by_submitter(records, min_count=3)) == ["A"]


def test_bands_must_divide_permutations():
    with pytest.raises(ValueError):
        DuplicateIndex(num_perm=128, bands=30)
