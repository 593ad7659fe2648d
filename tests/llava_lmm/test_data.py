"""The LLaVA-1.5 data layouts as users have them on disk (LLaVA's docs/Data.md), read with real photos:
stage 1 (LCS-558K: one folder of sharded images) and stage 2 (mix665k: sub-folders per source, text-only
ShareGPT records, multi-turn records, <image> before or after the question)."""
import json
import shutil

import pytest
import torch

from llava_lmm.data.dataset import DataCollator, LazySupervisedDataset, check_llava_data
from llava_lmm.data.image import make_image_processor
from llava_lmm.data.preprocess import IGNORE_INDEX
from shared.formats.validate import DatasetError
from tests.real_files import panopticapi_sample, real_photo

N_IMG = 4
MIX665K_FOLDERS = ["coco/train2017/000000033471.jpg", "gqa/images/2354786.jpg", "ocr_vqa/images/140031996.jpg",
                   "textvqa/train_images/0054c91397f2fe05.jpg", "vg/VG_100K/2356347.jpg", "vg/VG_100K_2/1.jpg"]


def _turns(*values):
    return [{"from": "human" if j % 2 == 0 else "gpt", "value": v} for j, v in enumerate(values)]


@pytest.fixture(scope="module")
def photos():
    return [real_photo("cheetah.jpg"), real_photo("tower.jpg"), real_photo("groot.jpeg"), real_photo("cheetah2.jpg")]


@pytest.fixture()
def mix665k(tmp_path, photos):
    """playground/data as LLaVA's README lays it out, with real photos under the six image folders."""
    root = tmp_path / "playground" / "data"
    for k, rel in enumerate(MIX665K_FOLDERS):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photos[k % len(photos)], root / rel)
    q = "What is the animal doing?"
    records = [
        {"id": "000000033471", "image": MIX665K_FOLDERS[0], "conversations": _turns(q + "\n<image>", "Running.",
                                                                                   "Where?", "On grass.")},
        {"id": "2354786", "image": MIX665K_FOLDERS[1],
         "conversations": _turns("<image>\n" + q + "\nAnswer the question using a single word or phrase.", "Running",
                                 "Is it a cat?", "Yes", "What colour is it?", "Yellow")},
        {"id": "140031996", "image": MIX665K_FOLDERS[2], "conversations": _turns("<image>\nWho wrote this book?", "")},
        {"id": "0054c91397f2fe05", "image": MIX665K_FOLDERS[3],
         "conversations": _turns("<image>\nProvide a one-sentence caption for the provided image.", "A cheetah.")},
        {"id": "2356347", "image": MIX665K_FOLDERS[4], "conversations": _turns(q, "Running.", "<image>\nWhere?", "Grass.")},
        {"id": "1", "image": MIX665K_FOLDERS[5], "conversations": _turns("Describe the tree.", "Tall.")},
        {"id": "i6Il3a4_0", "model": "", "conversations": _turns("Write a haiku about rain.", "Rain falls\nsoftly.",
                                                                  "Another?", "Grey sky.")},  # ShareGPT: no image
    ]
    data = root / "llava_v1_5_mix665k.json"
    data.write_text(json.dumps(records))
    return data, root, records


def _dataset(data, root, tok, **kw):
    return LazySupervisedDataset(data, tok, make_image_processor(32), root, "v1", "pad",
                                 num_image_tokens=N_IMG, model_max_length=512, **kw)


def test_mix665k_layout_reads_every_record_as_the_reference(mix665k, tok):
    data, root, records = mix665k
    ds = _dataset(data, root, tok)
    assert len(ds) == len(records) and ds.skipped == 0
    assert ds.notes == {"image not used": 1, "empty turn": 1}  # vg/VG_100K_2: no <image>; ocr_vqa: empty reply
    items = [ds[i] for i in range(len(ds))]
    img = tok.convert_tokens_to_ids("<image>")
    with_pixels = [r["id"] for r, it in zip(records, items) if "pixel_values" in it]
    assert with_pixels == ["000000033471", "2354786", "140031996", "0054c91397f2fe05", "2356347"]
    for r, it in zip(records, items):
        n = int((it["input_ids"] == img).sum())
        assert n == (N_IMG if "pixel_values" in it else 0), r["id"]
        if "pixel_values" in it:
            assert it["pixel_values"].shape == (3, 32, 32)
    sup = [int((it["labels"] != IGNORE_INDEX).sum()) for it in items]
    assert sup[2] == 0 and ds.mismatched == 1  # the empty reply: the reference masks the sample
    assert all(n > 0 for k, n in enumerate(sup) if k != 2)
    # the question after <image> gives the ids of the question with <image> in front (moved by the reference)
    front = dict(records[0], conversations=_turns("<image>\nWhat is the animal doing?", "Running.", "Where?",
                                                  "On grass."))
    (root / "front.json").write_text(json.dumps([front]))
    assert torch.equal(_dataset(root / "front.json", root, tok)[0]["input_ids"], items[0]["input_ids"])
    # image samples, unused-image samples and text-only samples batch together; one image per placeholder group
    batch = DataCollator(tok.pad_token_id, 512)(items)
    assert batch["pixel_values"].shape == (5, 3, 32, 32)
    assert int((batch["input_ids"] == img).sum()) == 5 * N_IMG
    # the reference's modality grouping: records with an "image" key count as image records, used or not
    assert [m > 0 for m in ds.modality_lengths] == [True] * 6 + [False]


def test_lcs558k_layout_plain_template(tmp_path, tok, photos):
    root = tmp_path / "LLaVA-Pretrain" / "images"
    records = []
    for k, rel in enumerate(["00453/004539375.jpg", "00223/002239345.jpg"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photos[k], root / rel)
        records.append({"id": rel.split("/")[1][:-4], "image": rel, "conversations": _turns(
            ["Give a brief description of the image.\n<image>", "<image>\nRender a clear and concise summary."][k],
            "a cheetah running across a field")})
    (tmp_path / "blip_laion_cc_sbu_558k.json").write_text(json.dumps(records))
    ds = LazySupervisedDataset(tmp_path / "blip_laion_cc_sbu_558k.json", tok, make_image_processor(32), root,
                               "plain", num_image_tokens=N_IMG, model_max_length=64)
    a, b = ds[0], ds[1]
    assert torch.equal(a["input_ids"], b["input_ids"])  # plain keeps only <image> of the first turn
    assert a["input_ids"][:1 + N_IMG].tolist() == [tok.bos_token_id] + [tok.convert_tokens_to_ids("<image>")] * N_IMG
    assert (a["labels"][:1 + N_IMG] == IGNORE_INDEX).all() and (a["labels"][1 + N_IMG:] != IGNORE_INDEX).all()


def test_missing_image_names_the_path_tried_and_the_record(mix665k, tok):
    data, root, records = mix665k
    (root / MIX665K_FOLDERS[1]).unlink()
    with pytest.raises(DatasetError) as e:
        _dataset(data, root, tok)
    assert (f"#1 record '2354786': image 'gqa/images/2354786.jpg': file not found: {root / 'gqa/images/2354786.jpg'}"
            in str(e.value))
    assert _dataset(data, root, tok, on_bad_image="skip").skipped == 1


def test_undecodable_images_are_found_up_front(mix665k, tok, photos):
    """A text file renamed .jpg, an empty file and a PNG with a broken checksum are found by the load-time pass
    (header + size, PIL verify), each listed with its record; a real COCO photo passes."""
    data, root, records = mix665k
    (root / MIX665K_FOLDERS[0]).write_text("this is a text file, not a JPEG\n")
    (root / MIX665K_FOLDERS[2]).write_bytes(b"")
    png = bytearray((panopticapi_sample() / "sample_data" / "panoptic_examples" / "000000142238.png").read_bytes())
    png[png.index(b"IDAT") + 10] ^= 0xFF  # inside the image data: the chunk's CRC no longer matches
    (root / MIX665K_FOLDERS[3]).write_bytes(bytes(png))
    shutil.copy(next((panopticapi_sample() / "sample_data" / "input_images").glob("*.jpg")), root / MIX665K_FOLDERS[4])
    with pytest.raises(DatasetError) as e:
        check_llava_data(data, "v1", root)
    msg = str(e.value)
    assert msg.splitlines()[0] == f"{data}: 3 bad records (images) (3 problems; --on_bad_image skip skips them):"
    assert "#0 record '000000033471': image 'coco/train2017/000000033471.jpg': not an image PIL can read" in msg
    assert "#2 record '140031996'" in msg and "#3 record '0054c91397f2fe05'" in msg and "2356347" not in msg
    checked = check_llava_data(data, "v1", root, on_bad_image="skip")
    assert checked.skipped == 3 and [r["id"] for r in checked.records] == ["2354786", "2356347", "1", "i6Il3a4_0"]
    assert checked.index == [1, 4, 5, 6]


def test_image_in_a_later_turn_that_does_not_fit_is_listed(mix665k, tok):
    data, root, records = mix665k
    long_answer = " ".join(["Running fast across the field."] * 40)
    records[4]["conversations"][1]["value"] = long_answer  # the image comes after this round
    data.write_text(json.dumps(records))
    with pytest.raises(DatasetError, match=r"#4 record '2356347': \d+ text tokens \+ 4 image tokens do not fit "
                                           r"model_max_length 128"):
        LazySupervisedDataset(data, tok, make_image_processor(32), root, "v1", num_image_tokens=N_IMG,
                              model_max_length=128)


def test_torchrun_processes_share_the_image_check(tmp_path):
    """Under torchrun each process opens its share of the image files (not all of them: 665k files × 8 processes
    per node), and every process learns every problem: the same records are kept and skipped everywhere."""
    from PIL import Image

    from tests.torchrun_helpers import torchrun

    root = tmp_path / "images"
    root.mkdir()
    for name in ("a", "b", "e"):
        Image.new("RGB", (8, 6), (10, 20, 30)).save(root / f"{name}.png")
    (root / "d.png").write_text("not a PNG\n")  # c.png is missing
    data = tmp_path / "data.json"
    data.write_text(json.dumps([{"id": n, "image": f"{n}.png", "conversations": _turns("<image>\nWhat is it?", "A box.")}
                                for n in "abcde"]))
    script = """
import json, sys
import torch.distributed as dist
import llava_lmm.data.dataset as ds
dist.init_process_group("gloo")
opened, problem = [], ds.image_problem
ds.image_problem = lambda path: (opened.append(path.name), problem(path))[1]
c = ds.check_llava_data(sys.argv[1], "v1", sys.argv[2], on_bad_image="skip")
with open(f"{sys.argv[3]}/rank{dist.get_rank()}.json", "w") as f:
    json.dump({"opened": opened, "ids": [r["id"] for r in c.records], "skipped": c.skipped}, f)
dist.destroy_process_group()
"""
    torchrun(script, tmp_path, str(data), str(root), str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sorted(ranks[0]["opened"] + ranks[1]["opened"]) == [f"{n}.png" for n in "abcde"]  # each file once
    assert all(0 < len(r["opened"]) < 5 for r in ranks)
    assert all(r["ids"] == ["a", "b", "e"] and r["skipped"] == 2 for r in ranks)
