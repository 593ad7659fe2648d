#!/usr/bin/env bash
# ScienceQA test: local accuracy; the paper reports img_accuracy (SQA-IMG).
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/scienceqa
answer --questions $E/llava_test_CQM-A.json --image-folder $E/images/test --single-pred-prompt \
    --max-new-tokens 1024 --out $E/answers/$CKPT.jsonl
score --task sqa --answers $E/answers/$CKPT.jsonl --annotations $E --out $E/answers/${CKPT}_result.json
