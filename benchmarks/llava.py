"""LLaVA training throughput: ViTamin-L-336 tower (441 tokens) vs HF CLIP ViT-L/14-336 (576 tokens), one run.

GPU: a Vicuna-7B-shaped random Llama (bf16, activation checkpointing, LM + projector trainable as in stage 2),
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
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

import llava_lmm  # noqa: F401,E402

IMAGE_TOKEN_ID = 32000  # Vicuna's vocabulary is 32000 tokens; <image> is the first added one (LLaVA-1.5)


def towers(tiny: bool = False) -> dict:
    """{name: (vision config, model class, image tokens, feature selection)}: ViTamin-L-336 (all 441 tokens) and
    CLIP ViT-L/14-336 (576 patch tokens, CLS dropped as LLaVA-1.5 does); ``tiny``: a ViTamin-Tiny and a 2-layer
    CLIP of the same width, for CPU dry runs."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from llava_lmm.modeling.builder import vision_config_for
    from llava_lmm.modeling.vision_tower import ViTaminVisionModel

    if tiny:
        vit = vision_config_for("ViTamin-Tiny")
        clip = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                image_size=vit.image_size, patch_size=16, projection_dim=64)
        return {"ViTamin-Tiny": (vit, ViTaminVisionModel, vit.num_image_tokens, "full"),
                "CLIP-tiny/16": (clip, CLIPVisionModel, (vit.image_size // 16) ** 2, "default")}
    vit = vision_config_for("ViTamin-L-336")
    clip = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            image_size=336, patch_size=14, projection_dim=768)
    return {"ViTamin-L-336": (vit, ViTaminVisionModel, vit.num_image_tokens, "full"),
            "CLIP-ViT-L/14-336": (clip, CLIPVisionModel, (336 // 14) ** 2, "default")}


def vicuna7b_config(layers: int = 32, hidden: int = 4096, intermediate: int = 11008, heads: int = 32,
                    vocab: int = 32064):
    """A Vicuna-7B-shaped Llama config (``layers`` / sizes smaller for dry runs); vocabulary incl. <image>."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=4096)


def build_llava(vision_config, image_tokens: int, select: str, text_config, device: torch.device,
                dtype: torch.dtype):
    """Random-init LlavaForConditionalGeneration on ``device`` in ``dtype``, stage-2 trainable set (LM + projector;
    the tower frozen), in train mode; ``select``: the vision feature selection (full | default = drop CLS)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    cfg = LlavaConfig(vision_config=vision_config, text_config=text_config, image_token_id=IMAGE_TOKEN_ID,
                      vision_feature_layer=-2, vision_feature_select_strategy=select, image_seq_length=image_tokens)
    with torch.device(device):
        model = LlavaForConditionalGeneration(cfg).to(dtype)
    model.model.vision_tower.requires_grad_(False)
    model.train()
    return model


def sample_batch(batch: int, text_tokens: int, image_tokens: int, image_size: int, device: torch.device,
                 dtype: torch.dtype) -> dict:
    """``batch`` sequences of one image (``image_tokens`` placeholders after BOS) + ``text_tokens`` random tokens,
    labels = inputs (every token trained: the LM cost of a packed stage-2 batch)."""
    ids = torch.randint(3, IMAGE_TOKEN_ID, (batch, text_tokens + image_tokens), device=device)
    ids[:, 1:1 + image_tokens] = IMAGE_TOKEN_ID
    px = torch.randn(batch, 3, image_size, image_size, device=device, dtype=dtype)
    return {"input_ids": ids, "pixel_values": px, "labels": ids}


def train_step_fn(model, batch: dict):
    """One AdamW step on the trainable parameters (plain, non-fused AdamW: the default of the HF Trainer runs)."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, foreach=False)

    def step():
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def bench_tower_cpu(batch: int, steps: int) -> None:
    print(f"CPU: vision tower forward, batch {batch}, {torch.get_num_threads()} threads")
    for name, (cfg, cls, n, _) in towers().items():
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
    from benchmarks.timing import timed

    dev = torch.device("cuda")
    print(f"GPU {torch.cuda.get_device_name()}: Vicuna-7B-shaped LM ({layers} layers), batch {batch}, "
          f"{text_tokens} text tokens/sample, bf16, activation checkpointing")
    for name, (vcfg, _, n, select) in towers().items():
        model = build_llava(vcfg, n, select, vicuna7b_config(layers), dev, torch.bfloat16)
        model.activation_checkpointing_enable()
        step = train_step_fn(model, sample_batch(batch, text_tokens, n, vcfg.image_size, dev, torch.bfloat16))
        torch.cuda.reset_peak_memory_stats()
        dt = timed(step, steps, dev)
        print(f"  {name:20s} img tokens {n:4d}  {batch * (text_tokens + n) / dt:9.0f} tokens/s  "
              f"{dt * 1000:8.1f} ms/step  peak {torch.cuda.max_memory_allocated() / 2**30:6.1f} GiB")
        del model, step
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
