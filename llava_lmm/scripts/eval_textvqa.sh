#!/usr/bin/env bash
# TextVQA val: local accuracy.
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/textvqa
answer --questions $E/llava_textvqa_val_v051_ocr.jsonl --image-folder $E/train_images --out $E/answers/$CKPT.jsonl
score --task textvqa --answers $E/answers/$CKPT.jsonl --annotations $E/TextVQA_0.5.1_val.json \
    --out $E/answers/${CKPT}_score.json
