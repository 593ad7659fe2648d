#!/usr/bin/env bash
# TextVQA val (LLaVA eval.zip layout under ./playground/data/eval): answers on all GPUs, merge, score locally.
set -euo pipefail
MODEL=${1:-./checkpoints/llava-v1.5-7b-vitamin-l-336}
E=./playground/data/eval/textvqa
torchrun --nproc_per_node "${GPUS:-8}" -m llava_lmm.eval answer --model "$MODEL" \
    --questions $E/llava_textvqa_val_v051_ocr.jsonl --image-folder $E/train_images --out $E/answers/merge.jsonl
python -m llava_lmm.eval score --task textvqa --answers $E/answers/merge.jsonl --annotations $E/TextVQA_0.5.1_val.json
