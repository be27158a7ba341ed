"""The one near-duplicate policy: staged batches (the API) answer as one sequential index (the batch job)."""

from __future__ import annotations

import random

from xinfang.near_duplicates import MAX_LISTED, NearDuplicates

PHRASES = ["村里的低保补贴被村干部克扣", "工程招投标存在围标串标", "学校校长违规收取补课费", "医院院长收受药品回扣",
           "拆迁补偿标准不公开", "单位长期拖欠社保缴费", "领导公车私用接送家属", "扶贫项目资金去向不明",
           "安置房分配优亲厚友", "执法人员吃拿卡要", "河道被企业偷排污水", "村务财务多年不公开"]


def letters(n: int = 40) -> list[tuple[str, str, str | None]]:
    rng = random.Random(7)
    out = [(f"L{i}", "，".join(rng.sample(PHRASES, 6)) + f"，金额{rng.randint(1000, 9999)}元。", f"S{i % 5}")
           for i in range(n)]
    base = out[3][1]
    for k in range(10, 34):  # a campaign of 24 copies, more than MAX_LISTED
        out[k] = (out[k][0], base.replace("金额", "总金额") + "请查" * (k % 3), f"S{k % 5}" if k % 4 else None)
    return out


def result(letter_id: str) -> dict:
    return {"id": letter_id, "malicious": {"score": 0.1, "indicators": []}}


def test_staged_batches_answer_like_one_sequential_index():
    rows = letters()
    seq = NearDuplicates(0.8)
    expected = []
    for letter_id, text, sub in rows:
        r = result(letter_id)
        seq.annotate(r, seq.signature(text), sub)
        expected.append(r)
    staged_policy = NearDuplicates(0.8)
    got = []
    for start in range(0, len(rows), 7):
        staged = staged_policy.stage()
        for letter_id, text, sub in rows[start:start + 7]:
            r = result(letter_id)
            staged_policy.annotate(r, staged_policy.signature(text), sub, staged)
            got.append(r)
        assert len(staged_policy) == start  # nothing indexed before the batch is committed
        staged_policy.commit(staged)
    assert got == expected and len(staged_policy) == len(seq) == len(rows)
    last = expected[33]
    assert len(last["duplicates"]) == MAX_LISTED
    (flag,) = last["malicious"]["indicators"]
    assert flag == {"type": "near_duplicate", "text": "", "start": -1, "end": -1, "source": "batch",
                    "count": 23, "same_submitter": True}
    assert expected[10]["duplicates"] == [] and expected[11]["malicious"]["indicators"] == []


def test_a_letter_is_not_its_own_duplicate_and_first_id_wins():
    policy = NearDuplicates(0.8)
    text = "，".join(PHRASES)
    sig = policy.signature(text)
    policy.annotate(result("A"), sig, "k1")
    again = result("A")
    assert policy.annotate(again, sig, "k1").hits == [] and again["duplicates"] == []
    assert len(policy) == 1 and policy.index.submitter_of("A") == "k1"
