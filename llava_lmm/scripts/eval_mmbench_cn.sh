#!/usr/bin/env bash
# MMBench-CN dev: answers (Chinese letter instruction) -> upload xlsx for the OpenCompass server.
source "$(dirname "$0")/eval_common.sh"
SPLIT=mmbench_dev_cn_20231003
E=$EVAL/mmbench_cn
answer --questions $E/$SPLIT.tsv --single-pred-prompt --lang cn --max-new-tokens 1024 \
    --out $E/answers/$SPLIT/$CKPT.jsonl
score --task mmbench_cn --answers $E/answers/$SPLIT/$CKPT.jsonl --questions $E/$SPLIT.tsv \
    --submission $E/answers_upload/$SPLIT/$CKPT.xlsx
