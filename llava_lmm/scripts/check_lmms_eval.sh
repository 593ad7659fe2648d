#!/usr/bin/env bash
# lmms-eval's stock llava_hf on one of our LLaVA folders, against llava_lmm.eval (issue #21):
#
#   bash llava_lmm/scripts/check_lmms_eval.sh [MODEL_DIR]     # default: outputs/demo/llava_lmm/stage2 (trained if missing)
#
# 1. a venv of its own, outputs/lmms_eval_check/venv (git-ignored; reused when present): lmms-eval==0.7.3 + decord
#    + this repo (pip install -e ".[lmms-eval]": its lmms_eval.models entry point makes lmms-eval's processes
#    import llava_lmm, which registers the ViTamin tower with transformers). torch, torchvision and their CUDA
#    wheels are not downloaded: they are linked from BASE_PYTHON's site-packages (default .venv/bin/python, then
#    python3.11), the torch on this machine's disk; pip's torch cap stays as it is.
# 2. llava_lmm/scripts/lmms_eval_check.py in that venv: the synthetic world's 120 held-out questions written as the
#    local task llava_lmm/lmms_eval_tasks/vitamin_world (YAML + outputs/lmms_eval_check/vitamin_world_val.jsonl),
#    `lmms-eval --model llava_hf --model_args pretrained=<copy>,device=cpu --tasks vitamin_world_vqa
#    --include_path llava_lmm/lmms_eval_tasks`, `python -m llava_lmm.eval answer/score` on the same questions; the
#    answers compared one by one and the scores side by side: outputs/lmms_eval_check/report.json.
# Needs PyPI (first run: ~2 minutes of installs). Exit 0 only when answers and scores are identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-outputs/demo/llava_lmm/stage2}
OUT=outputs/lmms_eval_check
VENV=$OUT/venv
LMMS_EVAL_VERSION=0.7.3
if [ -z "${BASE_PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then BASE_PYTHON=.venv/bin/python; else BASE_PYTHON=python3.11; fi
fi
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/python" ]; then
  "$BASE_PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "BASE_PYTHON must be Python 3.11")'
  "$($BASE_PYTHON -c 'import sys; print(sys._base_executable)')" -m venv "$VENV"
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  base_site=$("$BASE_PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
  for name in torch torchgen functorch torchvision torchvision.libs triton nvidia cuda \
      torch-*.dist-info torchvision-*.dist-info triton-*.dist-info nvidia_*.dist-info cuda_*.dist-info; do
    for path in "$base_site"/$name; do
      [ -e "$path" ] && ln -sfn "$path" "$site/$(basename "$path")"
    done
  done
fi
"$VENV/bin/pip" install -q "lmms-eval==$LMMS_EVAL_VERSION" -e ".[lmms-eval]"
"$VENV/bin/python" -c 'import torch, lmms_eval.models, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
"$VENV/bin/python" llava_lmm/scripts/lmms_eval_check.py --model "$MODEL" --out "$OUT"
