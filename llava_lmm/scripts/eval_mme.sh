#!/usr/bin/env bash
# MME: local official calculation; the paper reports the perception total.
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/MME
answer --questions $E/llava_mme.jsonl --image-folder $E/MME_Benchmark_release_version --out $E/answers/$CKPT.jsonl
score --task mme --answers $E/answers/$CKPT.jsonl --annotations $E/MME_Benchmark_release_version \
    --out $E/answers/${CKPT}_score.json
