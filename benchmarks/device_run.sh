#!/usr/bin/env bash
# The GPU suite on a lent device machine, as one prepared command. That machine's image has python3 with torch,
# transformers, timm, accelerate, peft, scipy, but not open_clip_torch / ftfy / wcwidth / pycocotools, and cannot
# download: carry them as wheels (Python 3.12, x86-64 there). Writes gpu_suite.json, its log and the versions to $OUT.
#
#   here, once:  echo .device_wheels/ >> .git/info/exclude
#                python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                    --platform manylinux2014_x86_64 -d .device_wheels open_clip_torch==3.3.0 ftfy wcwidth pycocotools
#   device run:  command "bash benchmarks/device_run.sh", carry [".device_wheels"], timeout_s 560
set -euo pipefail
OUT=${OUT:-outputs/bench}
mkdir -p "$OUT"
SITE=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --target "$SITE" .device_wheels/*.whl
export PYTHONPATH="$PWD:$SITE" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, transformers, timm, accelerate; print('torch', torch.__version__, 'transformers',
transformers.__version__, 'timm', timm.__version__, 'accelerate', accelerate.__version__)"; } | tee "$OUT/versions.txt"
# inside the call's limit: the json is rewritten after every section, so a cut run keeps what it measured
timeout 500 python3 benchmarks/gpu_suite.py --out "$OUT/gpu_suite.json" 2>&1 | tee "$OUT/gpu_suite.log"
