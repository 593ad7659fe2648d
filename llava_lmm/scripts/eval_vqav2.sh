#!/usr/bin/env bash
# VQAv2 test-dev: answers -> upload json for the EvalAI server (VQA accuracy, test-dev).
source "$(dirname "$0")/eval_common.sh"
SPLIT=llava_vqav2_mscoco_test-dev2015
E=$EVAL/vqav2
answer --questions $E/$SPLIT.jsonl --image-folder $E/test2015 --out $E/answers/$SPLIT/$CKPT/merge.jsonl
score --task vqav2 --answers $E/answers/$SPLIT/$CKPT/merge.jsonl --questions $E/llava_vqav2_mscoco_test2015.jsonl \
    --submission $E/answers_upload/$SPLIT/$CKPT.json
