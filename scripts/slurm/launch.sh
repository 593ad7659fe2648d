# Sourced by the sbatch files here (submit from the repository root: sbatch --nodes N scripts/slurm/<task>.sbatch).
# Defines `launch ARGS...`: one torchrun agent per node (srun, one task per node), GPUS_PER_NODE processes each,
# meeting through a c10d rendezvous on the first node of the allocation; ARGS go to torchrun (`-m module ...`).
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
PYTHON=${PYTHON:-.venv/bin/python}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
NNODES=${SLURM_JOB_NUM_NODES:-1}
WORLD_SIZE=$((NNODES * GPUS_PER_NODE))
# the whole list is read (`| head -n 1` would end scontrol with SIGPIPE, which pipefail turns into an exit)
mapfile -t NODES < <(scontrol show hostnames "${SLURM_JOB_NODELIST:-}")
HEAD_NODE=${NODES[0]:-}
if [[ -z "$HEAD_NODE" ]]; then
    echo "scontrol gave no host names for SLURM_JOB_NODELIST='${SLURM_JOB_NODELIST:-}' (run this under sbatch)" >&2
    exit 2
fi
RDZV_PORT=${RDZV_PORT:-29500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}

launch() {
    echo "job ${SLURM_JOB_ID:-?}: ${NNODES} node(s) x ${GPUS_PER_NODE} GPUs = ${WORLD_SIZE} processes, rendezvous ${HEAD_NODE}:${RDZV_PORT}"
    # --kill-on-bad-exit: a node that dies ends the job instead of leaving the others waiting in a collective.
    # Slurm's SIGTERM at the time limit reaches the training processes through torchrun; the engine finishes the
    # step, writes last.pt and exits 143 — submitting the same command again resumes.
    srun --kill-on-bad-exit=1 --ntasks-per-node=1 \
        "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --nproc_per_node "$GPUS_PER_NODE" \
        --rdzv_backend c10d --rdzv_endpoint "${HEAD_NODE}:${RDZV_PORT}" --rdzv_id "${SLURM_JOB_ID:-local}" \
        "$@"
}
