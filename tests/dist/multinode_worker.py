"""Run by test_multinode.py: under two torchrun "nodes" (gloo, CPU) or as one plain process (the reference).

    multinode_worker.py TASK WORLD_DIR RUN_DIR REPORT_DIR BATCH_PER_PROCESS STEPS

Trains TASK (fvit | fcclip | llava) on the synthetic world and writes ``REPORT_DIR/rank<R>.json``: the digest of
the optimised parameters after every AdamW step, and every file this process created or replaced inside RUN_DIR
(seen through Python's audit hooks and
wrappers of ``torch.save`` / ``safetensors.torch.save_file``); ``REPORT_DIR/params<R>.pt``: the optimised parameters at the end.
"""
import json
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "fvit_detection"), str(TESTS / "fcclip_segmentation")]

from torchrun_helpers import RECORD_ADAMW_DIGESTS  # noqa: E402

exec(RECORD_ADAMW_DIGESTS)  # defines `digests`, filled by every AdamW step
import torch  # noqa: E402

task, world_dir, run_dir, report_dir = sys.argv[1:5]
batch, steps = sys.argv[5], sys.argv[6]
run_dir, report_dir = os.path.abspath(run_dir), Path(report_dir)
rank = int(os.environ.get("RANK", "0"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
written: set[str] = set()


def _record(path) -> None:
    if isinstance(path, (str, bytes, os.PathLike)):
        p = os.path.abspath(os.fsdecode(path))
        if p.startswith(run_dir + os.sep):
            written.add(os.path.relpath(p, run_dir))


def _audit(event, args):
    if event == "open" and isinstance(args[2], int) and args[2] & WRITE_FLAGS:
        _record(args[0])
    elif event == "os.rename":  # os.rename and os.replace
        _record(args[1])


sys.addaudithook(_audit)


def _recording(fn, path_arg):
    """``fn`` that also records the file it writes (torch / safetensors write from C++ / Rust, unseen by audit)."""
    def wrapper(*a, **k):
        _record(a[path_arg] if len(a) > path_arg else k.get("f", k.get("filename")))
        return fn(*a, **k)
    return wrapper


import safetensors.torch  # noqa: E402

torch.save = _recording(torch.save, 1)
safetensors.torch.save_file = _recording(safetensors.torch.save_file, 1)

last = {}
_step = torch.optim.AdamW.step


def _keep_params(self, *a, **k):
    out = _step(self, *a, **k)
    last["params"] = [p.detach().clone() for g in self.param_groups for p in g["params"]]
    return out


torch.optim.AdamW.step = _keep_params

from shared.synthetic import WorldPaths  # noqa: E402

world = WorldPaths.from_dir(world_dir)
text_cache = f"text_cache={report_dir / 'text_cache'}"  # a shared cache, not a run output
if task == "fvit":
    from fvit_helpers import make_config
    from fvit_detection.train import train

    train(make_config(world, run_dir, f"train.max_steps={steps}", f"train.batch_size={batch}", "train.sync_bn=false",
                      "train.ckpt_every=1", "train.log_every=1", "eval.max_images=2", text_cache))
elif task == "fcclip":
    from fcclip_helpers import make_config
    from fcclip_segmentation.train import train

    train(make_config(world, run_dir, f"train.max_steps={steps}", f"train.batch_size={batch}", "train.ckpt_every=1",
                      "train.log_every=1", "eval.max_images=2", "eval.tasks=[semantic]", text_cache))
elif task == "llava":
    import llava_lmm.train as T
    from llava_lmm.config import parse_args

    ddp = ["--ddp_backend", "gloo", "--ddp_find_unused_parameters", "true"] if "WORLD_SIZE" in os.environ else []
    T.train(*parse_args([
        "--config", str(Path(T.__file__).parent / "configs" / "synthetic_tiny_stage2.yaml"),
        "--model_name_or_path", "tiny", "--data_path", str(world.llava_instruct_train),
        "--image_folder", str(world.images), "--output_dir", run_dir, "--max_steps", steps,
        "--per_device_train_batch_size", batch, "--save_strategy", "steps", "--save_steps", "1", "--logging_steps", "1",
        "--report_to", "tensorboard", *ddp]))
else:
    raise SystemExit(f"unknown task {task!r}")

(report_dir / f"rank{rank}.json").write_text(json.dumps({"digests": digests, "written": sorted(written)}))
torch.save(last["params"], report_dir / f"params{rank}.pt")
