"""Launch a Python script under ``torch.distributed.run`` on CPU (gloo) for the multi-process tests."""
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]

# Prelude for scripts: records a digest of every parameter the optimizer holds after each AdamW step, in `digests`.
RECORD_ADAMW_DIGESTS = '''
import hashlib
import torch
digests = []
_adamw_step = torch.optim.AdamW.step
def _recording_step(self, *a, **k):
    out = _adamw_step(self, *a, **k)
    h = hashlib.sha256()
    for g in self.param_groups:
        for p in g["params"]:
            h.update(p.detach().numpy().tobytes())
    digests.append(h.hexdigest())
    return out
torch.optim.AdamW.step = _recording_step
'''


def torchrun(script: str, workdir: Path, nproc: int = 2, timeout: int = 600, **env: str) -> None:
    """Write ``script`` to ``workdir/run.py`` and run it on ``nproc`` processes from the repo root (free port,
    one thread per process); a failing rank fails the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = Path(workdir) / "run.py"
    path.write_text(script)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
                    str(port), str(path)], check=True, timeout=timeout, cwd=REPO,
                   env={**os.environ, "OMP_NUM_THREADS": "1", **env})
