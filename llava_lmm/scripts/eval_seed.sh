#!/usr/bin/env bash
# SEED-Bench (video questions on their middle frame, as LLaVA's llava-seed-bench.jsonl): local accuracy
# (total, image, video, per type) and the upload jsonl.
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/seed_bench
answer --questions $E/llava-seed-bench.jsonl --image-folder $E --out $E/answers/$CKPT/merge.jsonl
score --task seed --answers $E/answers/$CKPT/merge.jsonl --annotations $E/SEED-Bench.json \
    --submission $E/answers_upload/$CKPT.jsonl --out $E/answers/$CKPT/score.json
