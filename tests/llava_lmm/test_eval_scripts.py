"""Every benchmark script calls ``eval answer`` / ``eval score`` with flags our parser takes, the inputs its task
needs, and LLaVA's ./playground/data/eval paths (torchrun and python replaced by recorders)."""
import shlex
import subprocess
from pathlib import Path

import pytest

from llava_lmm.eval import SCORE_TASKS, build_parser

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "llava_lmm" / "scripts").glob("eval_*.sh"))
SCRIPTS = [s for s in SCRIPTS if s.name != "eval_common.sh"]
TASKS = {"eval_vqav2": "vqav2", "eval_gqa": "gqa", "eval_vizwiz": "vizwiz", "eval_sqa": "sqa",
         "eval_textvqa": "textvqa", "eval_pope": "pope", "eval_mme": "mme", "eval_mmbench": "mmbench",
         "eval_mmbench_cn": "mmbench_cn", "eval_seed": "seed", "eval_llavabench": "llavabench",
         "eval_mmvet": "mmvet"}


def test_one_script_per_benchmark():
    assert sorted(s.stem for s in SCRIPTS) == sorted(TASKS)  # the 12 benchmarks of the paper's LLaVA table


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.stem)
def test_script_calls(script, tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name in ("torchrun", "python"):
        (bin_ / name).write_text(f'#!/usr/bin/env bash\nprintf "%q " {name} "$@" >> {tmp_path}/calls\necho >> '
                                 f'{tmp_path}/calls\n')
        (bin_ / name).chmod(0o755)
    subprocess.run(["bash", str(script), "./checkpoints/my-model"], check=True, cwd=tmp_path, timeout=30,
                   env={"PATH": f"{bin_}:/usr/bin:/bin", "GPUS": "2"})
    calls = [shlex.split(x) for x in (tmp_path / "calls").read_text().splitlines()]
    assert [c[0] for c in calls] == ["torchrun", "python"]
    answer = calls[0][calls[0].index("llava_lmm.eval") + 1:]
    score = calls[1][calls[1].index("llava_lmm.eval") + 1:]
    a, s = build_parser().parse_args(answer), build_parser().parse_args(score)
    assert a.cmd == "answer" and a.model == "./checkpoints/my-model" and "--nproc_per_node" in calls[0]
    assert a.questions.startswith("./playground/data/eval/") and a.out.startswith("./playground/data/eval/")
    assert s.cmd == "score" and s.task == TASKS[script.stem] and s.answers == a.out
    for flag, spec in zip(("annotations", "questions", "submission"), SCORE_TASKS[s.task]):
        if spec and spec.startswith("!"):
            assert getattr(s, flag), f"{script.name}: --task {s.task} needs --{flag}"
    if s.questions:
        assert s.questions.startswith("./playground/data/eval/")
    if s.task in ("sqa", "mmbench", "mmbench_cn"):
        assert a.single_pred_prompt and a.max_new_tokens == 1024
    assert a.lang == ("cn" if s.task == "mmbench_cn" else "en")
