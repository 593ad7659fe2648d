#!/usr/bin/env bash
# VizWiz test: answers -> upload json for the EvalAI server.
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/vizwiz
answer --questions $E/llava_test.jsonl --image-folder $E/test --out $E/answers/$CKPT.jsonl
score --task vizwiz --answers $E/answers/$CKPT.jsonl --questions $E/llava_test.jsonl \
    --submission $E/answers_upload/$CKPT.json
