"""The one near-duplicate policy: staged batches (the API) answer as one sequential index (the batch job)."""

from __future__ import annotations

import random

from xinfang.near_duplicates import MAX_LISTED, NearDuplicates
from xinfang.result import RESULT_VERSION, LetterResult, MaliciousAnswer, ModelRef, Route

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


def result(letter_id: str) -> LetterResult:
    return LetterResult(id=letter_id, model=ModelRef(name="m", version="1", precision="fp32"),
                        malicious=MaliciousAnswer(probability=0.1, flag=False, confidence=0.9, indicators=[]),
                        route=Route(decision="auto", reasons=[]), duplicates=[], result_version=RESULT_VERSION)


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
    last = expected[33].to_json()
    assert len(last["duplicates"]) == MAX_LISTED
    (flag,) = last["malicious"]["indicators"]
    assert flag == {"type": "near_duplicate", "text": "", "start": -1, "end": -1, "source": "duplicates",
                    "count": 23, "same_submitter": True}
    assert expected[10].duplicates == [] and expected[11].malicious.indicators == []


def test_a_letter_is_not_its_own_duplicate_and_first_id_wins():
    policy = NearDuplicates(0.8)
    text = "，".join(PHRASES)
    sig = policy.signature(text)
    policy.annotate(result("A"), sig, "k1")
    again = result("A")
    assert policy.annotate(again, sig, "k1").hits == [] and again.duplicates == []
    assert len(policy) == 1 and policy.index.submitter_of("A") == "k1"


# --- the API and the batch job answer alike ---------------------------------------------------------------

def campaign_letters() -> list[dict]:
    """Letters in order: a 3-copy campaign from three submitters (L2 gets the indicator: two earlier copies),
    a repeat from the same submitter (L5), and unrelated letters."""
    rng = random.Random(3)
    rows = [{"id": f"L{i}", "text": "，".join(rng.sample(PHRASES, 7)) + f"，金额{1000 + i}元。", "submitter": f"S{i}"}
            for i in range(8)]
    rows[1]["text"] = rows[0]["text"].replace("金额", "总金额")
    rows[2]["text"] = rows[0]["text"] + "请查。"
    rows[5]["text"], rows[5]["submitter"] = rows[4]["text"] + "再次反映。", rows[4]["submitter"]
    rows[6]["submitter"] = None
    return rows


def test_api_and_batch_job_give_identical_answers(tiny_model_dir, tmp_path):
    """Issue 8 item 4: same letters, same order, fresh index, same precision (fp32): the API's results and
    the batch job's have identical head answers, route, duplicates and near_duplicate indicators."""
    import io
    import json

    from fastapi.testclient import TestClient
    from rich.console import Console

    from xinfang.batch.job import ClassifyOptions, JobFiles, run_classify
    from xinfang.config import Settings
    from xinfang.engine import Engine
    from xinfang.serving.app import create_app
    from xinfang.serving.store import ResultsStore

    rows = campaign_letters()
    settings = Settings(models_dir=tiny_model_dir.parent.parent, state_dir=tmp_path / "state",
                        cache_dir=tmp_path / "cache", auth_enabled=False, batch_size=len(rows),
                        max_batch_letters=len(rows), microbatch_size=len(rows))

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    run_classify(ClassifyOptions(input=src, output=out, model="tiny/v0", precision="fp32", progress=False),
                 settings, Console(file=io.StringIO()))
    batch = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

    engine = Engine(tiny_model_dir, precision="fp32")
    with TestClient(create_app(settings, engine=engine)) as client:
        r = client.post("/v1/letters:batch", json={"letters": rows})
        assert r.status_code == 200, r.text
        api = r.json()["results"]

    def answer(result: dict) -> dict:
        # span texts aside: the batch job may mask personal data in them (offsets stay)
        return LetterResult.model_validate(result).to_json(span_texts=False)

    assert [answer(x) for x in api] == [answer(x) for x in batch]
    by_id = {x["id"]: x for x in api}
    assert [d["id"] for d in by_id["L2"]["duplicates"]] == ["L0", "L1"] or \
        {d["id"] for d in by_id["L2"]["duplicates"]} == {"L0", "L1"}
    flags = {i: [x for x in r["malicious"]["indicators"] if x["type"] == "near_duplicate"] for i, r in by_id.items()}
    assert [f["count"] for f in flags["L2"]] == [2] and flags["L5"][0]["same_submitter"] is True
    assert flags["L1"] == [] and flags["L3"] == []

    # one submitter secret for the deployment: the store's hashes are the batch job's keys
    sig_keys = {x["id"]: x["sub"] for x in map(json.loads, JobFiles.for_output(out).sigs.read_text().splitlines())}
    store = ResultsStore(settings.results_store_url)
    try:
        assert {row.letter_id: row.submitter_hash for row in store.rows()} == sig_keys
    finally:
        store.close()
    assert sig_keys["L6"] is None and sig_keys["L4"] == sig_keys["L5"] != sig_keys["L0"]
