# Sourced by the eval_*.sh scripts: paths as LLaVA's eval guide (docs/Evaluation.md) lays out ./playground/data/eval.
# Usage of every script: bash llava_lmm/scripts/eval_<benchmark>.sh [MODEL_DIR]   (env: GPUS, BATCH)
# Answers are appended as they are made; rerunning a script after a crash continues where it stopped.
set -euo pipefail
MODEL=${1:-./checkpoints/llava-v1.5-7b-vitamin-l-336}
CKPT=$(basename "$MODEL")
EVAL=./playground/data/eval
# BATCH=1 is the reference's setting (batched greedy decoding with left padding can differ in the last bits)
answer() {  # answer --questions Q --image-folder I --out O [more eval-answer flags]
    torchrun --standalone --nproc_per_node "${GPUS:-8}" -m llava_lmm.eval answer --model "$MODEL" \
        --batch-size "${BATCH:-1}" --temperature 0 "$@"
}
score() { python -m llava_lmm.eval score "$@"; }
