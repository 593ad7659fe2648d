#!/usr/bin/env bash
# Stage 1 (feature alignment) — ViTamin-L-336 + Vicuna-7B-v1.5, LCS-558K, 8 GPUs (global batch 256).
# Multi-node: run on every node with NNODES / NODE_RANK / MASTER_ADDR set (torchrun's standard rendezvous).
set -euo pipefail
torchrun --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "${GPUS:-8}" \
    --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
    -m llava_lmm.train --config llava_lmm/configs/stage1_vitamin_l_336_vicuna7b.yaml "$@"
