"""Run by test_train.py under torchrun (2 processes, gloo, CPU): train 3 steps, dump parameter hashes per rank."""
import hashlib
import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def digest(model):
    h = hashlib.sha256()
    for n, p in sorted(model.named_parameters()):
        if p.requires_grad:
            h.update(n.encode())
            h.update(p.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def main():
    world_root, base_lm, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    from shared.synthetic import WorldPaths

    import llava_lmm.train as T
    from llava_lmm.config import parse_args

    w = WorldPaths.from_dir(world_root)
    m, d, t = parse_args(["--config", str(Path(T.__file__).parent / "configs" / "synthetic_tiny_stage2.yaml"),
                          "--model_name_or_path", base_lm, "--data_path", str(w.llava_instruct_train),
                          "--image_folder", str(w.images), "--output_dir", str(out / "run"), "--max_steps", "3",
                          "--per_device_train_batch_size", "4", "--ddp_backend", "gloo",
                          "--ddp_find_unused_parameters", "true"])
    seen = {}
    orig = T.LlavaTrainer.train

    def patched(self, *a, **k):
        seen["before"] = digest(self.model)
        r = orig(self, *a, **k)
        seen["after"] = digest(self.model)
        seen["steps"] = self.state.global_step
        seen["world_size"] = self.args.world_size
        seen["rank"] = self.args.process_index
        return r

    T.LlavaTrainer.train = patched
    T.train(m, d, t)
    (out / f"rank{seen['rank']}.json").write_text(json.dumps(
        {"params": seen["after"], "params_before": seen["before"], "steps": seen["steps"],
         "world_size": seen["world_size"]}))


if __name__ == "__main__":
    main()
