"""Launch a Python script under ``torch.distributed.run`` on CPU (gloo) for the multi-process tests."""
import os
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


def torchrun(script: str | Path, workdir: Path, *args: str, nproc: int = 2, timeout: int = 600, **env: str) -> None:
    """Run a script on ``nproc`` processes from the repo root: ``script`` is a file, or source text written to
    ``workdir/run.py``. ``--standalone``: torchrun picks a free rendezvous port itself; one thread per process.
    A failing rank fails the call with the tail of its output."""
    if not isinstance(script, Path):
        path = Path(workdir) / "run.py"
        path.write_text(script)
        script = path
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                        str(script), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **env})
    assert r.returncode == 0, f"torchrun exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
