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
