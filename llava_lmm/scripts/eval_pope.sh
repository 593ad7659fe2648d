#!/usr/bin/env bash
# POPE (adversarial / popular / random on COCO val2014): local per-category scores; the paper reports F1.
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/pope
answer --questions $E/llava_pope_test.jsonl --image-folder $E/val2014 --out $E/answers/$CKPT.jsonl
score --task pope --answers $E/answers/$CKPT.jsonl --questions $E/llava_pope_test.jsonl --annotations $E/coco \
    --out $E/answers/${CKPT}_score.json
