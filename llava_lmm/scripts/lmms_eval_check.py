"""The Python half of ``check_lmms_eval.sh`` (run inside its venv, from the repo root): lmms-eval's stock
``llava_hf`` and ``llava_lmm.eval`` answer the same held-out questions of the synthetic world with the same folder;
the answers are compared one by one and the scores (lmms-eval's own ``exact_match`` with its EvalAI normaliser, our
``eval score --task exact``) side by side. Writes ``<out>/report.json``; exit 1 when anything differs.

    python llava_lmm/scripts/lmms_eval_check.py --model DIR [--world DIR] [--out outputs/lmms_eval_check]

``--model``: a folder of ``llava_lmm.train`` (copied to ``<out>/model``; a folder written before processors existed
gets one there with ``python -m llava_lmm.processor``); missing, the demo's pipeline trains one (stage 1 + stage 2,
a few CPU minutes). ``--world``: the world it was trained on (default: ``<model>/../world``, the demo's layout, else
the demo's world generated into ``<out>/world``).
"""
from __future__ import annotations

import argparse
import glob
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

TASK = "vitamin_world_vqa"
TASKS_DIR = "llava_lmm/lmms_eval_tasks"
DATA_FILE = "vitamin_world_val.jsonl"  # the task YAML's data_files (outputs/lmms_eval_check/…)
MAX_NEW_TOKENS = 8  # the task YAML's generation_kwargs


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` with its output in ``log``; its wall time. A failure prints the log's tail and stops."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        print(log.read_text()[-4000:], file=sys.stderr)
        sys.exit(f"failed ({rc}): {' '.join(cmd)} (log: {log})")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--world")
    p.add_argument("--out", default="outputs/lmms_eval_check")
    a = p.parse_args(argv)
    if Path(a.out).resolve() != Path("outputs/lmms_eval_check").resolve():
        sys.exit(f"--out must be outputs/lmms_eval_check: the task YAML reads {DATA_FILE} there")

    from llava_lmm.demo import qa_pairs
    from llava_lmm.processor import add_processor, processor_aspect
    from shared.synthetic import generate_world
    from shared.synthetic.world import WorldPaths

    out, model_src = Path(a.out), Path(a.model)
    out.mkdir(parents=True, exist_ok=True)
    world = Path(a.world) if a.world else model_src.parent / "world"
    if not model_src.is_dir():  # train one as the demo does (its world, seed 0)
        from llava_lmm.demo import run_pipeline

        print(f"{model_src} missing: training the demo's LLaVA into {out / 'train'}")
        w = generate_world(out / "world", seed=0, num_train=160, num_val=40, image_size=128)
        run_pipeline(w, out / "train", seed=0)
        model_src, world = out / "train" / "stage2", out / "world"
    paths = WorldPaths.from_dir(world) if (world / "world.json").is_file() else \
        generate_world(out / "world", seed=0, num_train=160, num_val=40, image_size=128)
    model = out / "model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(model_src, model, ignore=shutil.ignore_patterns("checkpoint-*", "adapter"))
    had_processor = processor_aspect(model) is not None
    if not had_processor:
        add_processor(model)

    val = qa_pairs(json.loads(Path(paths.llava_instruct_val).read_text()))
    images = Path(paths.images).resolve()
    rows = [{"question_id": i, "image": str(images / im), "question": q, "answer": ans}
            for i, (im, q, ans) in enumerate(val)]
    (out / DATA_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "questions.jsonl").write_text("".join(
        json.dumps({"question_id": r["question_id"], "image": im, "text": r["question"]}) + "\n"
        for r, (im, _, _) in zip(rows, val)))
    (out / "answer_key.jsonl").write_text("".join(
        json.dumps({"question_id": r["question_id"], "answer": r["answer"]}) + "\n" for r in rows))

    py = sys.executable
    ours_file = out / "ours_answers.jsonl"
    ours_file.unlink(missing_ok=True)
    t_ours = run([py, "-m", "llava_lmm.eval", "answer", "--model", str(model), "--questions",
                  str(out / "questions.jsonl"), "--image-folder", str(images), "--out", str(ours_file),
                  "--batch-size", "1", "--max-new-tokens", str(MAX_NEW_TOKENS), "--device", "cpu",
                  "--dtype", "float32"], out / "ours_answer.log")
    run([py, "-m", "llava_lmm.eval", "score", "--task", "exact", "--answers", str(ours_file), "--annotations",
         str(out / "answer_key.jsonl"), "--out", str(out / "ours_score.json")], out / "ours_score.log")
    lmms_out = out / "lmms_eval"
    shutil.rmtree(lmms_out, ignore_errors=True)
    lmms_cmd = [str(Path(py).parent / "lmms-eval"), "--model", "llava_hf", "--model_args",
                f"pretrained={model},device=cpu,device_map=cpu", "--tasks", TASK, "--include_path", TASKS_DIR,
                "--batch_size", "1", "--log_samples", "--output_path", str(lmms_out)]
    t_lmms = run(lmms_cmd, out / "lmms_eval.log")

    found = sorted(glob.glob(str(lmms_out / "**" / "*results*.json"), recursive=True))
    samples_found = sorted(glob.glob(str(lmms_out / "**" / f"*samples_{TASK}*.jsonl"), recursive=True))
    if not found or not samples_found:  # lmms-eval logs an evaluation error and still exits 0
        print((out / "lmms_eval.log").read_text()[-4000:], file=sys.stderr)
        sys.exit(f"lmms-eval wrote no results under {lmms_out} (log: {out / 'lmms_eval.log'})")
    results = json.loads(Path(found[-1]).read_text())
    samples_file = samples_found[-1]
    samples = [json.loads(x) for x in Path(samples_file).read_text().splitlines() if x.strip()]
    lmms_answers = {}
    for s in samples:  # 0.7.3: {"doc_id" (the row's index), "filtered_resps": text, "exact_match", …}
        resp = s["filtered_resps"]
        while isinstance(resp, list):
            resp = resp[0]
        lmms_answers[rows[s["doc_id"]]["question_id"]] = resp
    ours = {r["question_id"]: r["text"] for r in map(json.loads, ours_file.read_text().splitlines())}
    differ = [{"question_id": k, "ours": ours.get(k), "lmms_eval": lmms_answers.get(k)}
              for k in sorted(set(ours) | set(lmms_answers)) if (ours.get(k) or "").strip() !=
              (lmms_answers.get(k) or "").strip()]

    from llava_lmm.metrics import exact_match_score

    key = {r["question_id"]: r["answer"] for r in rows}
    task_metrics = results["results"][TASK]
    lmms_score = next(v for k, v in task_metrics.items() if k.startswith("exact_match") and "stderr" not in k)
    ours_score = json.loads((out / "ours_score.json").read_text())["accuracy"]
    ours_on_lmms = exact_match_score([{"question_id": k, "text": v} for k, v in lmms_answers.items()], key)
    from importlib.metadata import version

    report = {
        "lmms_eval_version": version("lmms-eval"), "transformers_version": version("transformers"),
        "model": str(model_src), "processor_added_by_check": not had_processor, "questions": len(rows),
        "answers_identical": len(rows) - len(differ), "answers_differing": differ[:20],
        "lmms_eval_exact_match": lmms_score, "ours_exact_accuracy": ours_score,
        "ours_scorer_on_lmms_eval_answers": ours_on_lmms["accuracy"],
        "lmms_eval_command": " ".join(lmms_cmd), "seconds": {"ours": round(t_ours, 1), "lmms_eval": round(t_lmms, 1)},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = not differ and len(lmms_answers) == len(rows) and abs(lmms_score - ours_score) < 1e-12 \
        and abs(ours_on_lmms["accuracy"] - ours_score) < 1e-12
    print("OK: identical answers and scores" if ok else "MISMATCH (see report.json)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
