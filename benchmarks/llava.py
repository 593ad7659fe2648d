"""LLaVA training throughput: ViTamin-L-336 tower (441 tokens) vs HF CLIP ViT-L/14-336 (576 tokens), one run.

GPU: a Vicuna-7B-shaped random Llama (bf16, gradient checkpointing, LM + projector trainable as in stage 2),
training tokens/s (text + image tokens) and peak memory per tower. CPU: the vision-tower-only forward at small
batch (the 7B LM does not fit a CPU benchmark).

    python benchmarks/llava.py [--batch 4 --text-tokens 128 --steps 5 --layers 32]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

import llava_lmm  # noqa: F401,E402


def towers():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from llava_lmm.modeling.builder import vision_config_for
    from llava_lmm.modeling.vision_tower import ViTaminVisionModel

    vit = vision_config_for("ViTamin-L-336")
    clip = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            image_size=336, patch_size=14, projection_dim=768)
    return {"ViTamin-L-336": (vit, ViTaminVisionModel, 441), "CLIP-ViT-L/14-336": (clip, CLIPVisionModel, 576)}


def bench_tower_cpu(batch: int, steps: int) -> None:
    print(f"CPU: vision tower forward, batch {batch}, {torch.get_num_threads()} threads")
    for name, (cfg, cls, n) in towers().items():
        m = cls(cfg).eval()
        x = torch.randn(batch, 3, 336, 336)
        with torch.no_grad():
            m(x, output_hidden_states=True)
            t0 = time.perf_counter()
            for _ in range(steps):
                m(x, output_hidden_states=True)
        dt = (time.perf_counter() - t0) / steps
        print(f"  {name:20s} tokens/img {n:4d}  {dt * 1000:8.1f} ms/batch  {batch / dt:6.2f} img/s")


def bench_llava_gpu(batch: int, text_tokens: int, steps: int, layers: int) -> None:
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    dev = "cuda"
    print(f"GPU {torch.cuda.get_device_name()}: Vicuna-7B-shaped LM ({layers} layers), batch {batch}, "
          f"{text_tokens} text tokens/sample, bf16, grad checkpointing")
    for name, (vcfg, _, n) in towers().items():
        lm = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers,
                         num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
        cfg = LlavaConfig(vision_config=vcfg, text_config=lm, image_token_id=32000, vision_feature_layer=-2,
                          vision_feature_select_strategy="full", image_seq_length=n)
        with torch.device(dev):
            model = LlavaForConditionalGeneration(cfg).to(torch.bfloat16)
        model.model.vision_tower.requires_grad_(False)
        model.activation_checkpointing_enable()
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, foreach=False)
        ids = torch.randint(3, 32000, (batch, text_tokens + n), device=dev)
        ids[:, 1:1 + n] = 32000
        px = torch.randn(batch, 3, 336, 336, device=dev, dtype=torch.bfloat16)
        torch.cuda.reset_peak_memory_stats()
        for i in range(steps + 1):
            if i == 1:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
            loss = model(input_ids=ids, pixel_values=px, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / steps
        print(f"  {name:20s} img tokens {n:4d}  {batch * (text_tokens + n) / dt:9.0f} tokens/s  "
              f"{dt * 1000:8.1f} ms/step  peak {torch.cuda.max_memory_allocated() / 2**30:6.1f} GiB")
        del model, opt
        torch.cuda.empty_cache()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=None, help="default: 4 on GPU, 1 on CPU")
    p.add_argument("--text-tokens", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--layers", type=int, default=32, help="LM depth (32 = Vicuna-7B)")
    a = p.parse_args()
    torch.manual_seed(0)
    if torch.cuda.is_available():
        bench_llava_gpu(a.batch or 4, a.text_tokens, a.steps, a.layers)
    else:
        bench_tower_cpu(a.batch or 1, min(a.steps, 2))


if __name__ == "__main__":
    main()
