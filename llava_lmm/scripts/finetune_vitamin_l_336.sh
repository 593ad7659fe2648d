#!/usr/bin/env bash
# Stage 2 (visual instruction tuning, full LLM + projector) — mix665k, 8 GPUs (global batch 128), ZeRO-3.
# Needs stage 1's mm_projector.bin (see the YAML). LoRA variant: MODE=lora.
set -euo pipefail
CFG=llava_lmm/configs/stage2_${MODE:-full}_vitamin_l_336_vicuna7b.yaml
torchrun --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "${GPUS:-8}" \
    --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
    -m llava_lmm.train --config "$CFG" "$@"
