"""Run by test_fsdp2.py under torchrun (2 processes, gloo, CPU). The HF Trainer enables FSDP only on accelerators,
so this applies what ``configs/fsdp2.json`` asks for by hand — ``fully_shard`` on every class named in
``transformer_layer_cls_to_wrap``, then on the root — to the tiny stage-2 LLaVA (frozen tower, trained LM and
projector), takes the optimizer from ``LlavaTrainer.create_optimizer`` (projector LR group by name) and trains 2
steps, both ranks on the same batch. Rank 0 then trains an unsharded copy the same way and writes the largest
difference of the gathered full weights to ``OUT/result.json``."""
import json
import sys
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

import llava_lmm.train as T
from llava_lmm.config import parse_args
from llava_lmm.data.dataset import DataCollator, LazySupervisedDataset
from llava_lmm.data.image import make_image_processor
from llava_lmm.modeling.builder import set_trainable
from shared.synthetic import WorldPaths

warnings.filterwarnings("ignore")
CONFIGS = Path(T.__file__).parent / "configs"
PROJECTOR_LR = 3e-4


def setup(world, out):
    m, d, t = parse_args(["--config", str(CONFIGS / "synthetic_tiny_stage2.yaml"), "--model_name_or_path", "tiny",
                          "--data_path", str(world.llava_instruct_train), "--image_folder", str(world.images),
                          "--output_dir", str(out), "--mm_projector_lr", str(PROJECTOR_LR)])
    torch.manual_seed(t.seed)
    tok = T.build_tokenizer(m, d, t.model_max_length)
    model = T.build_model(m, tok)
    set_trainable(model, m.stage)
    vcfg = model.config.vision_config
    ds = LazySupervisedDataset(d.data_path, tok, make_image_processor(vcfg.image_size, vcfg.image_mean, vcfg.image_std),
                               d.image_folder, d.template, d.image_aspect_ratio,
                               num_image_tokens=vcfg.num_image_tokens, model_max_length=t.model_max_length)
    batches = [DataCollator(tok.pad_token_id, t.model_max_length)([ds[i] for i in range(k * 4, k * 4 + 4)])
               for k in range(2)]
    return model, ds, t, m, batches


def train(model, ds, t, m, batches):
    opt = T.LlavaTrainer(model=model, args=t, train_dataset=ds, mm_projector_lr=m.mm_projector_lr).create_optimizer()
    model.train()
    for b in batches:
        model(**b).loss.backward()
        opt.step()
        opt.zero_grad()
    return opt


def main():
    world, out = WorldPaths.from_dir(sys.argv[1]), Path(sys.argv[2])
    dist.init_process_group("gloo")
    model, ds, t, m, batches = setup(world, out)
    wrap = set(json.loads((CONFIGS / "fsdp2.json").read_text())["transformer_layer_cls_to_wrap"])
    layers = [mod for mod in model.modules() if type(mod).__name__ in wrap]
    for mod in layers:
        fully_shard(mod)
    fully_shard(model)
    opt = train(model, ds, t, m, batches)
    proj = [g for g in opt.param_groups if g["lr"] == PROJECTOR_LR]
    names = {id(p): n for n, p in model.named_parameters()}
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() == 0:
        ref_model, *rest = setup(world, out)
        train(ref_model, *rest)
        ref = ref_model.state_dict()
        diff = {k: (full[k].float() - ref[k].float()).abs().max().item() for k in ref}
        moved = {k: (ref[k].float() - v.float()).abs().max().item() for k, v in setup(world, out)[0].state_dict().items()}
        (out / "result.json").write_text(json.dumps({
            "wrapped_layers": len(layers), "dtensor": all(isinstance(p, DTensor) for p in model.parameters()),
            "projector_group": sorted(names[id(p)] for g in proj for p in g["params"]),
            "max_diff": diff, "moved_by_training": moved,
            "frozen_tower_trainable": any(p.requires_grad for p in model.model.vision_tower.parameters())}))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
