"""``eval answer``: reference question formats, answers appended as made, resume of a cut file, unreadable images."""
import base64
import io
import json
import warnings

import pytest

from llava_lmm.eval import answer_to_file, load_model, load_questions, main as eval_main

warnings.filterwarnings("ignore", message="No pretrained configuration")
SQA_SUFFIX = "\nAnswer with the option's letter from the given choices directly."


def _questions(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


QS = [{"question_id": "img0", "image": "0.png", "text": "What colour is the circle?"},
      {"question_id": "img0", "image": "0.png", "text": "How many red circles are there?"},  # same id, 2 questions
      {"question_id": 7, "image": "1.png", "text": "What shape is the red object?"},
      {"question_id": 8, "image": "2.png", "text": "Is there a blue square in the image?"},
      {"question_id": 9, "image": "1.png", "text": "Which shapes exist in this world?"}]


def test_answers_resume_after_a_cut(model_dir, images, tmp_path, capsys):
    q = _questions(tmp_path / "q.jsonl", QS)
    full = tmp_path / "full.jsonl"
    args = ["answer", "--model", str(model_dir), "--questions", str(q), "--image-folder", str(images),
            "--max-new-tokens", "4", "--batch-size", "1"]
    assert eval_main(args + ["--out", str(full)]) == 0
    ref = _lines(full)
    assert [(r["question_id"], r["prompt"]) for r in ref] == [(x["question_id"], x["text"]) for x in QS]
    # a run killed while writing its third line: two complete lines and a cut one
    cut = tmp_path / "cut.jsonl"
    raw = full.read_text().splitlines(keepends=True)
    cut.write_text(raw[0] + raw[1] + raw[2][:25])
    capsys.readouterr()
    assert eval_main(args + ["--out", str(cut)]) == 0
    assert "3 answers written, 2 already there" in capsys.readouterr().out
    got = _lines(cut)
    assert got[:2] == ref[:2]  # kept untouched (same answer ids)
    assert [(r["question_id"], r["prompt"], r["text"]) for r in got] == \
        [(r["question_id"], r["prompt"], r["text"]) for r in ref]
    # run again on the complete file: nothing to do
    assert eval_main(args + ["--out", str(cut)]) == 0
    assert "0 answers written, 5 already there" in capsys.readouterr().out and len(_lines(cut)) == 5
    # a broken line that is not the last one is not silently dropped
    bad = tmp_path / "bad.jsonl"
    bad.write_text(raw[0] + "{oops\n" + raw[1])
    assert eval_main(args + ["--out", str(bad)]) == 2
    assert "line 2: not valid json" in capsys.readouterr().err


def test_each_answer_is_on_disk_when_made(model_dir, images, tmp_path):
    model, tok, proc, meta = load_model(model_dir)
    qs = load_questions(_questions(tmp_path / "q.jsonl", QS))
    out = tmp_path / "a.jsonl"
    real, seen_on_disk = model.generate, []

    def dying_generate(*a, **kw):  # what is on disk when each answer starts; the process "dies" at the 4th
        seen_on_disk.append(len(_lines(out)) if out.exists() else 0)
        if len(seen_on_disk) == 4:
            raise KeyboardInterrupt
        return real(*a, **kw)

    model.generate = dying_generate
    with pytest.raises(KeyboardInterrupt):
        answer_to_file(model, tok, proc, qs, out, images, batch_size=1, max_new_tokens=4)
    assert seen_on_disk == [0, 1, 2, 3] and len(_lines(out)) == 3
    model.generate = real
    res = answer_to_file(model, tok, proc, qs, out, images, batch_size=2, max_new_tokens=4)
    assert (res["answered"], res["already_present"], res["skipped"]) == (2, 3, [])
    assert [r["question_id"] for r in _lines(out)] == [x["question_id"] for x in QS]


def test_unreadable_images_are_skipped_and_counted(model_dir, images, tmp_path, capsys):
    qs = QS[:2] + [{"question_id": 20, "image": "broken.png", "text": "What colour?"},
                   {"question_id": 21, "image": "missing.png", "text": "What colour?"}] + QS[2:3]
    q = _questions(tmp_path / "q.jsonl", qs)
    out = tmp_path / "a.jsonl"
    assert eval_main(["answer", "--model", str(model_dir), "--questions", str(q), "--image-folder", str(images),
                      "--max-new-tokens", "4", "--batch-size", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 answers written, 0 already there (resumed), 2 skipped (unreadable image)" in printed
    assert "skipped 20:" in printed and "broken.png" in printed and "skipped 21:" in printed
    assert [r["question_id"] for r in _lines(out)] == ["img0", "img0", 7]
    from llava_lmm.data.image import ImageError
    from llava_lmm.eval import generate_answers

    model, tok, proc, _ = load_model(model_dir)
    with pytest.raises(ImageError, match="broken.png"):  # the in-process API (demo) stays strict
        generate_answers(model, tok, proc, load_questions(q), images, max_new_tokens=4)


def test_sqa_and_mmbench_question_files(tmp_path):
    recs = [{"id": "5", "image": "5/image.png", "conversations": [
        {"from": "human", "value": "Context: A.\nQuestion: Which?\nOptions: (A) x (B) y\n<image>"},
        {"from": "gpt", "value": "The answer is A."}]},
            {"id": "6", "conversations": [{"from": "human", "value": "Question: Which?\nOptions: (A) x (B) y"},
                                          {"from": "gpt", "value": "B"}]}]
    (tmp_path / "llava_test_CQM-A.json").write_text(json.dumps(recs))
    q = load_questions(tmp_path / "llava_test_CQM-A.json", single_pred_prompt=True)
    body = "Context: A.\nQuestion: Which?\nOptions: (A) x (B) y"
    assert q[0]["question_id"] == "5" and q[0]["image"] == "5/image.png"
    assert q[0]["text"] == body + SQA_SUFFIX and q[0]["prompt"] == "<image>\n" + body + SQA_SUFFIX
    assert q[1]["image"] is None and q[1]["prompt"] == q[1]["text"] == "Question: Which?\nOptions: (A) x (B) y" \
        + SQA_SUFFIX
    pytest.importorskip("pandas")
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    (tmp_path / "mmbench_dev_cn_20231003.tsv").write_text(
        "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n"
        f"3\tWhat is shown?\tLook.\tcat\tdog\tbird\t\tA\tobject\t{b64}\tsrc\tl2\t\tdev\n"
        f"4\tWhich colour?\t\tred\tNone\tgreen\tpink\tA\tattr\t{b64}\tsrc\tl2\t\tdev\n")
    mm = load_questions(tmp_path / "mmbench_dev_cn_20231003.tsv", single_pred_prompt=True, lang="cn")
    assert mm[0]["question_id"] == 3 and mm[0]["prompt"] == "Look.\nWhat is shown?\nA. cat\nB. dog\nC. bird"
    assert mm[0]["text"] == mm[0]["prompt"] + "\n请直接回答选项字母。"
    assert mm[0]["extra"] == {"round_id": 0, "options": ["cat", "dog", "bird"], "option_char": ["A", "B", "C"]}
    assert mm[1]["prompt"] == "Which colour?\nA. red"  # options stop at the first empty one ("None")
    from llava_lmm.eval import _load_question_image

    assert _load_question_image(mm[0], None).getpixel((0, 0)) == (1, 2, 3)


# One line of each benchmark's question file as LLaVA's eval.zip ships it (docs/Evaluation.md; scripts/v1_5/eval)
SHIPPED_JSONL = {
    "gqa/llava_gqa_testdev_balanced.jsonl": {"question_id": "20968156", "image": "n161313.jpg", "text":
        "Is the sky dark?\nAnswer the question using a single word or phrase."},
    "vqav2/llava_vqav2_mscoco_test-dev2015.jsonl": {"question_id": 262144000, "image": "COCO_test2015_000000262144.jpg",
                                                    "text": "Is the ball flying towards the batter?\nAnswer the "
                                                    "question using a single word or phrase.", "category": "default"},
    "vizwiz/llava_test.jsonl": {"question_id": 0, "image": "VizWiz_test_00000000.jpg", "text": "What is this?\nWhen "
                                "the provided information is insufficient, respond with 'Unanswerable'.\nAnswer the "
                                "question using a single word or phrase."},
    "textvqa/llava_textvqa_val_v051_ocr.jsonl": {"question_id": 34602, "image": "003a8ae2ef43b901.jpg", "text":
        "what is the brand of this camera?\nReference OCR token: nous, les, sommes\nAnswer the question using a "
        "single word or phrase."},
    "pope/llava_pope_test.jsonl": {"question_id": 1, "image": "COCO_val2014_000000310196.jpg", "text":
        "Is there a snowboard in the image?", "category": "adversarial"},
    "MME/llava_mme.jsonl": {"question_id": "code_reasoning/0020.png", "image": "code_reasoning/0020.png", "text":
        "The image shows a python code. Is the output of the code 'Hello'? Please answer yes or no.",
        "category": "code_reasoning"},
    "seed_bench/llava-seed-bench.jsonl": {"image": "SEED-Bench-image/1454426_2591111986.jpg", "text": "How many "
        "towels are in the image?\nA. One\nB. Two\nC. Three\nD. Four\nAnswer with the option's letter from the given "
        "choices directly.", "category": "Instance Counting", "question_id": "101669"},
    "llava-bench-in-the-wild/questions.jsonl": {"question_id": 0, "image": "001.jpg", "text": "What is the name of "
                                                "this famous sight in the photo?", "category": "conv"},
    "mm-vet/llava-mm-vet.jsonl": {"question_id": 0, "image": "v1_0.png", "text": "What is x in the equation?"},
}


@pytest.mark.parametrize("name", sorted(SHIPPED_JSONL))
def test_shipped_jsonl_question_files(tmp_path, name):
    from llava_lmm.eval import question_format

    p = tmp_path / name
    p.parent.mkdir(parents=True)
    row = SHIPPED_JSONL[name]
    p.write_text(json.dumps(row) + "\n" + json.dumps(dict(row, question_id=7)) + "\n")
    assert question_format(p) == "jsonl"
    q = load_questions(p)
    assert [x["question_id"] for x in q] == [row["question_id"], 7]
    assert q[0]["prompt"] == row["text"] and q[0]["image"] == row["image"]


@pytest.mark.parametrize("indent", [None, 2])
def test_scienceqa_json_list_read_by_content(tmp_path, indent):
    """llava_test_CQM-A.json is a json list (json.load in model_vqa_science), compact or indented; the content
    decides, not the suffix."""
    from llava_lmm.eval import question_format

    recs = [{"id": "4", "conversations": [{"from": "human", "value": "Question: Which?\nOptions: (A) a (B) b"},
                                          {"from": "gpt", "value": "A"}]},
            {"id": "5", "image": "5/image.png", "conversations": [{"from": "human", "value": "<image>\nWhich?"},
                                                                 {"from": "gpt", "value": "B"}]}]
    for name in ("llava_test_CQM-A.json", "renamed.jsonl"):
        (tmp_path / name).write_text(json.dumps(recs, indent=indent))
        assert question_format(tmp_path / name) == "sqa"
        q = load_questions(tmp_path / name)
        assert [x["question_id"] for x in q] == ["4", "5"] and q[1]["prompt"] == "<image>\nWhich?"
    (tmp_path / "lines.json").write_text(json.dumps(SHIPPED_JSONL["mm-vet/llava-mm-vet.jsonl"]) + "\n")
    assert question_format(tmp_path / "lines.json") == "jsonl"  # jsonl content named .json


@pytest.mark.parametrize("content,msg", [
    ("", "is empty"),
    (json.dumps({"questions": [{"question_id": "1"}]}, indent=2), "one json object over several lines"),  # SEED-Bench.json
    (json.dumps({"20968156": {"question": "Is the sky dark?", "imageId": "n161313"}}),  # GQA questions json
     "without 'question_id'"),
    ("question_id,image,text\n1,a.jpg,hi\n", "starts with 'question_id,image,text'"),
    (json.dumps([{"question_id": 1, "text": "hi"}]), "record 0: needs 'id' and 'conversations'"),  # a list of jsonl rows
    (json.dumps({"question_id": 1, "image": "a.jpg"}) + "\n", "line 1: needs 'question_id' and a string 'text'"),
])
def test_other_files_are_refused_with_one_clear_line(tmp_path, capsys, content, msg):
    p = tmp_path / "questions.json"
    p.write_text(content)
    with pytest.raises(ValueError, match=msg):
        load_questions(p)
    rc = eval_main(["answer", "--model", str(tmp_path / "no_model"), "--questions", str(p), "--out",
                    str(tmp_path / "a.jsonl")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and str(p) in err and "Traceback" not in err
