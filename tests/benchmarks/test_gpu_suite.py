"""``benchmarks/gpu_suite.py --dry-run``: every section runs at toy sizes on the CPU and writes the documented keys."""
import json

import pytest

from benchmarks.gpu_suite import PEAK_TFLOPS_BF16, main, peak_tflops_bf16

TOP = {"device", "torch", "peak_tflops_bf16", "matmul_tflops", "mfu_reference", "total_s"}
BACKBONE_CASE = {"size", "stride", "windows", "batched_ms", "sequential_ms", "sequential_over_batched",
                 "outputs_equal", "interpolate_ms", "peak_mem_gib", "mfu"}
FVIT = {"train_step_s", "train_img_s", "infer_img_s", "peak_mem_gib", "mfu"}
FCCLIP = {"train_img_s", "eval_img_s", "deform_attn_share", "peak_mem_gib", "mfu"}
LLAVA = {"step_s_vitamin", "step_s_clip", "vitamin_over_clip", "tokens_s", "mfu", "peak_mem_gib", "decode_tokens_s"}


@pytest.mark.slow
def test_dry_run_writes_every_key(tmp_path, capsys):
    out = tmp_path / "suite.json"
    # llava_fsdp2 (a 30 s subprocess on 2 cores) is left to the GPU run; its CPU plumbing was checked by hand
    assert main(["--dry-run", "--only", "backbone,fvit,fcclip,llava", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert TOP <= set(r) and r["dry_run"] and r["matmul_tflops"] > 0
    assert r["mfu_reference"] == "matmul_tflops" and r["peak_tflops_bf16"] is None  # no GPU: nothing looked up
    cases = r["backbone"]["cases"]
    # the synthetic F-ViT and FC-CLIP configs agree on 256² / stride 64: one case, 3 × 3 windows of 128
    assert len(cases) == 1 and BACKBONE_CASE <= set(cases[0]) and cases[0]["windows"] == 9
    c = cases[0]
    assert c["outputs_equal"] and c["sequential_over_batched"] == pytest.approx(c["sequential_ms"] / c["batched_ms"])
    assert FVIT <= set(r["fvit"]) and FCCLIP <= set(r["fcclip"]) and LLAVA <= set(r["llava"])
    assert 0 < r["fcclip"]["deform_attn_share"] < 1
    ll = r["llava"]
    assert ll["vitamin_over_clip"] == pytest.approx(ll["step_s_vitamin"] / ll["step_s_clip"])
    assert ll["tokens_s"] == pytest.approx(ll["batch"] * (ll["text_tokens"] + 64) / ll["step_s_vitamin"])
    assert r["fvit"]["train_tflops_per_step"] > r["fcclip"]["train_tflops_per_step"] > 0  # FLOPs were counted
    assert ll["mfu"] > 0 and ll["towers"]["clip"]["mfu"] > 0
    assert "llava_fsdp2" not in r  # --only
    table = capsys.readouterr().out
    assert "sequential_over_batched=" in table and "vitamin_over_clip=" in table


def test_only_and_unknown_section(tmp_path):
    with pytest.raises(SystemExit):
        main(["--dry-run", "--only", "backbone,nope", "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()  # rejected before any work


@pytest.mark.parametrize("name,peak", [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0),
                                       ("NVIDIA H200", 989.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                       ("NVIDIA L40S", 362.0), ("NVIDIA L4", 121.0), ("NVIDIA GH200 480GB", 989.0),
                                       ("Some Future GPU", None)])
def test_peak_table_picks_the_specific_name_first(name, peak):
    assert peak_tflops_bf16(name) == peak
    assert len({k for k, _ in PEAK_TFLOPS_BF16}) == len(PEAK_TFLOPS_BF16)
