#!/usr/bin/env bash
# GQA testdev-balanced: local accuracy (and the predictions json of the official eval.py).
source "$(dirname "$0")/eval_common.sh"
SPLIT=llava_gqa_testdev_balanced
E=$EVAL/gqa
answer --questions $E/$SPLIT.jsonl --image-folder $E/data/images --out $E/answers/$SPLIT/$CKPT/merge.jsonl
score --task gqa --answers $E/answers/$SPLIT/$CKPT/merge.jsonl --annotations $E/data/testdev_balanced_questions.json \
    --submission $E/data/testdev_balanced_predictions.json --out $E/answers/$SPLIT/$CKPT/score.json
