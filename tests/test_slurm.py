"""The Slurm launchers in scripts/slurm/, run by bash with fake ``srun`` / ``scontrol`` on a 2-node allocation: the
torchrun line they would start (c10d rendezvous on the first node, 8 processes per node, one agent per node) and
the training command behind it, whose module exists and whose config + arguments load."""
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[1]
SLURM = REPO / "scripts" / "slurm"
FAKE_SRUN = '#!/bin/bash\nprintf "%s\\n" "$@" > "$FAKE_SRUN_ARGS"\n'
FAKE_SCONTROL = '#!/bin/bash\n[ "$1 $2" = "show hostnames" ] && printf "gpu-a17\\ngpu-b03\\n"\n'


def _launch(tmp_path, script, *args, **env):
    """Run ``script`` as sbatch would on 2 nodes; the argv srun received, or the CompletedProcess if it failed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    out = tmp_path / "srun_args"
    r = subprocess.run(["bash", str(SLURM / script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_SUBMIT_DIR": str(REPO),
                            "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "gpu-[a17,b03]", "SLURM_JOB_ID": "4242",
                            "FAKE_SRUN_ARGS": str(out), **env})
    return out.read_text().splitlines() if r.returncode == 0 else r


def _sbatch_directives(script):
    return dict(line[len("#SBATCH --"):].split("=", 1) for line in (SLURM / script).read_text().splitlines()
                if line.startswith("#SBATCH --"))


SCRIPTS = {"fvit_ov_lvis.sbatch": "fvit_detection.train", "fcclip_coco.sbatch": "fcclip_segmentation.train",
           "llava_stage1.sbatch": "llava_lmm.train", "llava_stage2.sbatch": "llava_lmm.train"}


def test_every_script_is_listed():
    assert sorted(p.name for p in SLURM.glob("*.sbatch")) == sorted(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_launch_line(script, tmp_path):
    d = _sbatch_directives(script)
    assert d["ntasks-per-node"] == "1" and d["gpus-per-node"] == "8"  # one torchrun agent per node, 8 GPUs each
    extra = ["train.max_steps=10"] if "llava" not in script else ["--max_steps", "10"]
    argv = _launch(tmp_path, script, *extra)
    assert isinstance(argv, list), argv.stderr
    srun_opts, cmd = argv[:argv.index(".venv/bin/python")], argv[argv.index(".venv/bin/python") + 1:]
    assert "--kill-on-bad-exit=1" in srun_opts
    assert cmd[:2] == ["-m", "torch.distributed.run"]
    opts = dict(zip(cmd[2:14:2], cmd[3:14:2]))
    assert opts == {"--nnodes": "2", "--nproc_per_node": "8", "--rdzv_backend": "c10d",
                    "--rdzv_endpoint": "gpu-a17:29500", "--rdzv_id": "4242", "-m": SCRIPTS[script]}
    assert importlib.util.find_spec(SCRIPTS[script]) is not None
    train_args = cmd[14:]
    assert train_args[0] == "--config" and (REPO / train_args[1]).is_file()
    assert train_args[-len(extra):] == extra  # the user's arguments reach the training command last
    if "llava" in script:
        _check_llava_args(train_args, tmp_path)
    else:
        from shared.engine import load_config
        from fcclip_segmentation.config import FCCLIPConfig
        from fvit_detection.config import FViTConfig

        schema = FViTConfig if "fvit" in script else FCCLIPConfig
        cfg = load_config(schema, REPO / train_args[1], train_args[2:])
        assert cfg.train.max_steps == 10 and cfg.train.base_batch_size  # the engine scales the LR from it


def _check_llava_args(train_args, tmp_path):
    """The paper's global batch kept on 16 GPUs (per-device = global / 16); every flag known to the parser."""
    import importlib.util as iu

    from llava_lmm.config import parse_args

    values = yaml.safe_load((REPO / train_args[1]).read_text())
    stage1 = values["stage"] == "stage1"
    global_batch = 256 if stage1 else 128  # LLaVA-1.5: 8 GPUs × 32 (stage 1), 8 × 16 (stage 2)
    assert values["per_device_train_batch_size"] * 8 == global_batch
    if iu.find_spec("deepspeed") is None:
        values.pop("deepspeed", None)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(values))
    (tmp_path / "data.json").write_text("[]")
    m, d, t = parse_args(["--config", str(tmp_path / "cfg.yaml"), *train_args[2:], "--output_dir", str(tmp_path),
                          "--bf16", "False", "--tf32", "False", "--data_path", str(tmp_path / "data.json")])
    assert t.per_device_train_batch_size * 16 == global_batch and t.max_steps == 10


def test_llava_refuses_a_global_batch_the_gpus_do_not_divide(tmp_path):
    r = _launch(tmp_path, "llava_stage2.sbatch", GLOBAL_BATCH="100")
    assert not isinstance(r, list) and r.returncode == 2 and "not a multiple of 16 GPUs" in r.stderr
    assert not (tmp_path / "srun_args").exists()  # nothing launched
