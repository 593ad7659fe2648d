#!/usr/bin/env bash
# LLaVA-Bench (in-the-wild): answers in question order for LLaVA's GPT judge (not scored here):
#   python llava/eval/eval_gpt_review_bench.py --question $E/questions.jsonl --context $E/context.jsonl \
#     --rule llava/eval/table/rule.json --answer-list $E/answers_gpt4.jsonl $E/answers_upload/$CKPT.jsonl \
#     --output $E/reviews/$CKPT.jsonl && python llava/eval/summarize_gpt_review.py -f $E/reviews/$CKPT.jsonl
# (the reference judge, gpt-4-0314, is retired: a new judge gives other numbers)
source "$(dirname "$0")/eval_common.sh"
E=$EVAL/llava-bench-in-the-wild
answer --questions $E/questions.jsonl --image-folder $E/images --max-new-tokens 1024 --out $E/answers/$CKPT.jsonl
score --task llavabench --answers $E/answers/$CKPT.jsonl --questions $E/questions.jsonl \
    --submission $E/answers_upload/$CKPT.jsonl
