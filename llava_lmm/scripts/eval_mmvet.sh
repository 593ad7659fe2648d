#!/usr/bin/env bash
# MM-Vet: answers -> results json for the official MM-Vet GPT-4 grader (not scored here).
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/mm-vet
answer --questions $E/llava-mm-vet.jsonl --image-folder $E/images --max-new-tokens 1024 --out $E/answers/$CKPT.jsonl
score --task mmvet --answers $E/answers/$CKPT.jsonl --submission $E/results/$CKPT.json
