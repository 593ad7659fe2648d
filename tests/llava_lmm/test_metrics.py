"""LLaVA benchmark scorers on small files written by hand in the reference formats; hand-computed scores.

Each case holds answers where a plausible wrong rule gives another number (noted next to the case).
"""
import json

import pytest

from llava_lmm.eval import main as eval_main
from llava_lmm.metrics import (gqa_score, gqa_submission, llavabench_answers, load_mme_ground_truth,
                               load_pope_labels, load_sqa, majority_baselines, mme_score, mmvet_submission,
                               normalize_vqa_answer, pope_label, pope_score, seed_score, seed_submission, sqa_parse,
                               sqa_score, textvqa_question, textvqa_score, vizwiz_submission, vqa_accuracy,
                               vqav2_submission)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------- EvalAI processor / TextVQA
def test_evalai_answer_processor():
    assert normalize_vqa_answer("Two dogs.") == "2 dogs"
    assert normalize_vqa_answer("The Cat!") == "cat"
    assert normalize_vqa_answer("dont") == "don't"
    assert normalize_vqa_answer("whats") == "what's"
    assert normalize_vqa_answer("What's up, Joe's?") == "what 's up joe 's"  # ``'s`` split off, , and ? dropped
    assert normalize_vqa_answer("1,000 dogs") == "1000 dogs"
    assert normalize_vqa_answer("a/b") == "b"  # "/" becomes a space, then "a" is an article
    assert normalize_vqa_answer("3.5 kg.") == "3.5 kg"  # a period before a digit stays
    assert normalize_vqa_answer("." * 40 + "x") == "." * 8 + "x"  # the reference removes at most 32 periods
    assert normalize_vqa_answer("youd've") == "you'd've"  # from the full contraction map
    gts = ["coca cola"] * 2 + ["coke"] * 8
    assert vqa_accuracy("Coca Cola", gts) == pytest.approx((2 * (1 / 3) + 8 * (2 / 3)) / 10)
    assert vqa_accuracy("coke", gts) == 1.0 and vqa_accuracy("pepsi", gts) == 0.0


def test_textvqa_prompt_layouts():
    assert textvqa_question("OCR tokens: a b Question: What Brand? Short answer:") == "what brand?"
    assert textvqa_question("What is it?\nReference OCR token: x, y\nAnswer the question using a single word.") \
        == "what is it?"
    assert textvqa_question("Reference OCR token: x\nWhat is it?\nAnswer briefly.") == "what is it?"
    assert textvqa_question("What is it?\nAnswer briefly.") == "what is it?"
    with pytest.raises(ValueError, match="layouts"):
        textvqa_question("one line only")


def test_textvqa_file(tmp_path):
    ann = {"dataset_name": "textvqa", "data": [
        {"image_id": "img1", "question": "What brand is this?", "answers": ["coca cola"] * 2 + ["coke"] * 8},
        {"image_id": "img1", "question": "What does the sign say?",
         "answers": ["don't stop"] * 2 + ["dont stop"] + ["go"] * 7},
        {"image_id": "img2", "question": "What's the price?", "answers": ["1.50"] * 10},
    ]}
    (tmp_path / "TextVQA_0.5.1_val.json").write_text(json.dumps(ann))
    sfx = "\nAnswer the question using a single word or phrase."
    answers = _jsonl(tmp_path / "a.jsonl", [
        # the same image id twice: the key is (image id, question parsed from the prompt)
        {"question_id": "img1", "prompt": "OCR tokens: coca cola Question: What brand is this? Short answer:",
         "text": "Coca-Cola."},  # -> "coca cola": 2 of 10 annotators -> 0.6
        {"question_id": "img1", "prompt": "What does the sign say?\nReference OCR token: stop" + sfx,
         "text": "DONT stop!"},  # -> "don't stop" (contraction map): 3 of 10 -> 0.9 (without the map: 1 of 10)
        {"question_id": "img2", "prompt": "What's the price?\nReference OCR token: 1.50" + sfx,
         "text": "1.50."},  # the final period goes, the decimal point stays -> 1.0
    ])
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    r = textvqa_score(rows, ann["data"])
    assert r["num"] == 3 and r["accuracy"] == pytest.approx(100 * (0.6 + 0.9 + 1.0) / 3)
    out = tmp_path / "score.json"
    assert eval_main(["score", "--task", "textvqa", "--answers", str(answers), "--annotations",
                      str(tmp_path / "TextVQA_0.5.1_val.json"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["accuracy"] == pytest.approx(r["accuracy"])


# ----------------------------------------------------------------------------- POPE
def test_pope_answer_normalisation():
    assert pope_label("No, there is not.") == "no"
    assert pope_label("Yes. There is no cat.") == "yes"  # only the first sentence counts
    assert pope_label("There isn't a dog") == "yes"  # "isn't" is not one of No/no/not
    assert pope_label("Not really") == "yes"  # capitalised "Not" is not in the list
    assert pope_label("no, none") == "no"


def test_pope_three_files_per_category(tmp_path):
    img = [f"COCO_val2014_00000000000{i}.jpg" for i in range(6)]
    _jsonl(tmp_path / "llava_pope_test.jsonl", [
        {"question_id": 1, "image": img[1], "text": "Is there a dog in the image?", "category": "adversarial"},
        {"question_id": 2, "image": img[2], "text": "Is there a cat in the image?", "category": "adversarial"},
        {"question_id": 3, "image": img[3], "text": "Is there a car in the image?", "category": "adversarial"},
        {"question_id": 4, "image": img[1], "text": "Is there a bus in the image?", "category": "random"},
        {"question_id": 5, "image": img[4], "text": "Is there a cup in the image?", "category": "random"},
        {"question_id": 6, "image": img[5], "text": "Is there a bed in the image?", "category": "random"},
    ])
    coco = tmp_path / "coco"
    coco.mkdir()
    # label files: one json per line, ids restart at 1 in every file (pairing by id would be wrong)
    _jsonl(coco / "coco_pope_adversarial.json", [{"question_id": 1, "image": img[1], "text": "", "label": "yes"},
                                                 {"question_id": 2, "image": img[2], "text": "", "label": "no"},
                                                 {"question_id": 3, "image": img[3], "text": "", "label": "yes"}])
    _jsonl(coco / "coco_pope_random.json", [{"question_id": 1, "image": img[1], "text": "", "label": "no"},
                                            {"question_id": 2, "image": img[4], "text": "", "label": "yes"},
                                            {"question_id": 3, "image": img[5], "text": "", "label": "no"}])
    answers = _jsonl(tmp_path / "ans.jsonl", [  # one answers file for all categories, in question order
        {"question_id": 1, "prompt": "", "text": "No, there is not."},  # no
        {"question_id": 2, "prompt": "", "text": "There isn't a cat"},  # yes ("isn't" is not "not")
        {"question_id": 3, "prompt": "", "text": "Yes. There is no cat."},  # yes (first sentence only)
        {"question_id": 4, "prompt": "", "text": "Not really"},  # yes ("Not" is not in the list)
        {"question_id": 5, "prompt": "", "text": "no"},
        {"question_id": 6, "prompt": "", "text": "No."},
    ])
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    qs = [json.loads(x) for x in (tmp_path / "llava_pope_test.jsonl").read_text().splitlines()]
    r = pope_score(rows, qs, load_pope_labels(coco))
    assert pope_score(rows[::-1], qs, load_pope_labels(coco)) == r  # paired in question order, not file order
    adv, rnd = r["adversarial"], r["random"]
    # adversarial: q1 no/yes FN, q2 yes/no FP, q3 yes/yes TP
    assert (adv["TP"], adv["FP"], adv["TN"], adv["FN"]) == (1, 1, 0, 1)
    assert adv["accuracy"] == pytest.approx(1 / 3) and adv["precision"] == pytest.approx(0.5)
    assert adv["recall"] == pytest.approx(0.5) and adv["f1"] == pytest.approx(0.5)
    assert adv["yes_ratio"] == pytest.approx(2 / 3)
    # random: q4 yes/no FP, q5 no/yes FN, q6 no/no TN
    assert (rnd["TP"], rnd["FP"], rnd["TN"], rnd["FN"]) == (0, 1, 1, 1) and rnd["f1"] == 0.0
    assert rnd["yes_ratio"] == pytest.approx(1 / 3) and r["f1_mean"] == pytest.approx(0.25)
    assert eval_main(["score", "--task", "pope", "--answers", str(answers), "--annotations", str(coco),
                      "--questions", str(tmp_path / "llava_pope_test.jsonl")]) == 0
    with pytest.raises(ValueError, match="2 answers for 3 labels"):
        pope_score(rows[:-1], qs, load_pope_labels(coco))
    _jsonl(coco / "coco_pope_random.json", [{"question_id": 1, "image": img[4], "text": "", "label": "no"},
                                            {"question_id": 2, "image": img[1], "text": "", "label": "yes"},
                                            {"question_id": 3, "image": img[5], "text": "", "label": "no"}])
    with pytest.raises(ValueError, match="orders differ"):
        pope_score(rows, qs, load_pope_labels(coco))


# ----------------------------------------------------------------------------- ScienceQA
def test_sqa_parse():
    assert sqa_parse("B") == "B" and sqa_parse("C. c") == "C" and sqa_parse("The answer is A.") == "A"
    assert sqa_parse("The answer is A. The answer is B.") == "FAILED"  # must match exactly once
    assert sqa_parse("The answer is A. The answer is A.") == "FAILED"
    assert sqa_parse("E") == "E" and sqa_parse("b") == "FAILED" and sqa_parse("A.") == "FAILED"


def test_sqa_files(tmp_path):
    problems = {
        "1": {"question": "q", "choices": ["x", "y", "z"], "answer": 0, "image": "image.png", "split": "test"},
        "2": {"question": "q", "choices": ["x", "y"], "answer": 1, "image": None, "split": "test"},
        "3": {"question": "q", "choices": ["w", "x", "y", "z"], "answer": 0, "image": "image.png", "split": "test"},
        "4": {"question": "q", "choices": ["x", "y", "z"], "answer": 0, "image": "image.png", "split": "test"},
        "5": {"question": "q", "choices": ["x", "y", "z"], "answer": 2, "image": None, "split": "test"},
        "6": {"question": "q", "choices": ["x", "y"], "answer": 0, "image": "image.png", "split": "test"},
        "7": {"question": "q", "choices": ["x", "y"], "answer": 0, "image": None, "split": "train"},
    }
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    (tmp_path / "pid_splits.json").write_text(json.dumps({"test": ["1", "2", "3", "4", "5", "6"], "train": ["7"]}))
    sfx = "\nAnswer with the option's letter from the given choices directly."
    answers = _jsonl(tmp_path / "ans.jsonl", [
        {"question_id": "1", "prompt": "<image>\nQuestion: q" + sfx, "text": "A"},  # right
        {"question_id": "2", "prompt": "Question: q" + sfx, "text": "B. y"},  # right
        {"question_id": "3", "prompt": "<image>\nQuestion: q" + sfx,
         "text": "The answer is A. The answer is B."},  # FAILED (first match would be right)
        {"question_id": "4", "prompt": "<image>\nQuestion: q" + sfx, "text": "The answer is A."},  # right
        {"question_id": "5", "prompt": "Question: q" + sfx, "text": "E"},  # only 3 choices: wrong
        {"question_id": "7", "prompt": "Question: q" + sfx, "text": "A"},  # train split: not scored
    ])  # "6" (an image question) is unanswered: wrong
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    r = sqa_score(rows, *load_sqa(tmp_path))
    assert (r["num"], r["correct"], r["missing"], r["failed_parse"]) == (6, 3, 1, 2)
    assert r["accuracy"] == pytest.approx(50.0)  # ignoring the missing one would give 60
    # IMG as the reference: answers whose prompt holds <image> (1, 3, 4); unanswered "6" is only counted
    assert r["num_img"] == 3 and r["img_accuracy"] == pytest.approx(200 / 3) and r["missing_img"] == 1
    assert eval_main(["score", "--task", "sqa", "--answers", str(answers), "--annotations", str(tmp_path)]) == 0


# ----------------------------------------------------------------------------- GQA
def test_gqa_exact_match(tmp_path):
    def q(answer, structural, balanced=True):
        return {"question": "?", "answer": answer, "isBalanced": balanced, "types": {"structural": structural}}

    questions = {"201": q("yes", "verify"), "202": q("left", "query"), "203": q("left", "choose"),
                 "204": q("no", "logical"), "205": q("red", "query", balanced=False)}
    (tmp_path / "testdev_balanced_questions.json").write_text(json.dumps(questions))
    answers = _jsonl(tmp_path / "merge.jsonl", [
        {"question_id": "201", "prompt": "", "text": "Yes"},  # lower-cased: right
        {"question_id": "202", "prompt": "", "text": " left."},  # " left": the converter does not strip spaces
        {"question_id": "203", "prompt": "", "text": "Left.."},  # every trailing period goes: right
        {"question_id": "205", "prompt": "", "text": "blue"},  # not balanced: not scored
    ])  # 204 unanswered: wrong
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    r = gqa_score(rows, questions)
    assert (r["num"], r["missing"]) == (4, 1) and r["accuracy"] == pytest.approx(50.0)  # stripping: 75
    # official eval.py: only "query" questions are open; verify / choose / logical are binary
    assert r["open"] == 0.0 and r["binary"] == pytest.approx(200 / 3)
    assert gqa_submission(rows)[:2] == [{"questionId": "201", "prediction": "yes"},
                                        {"questionId": "202", "prediction": " left"}]
    sub = tmp_path / "testdev_balanced_predictions.json"
    assert eval_main(["score", "--task", "gqa", "--answers", str(answers), "--annotations",
                      str(tmp_path / "testdev_balanced_questions.json"), "--submission", str(sub)]) == 0
    assert json.loads(sub.read_text())[2] == {"questionId": "203", "prediction": "left"}
    assert eval_main(["score", "--task", "gqa", "--answers", str(answers)]) == 2  # --annotations missing


# ----------------------------------------------------------------------------- MME
def test_mme_official_calculation(tmp_path):
    root = tmp_path / "MME_Benchmark_release_version"
    (root / "existence").mkdir(parents=True)  # flat layout: images and .txt side by side
    (root / "existence" / "000000006040.txt").write_text(
        "Is there a train in this image? Please answer yes or no.\tYes\n"
        "Is there a bed in this image? Please answer yes or no.\tNo\n")
    (root / "existence" / "000000018099.txt").write_text(
        "Is there a cat in this image?  Please answer yes or no.\tNo\n"  # two spaces, as in some official files
        "Is there a dog in this image? Please answer yes or no.\tYes\n")
    (root / "artwork" / "images").mkdir(parents=True)
    (root / "artwork" / "questions_answers_YN").mkdir()
    (root / "artwork" / "questions_answers_YN" / "10002.txt").write_text(
        "Is this artwork created by X? Please answer yes or no.\tYes\n"
        "Is this artwork created by Y? Please answer yes or no.\tNo\n")
    (root / "code_reasoning").mkdir()
    (root / "code_reasoning" / "0001.txt").write_text(
        "Is the output 3? Please answer yes or no.\tYes\nIs the output 4? Please answer yes or no.\tNo\n")
    s = "\nAnswer the question using a single word or phrase."
    answers = _jsonl(tmp_path / "llava-mme.jsonl", [
        {"question_id": "existence/000000006040.jpg", "prompt": "Is there a train in this image?" + s,
         "text": "Yes"},
        {"question_id": "existence/000000006040.jpg",
         "prompt": "Is there a bed in this image? Please answer yes or no." + s, "text": "No, there is not."},
        {"question_id": "existence/000000018099.jpg", "prompt": "Is there a cat in this image?" + s,
         "text": "Not sure"},  # the first four characters hold "no": no (right)
        {"question_id": "existence/000000018099.jpg", "prompt": "Is there a dog in this image?" + s,
         "text": "There is a dog"},  # "ther": other (wrong)
        {"question_id": "artwork/images/10002.jpg", "prompt": "Is this artwork created by X?" + s, "text": "yes"},
        {"question_id": "artwork/images/10002.jpg", "prompt": "Is this artwork created by Y?" + s, "text": "Yes"},
        {"question_id": "code_reasoning/0001.png", "prompt": "Is the output 3?" + s, "text": "Yes"},
        {"question_id": "code_reasoning/0001.png", "prompt": "Is the output 4?" + s, "text": "No"},
    ])
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    r = mme_score(rows, load_mme_ground_truth(root))
    ex, art = r["subtasks"]["existence"], r["subtasks"]["artwork"]
    assert ex["acc"] == pytest.approx(75.0) and ex["acc_plus"] == pytest.approx(50.0)
    assert ex["score"] == pytest.approx(125.0)
    assert art["acc"] == pytest.approx(50.0) and art["acc_plus"] == 0.0
    assert r["perception"] == pytest.approx(175.0) and r["cognition"] == pytest.approx(200.0)
    assert "count" in r["perception_missing_subtasks"] and "existence" not in r["perception_missing_subtasks"]
    with pytest.raises(ValueError, match="expected 2"):
        mme_score(rows[:-1], load_mme_ground_truth(root))
    assert eval_main(["score", "--task", "mme", "--answers", str(answers), "--annotations", str(root)]) == 0


# ----------------------------------------------------------------------------- SEED-Bench
def test_seed_image_and_video(tmp_path):
    seed = {"question_type": {"Scene Understanding": 1, "Instance Identity": 2, "Action Recognition": 10},
            "questions": [
                {"question_id": "101", "data_type": "image", "question_type_id": 1, "answer": "A"},
                {"question_id": "102", "data_type": "image", "question_type_id": 1, "answer": "B"},
                {"question_id": "103", "data_type": "image", "question_type_id": 2, "answer": "C"},
                {"question_id": "v1", "data_type": "video", "question_type_id": 10, "answer": "D"}]}
    rows = [{"question_id": 101, "prompt": "", "text": "A"},  # int id in the answers, str in the annotation
            {"question_id": 102, "prompt": "", "text": "B."},  # exact match only: wrong
            {"question_id": "v1", "prompt": "", "text": "D"}]  # 103 unanswered: wrong
    r = seed_score(rows, seed)
    assert r["accuracy"] == pytest.approx(50.0) and r["image_accuracy"] == pytest.approx(100 / 3)
    assert r["video_accuracy"] == pytest.approx(100.0) and r["missing"] == 1
    assert r["per_type"] == {"Scene Understanding": 50.0, "Instance Identity": 0.0, "Action Recognition": 100.0}
    with pytest.raises(ValueError, match="1 unanswered"):
        seed_submission(rows, seed)
    sub = seed_submission(rows + [{"question_id": 103, "prompt": "", "text": "C"}], seed)
    assert sub[0] == {"question_id": "101", "prediction": "A"} and len(sub) == 4


# ----------------------------------------------------------------------------- server / judge files
def test_vqav2_and_vizwiz_uploads(tmp_path):
    test2015 = [{"question_id": 1, "image": "COCO_test2015_000000000001.jpg", "text": "How many?"},
                {"question_id": 2, "image": "COCO_test2015_000000000002.jpg", "text": "What?"},
                {"question_id": 3, "image": "COCO_test2015_000000000003.jpg", "text": "Is it?"}]
    _jsonl(tmp_path / "llava_vqav2_mscoco_test2015.jsonl", test2015)
    answers = _jsonl(tmp_path / "merge.jsonl", [{"question_id": 1, "prompt": "", "text": "Two dogs."},
                                                {"question_id": 3, "prompt": "", "text": "Yes"}])
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    assert vqav2_submission(rows, test2015) == [{"question_id": 1, "answer": "2 dogs"},
                                                {"question_id": 2, "answer": ""},  # every test2015 id, "" if none
                                                {"question_id": 3, "answer": "yes"}]
    up = tmp_path / "answers_upload" / "ckpt.json"
    assert eval_main(["score", "--task", "vqav2", "--answers", str(answers), "--questions",
                      str(tmp_path / "llava_vqav2_mscoco_test2015.jsonl"), "--submission", str(up)]) == 0
    assert json.loads(up.read_text())[0] == {"question_id": 1, "answer": "2 dogs"}
    viz = [{"question_id": 0, "image": "VizWiz_test_00000000.jpg", "text": "What is this?"},
           {"question_id": 1, "image": "VizWiz_test_00000001.jpg", "text": "Color?"}]
    vrows = [{"question_id": 0, "prompt": "", "text": "Unanswerable."}, {"question_id": 1, "prompt": "", "text": "Red"}]
    assert vizwiz_submission(vrows, viz) == [{"image": "VizWiz_test_00000000.jpg", "answer": "unanswerable"},
                                             {"image": "VizWiz_test_00000001.jpg", "answer": "red"}]
    with pytest.raises(ValueError, match="1 unanswered"):
        vizwiz_submission(vrows[:1], viz)


def test_mmbench_xlsx(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")
    tsv = tmp_path / "mmbench_dev_20230712.tsv"
    tsv.write_text("index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n"
                   "0\tWhat is shown?\tLook.\tcat\tdog\tbird\t\tA\tobject\tiVBOR\tsrc\tl2\t\tdev\n"
                   "7\tWhich colour?\t\tred\tblue\tgreen\tpink\tC\tattr\tiVBOR\tsrc\tl2\t\tdev\n")
    answers = _jsonl(tmp_path / "ans.jsonl", [{"question_id": 7, "prompt": "", "text": "C"},
                                              {"question_id": 0, "prompt": "", "text": "B"}])
    up = tmp_path / "answers_upload" / "exp.xlsx"
    assert eval_main(["score", "--task", "mmbench", "--answers", str(answers), "--questions", str(tsv),
                      "--submission", str(up)]) == 0
    df = pd.read_excel(up)
    assert list(df.columns) == ["index", "question", "A", "B", "C", "D", "prediction", "answer", "split"]
    assert list(df["prediction"]) == ["B", "C"] and list(df["index"]) == [0, 7]


def test_mmvet_and_llavabench_files():
    assert mmvet_submission([{"question_id": 0, "text": "x"}, {"question_id": 12, "text": "y"}]) == \
        {"v1_0": "x", "v1_12": "y"}
    qs = [{"question_id": 0}, {"question_id": 1}]
    ans = [{"question_id": 1, "text": "b"}, {"question_id": 0, "text": "a"}]
    assert [a["text"] for a in llavabench_answers(ans, qs)] == ["a", "b"]  # the judge pairs lines by position
    with pytest.raises(ValueError, match="1 unanswered"):
        llavabench_answers(ans[:1], qs)


def test_majority_baselines():
    train = [("How many x?", "0"), ("How many y?", "0"), ("Is there a z?", "Yes"), ("Is there q?", "Yes"),
             ("Is there w?", "No")]
    test = [("How many a?", "0"), ("Is there b?", "Yes"), ("Is there c?", "No")]
    b = majority_baselines(train, test)
    assert b["majority_answer"] == "0" and b["majority_accuracy"] == pytest.approx(1 / 3)
    assert b["per_type_majority_accuracy"] == pytest.approx(2 / 3)
