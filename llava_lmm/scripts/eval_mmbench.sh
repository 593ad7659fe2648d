#!/usr/bin/env bash
# MMBench dev (en): answers -> upload xlsx for the OpenCompass server. Needs pip install '.[eval]'.
source "$(dirname "$0")/eval_common.sh"
SPLIT=mmbench_dev_20230712
E=$EVAL/mmbench
answer --questions $E/$SPLIT.tsv --single-pred-prompt --max-new-tokens 1024 --out $E/answers/$SPLIT/$CKPT.jsonl
score --task mmbench --answers $E/answers/$SPLIT/$CKPT.jsonl --questions $E/$SPLIT.tsv \
    --submission $E/answers_upload/$SPLIT/$CKPT.xlsx
