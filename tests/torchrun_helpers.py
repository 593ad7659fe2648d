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


def _script_file(script: str | Path, workdir: Path) -> Path:
    if isinstance(script, Path):
        return script
    path = Path(workdir) / "run.py"
    path.write_text(script)
    return path


def _env(**env: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **env}


def torchrun(script: str | Path, workdir: Path, *args: str, nproc: int = 2, timeout: int = 600, **env: str) -> None:
    """Run a script on ``nproc`` processes from the repo root: ``script`` is a file, or source text written to
    ``workdir/run.py``. ``--standalone``: torchrun picks a free rendezvous port itself; one thread per process.
    A failing rank fails the call with the tail of its output."""
    script = _script_file(script, workdir)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                        str(script), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                       env=_env(**env))
    assert r.returncode == 0, f"torchrun exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_nodes(script: str | Path, workdir: Path, *args: str, nnodes: int = 2, timeout: int = 600,
                   **env: str) -> list[str]:
    """Run a script as ``nnodes`` separate "nodes": one torchrun agent per node, one process each (so every process
    has LOCAL_RANK 0, as on a cluster), meeting through a c10d rendezvous on 127.0.0.1 — the multi-node launch
    line. The first agent hosts the rendezvous store; a port taken between choosing it and binding it is retried
    with another. Returns each node's output (stdout + stderr); a failing node fails the call with the tail of every
    node's output."""
    script = _script_file(script, workdir)
    for attempt in range(3):
        port = _free_port()
        procs = [subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc_per_node", "1",
             "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", f"test-{port}",
             "--rdzv_conf", f"is_host={int(node == 0)},join_timeout=120", "--max_restarts", "0", str(script), *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(**env))
            for node in range(nnodes)]
        try:
            outs = [p.communicate(timeout=timeout)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        codes = [p.returncode for p in procs]
        if all(c == 0 for c in codes):
            return outs
        if attempt < 2 and "address already in use" in outs[0].lower():
            continue
        break
    report = "\n".join(f"--- node {i} exited {c}:\n{o[-3000:]}" for i, (c, o) in enumerate(zip(codes, outs)))
    raise AssertionError(f"multi-node torchrun failed:\n{report}")
