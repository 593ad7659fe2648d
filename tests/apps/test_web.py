"""The web demo in a real browser: headless Chromium (system package) driven by Playwright uploads an image,
types classes / a question and runs each tab; the results must appear. Screenshots go to outputs/app_test/."""
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("outputs/app_test")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Tiny untrained models of the three kinds, saved as the app reads them."""
    from shared.synthetic import generate_world

    root = tmp_path_factory.mktemp("app_models")
    world = generate_world(root / "world", seed=0, num_train=4, num_val=2, image_size=96)
    from fcclip_segmentation import FCCLIP
    from fcclip_segmentation.config import FCCLIPConfig
    from fcclip_segmentation.demo import CONFIG as FCCLIP_CONFIG
    from fcclip_segmentation.demo import synthetic_overrides
    from fvit_detection import FViT
    from fvit_detection.config import FViTConfig
    from fvit_detection.demo import CONFIG as FVIT_CONFIG
    from shared.engine import load_config

    torch.manual_seed(0)
    fvit_cfg = load_config(FViTConfig, FVIT_CONFIG, [f"data.train_ann={world.lvis_train_ov}",
                                                     f"text_cache={root}/text_cache"])
    FViT.from_config(fvit_cfg).save_pretrained(root / "fvit")
    fc_cfg = load_config(FCCLIPConfig, FCCLIP_CONFIG, synthetic_overrides(world, root / "fc"))
    FCCLIP.from_config(fc_cfg).save_pretrained(root / "fcclip")
    _tiny_llava(root / "llava")
    return {"fvit": root / "fvit", "fcclip": root / "fcclip", "llava": root / "llava",
            "image": sorted(world.images_val.glob("*.jpg"))[0]}


def _tiny_llava(out: Path) -> None:
    from llava_lmm.config import ModelArguments
    from llava_lmm.data.image import make_image_processor
    from llava_lmm.data.tokenizer import train_tiny_tokenizer
    from llava_lmm.train import atomic_save_model_dir, build_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = train_tiny_tokenizer([], vocab_size=300, extra_texts=["What colour is the circle? red green blue"] * 5)
        model = build_model(ModelArguments(image_size=64, tiny_hidden_size=32, tiny_layers=1, tiny_heads=2), tok)
    atomic_save_model_dir(model, tok, make_image_processor(64), out, {"template": "v1", "image_aspect_ratio": "pad"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_three_tabs_in_a_browser(model_dirs, tmp_path):
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing (.ci/run installs the Debian chromium package)")
    from apps.web import build_app, launch, load_models

    models, missing = load_models({k: model_dirs[k] for k in ("fvit", "fcclip", "llava")})
    assert not missing
    port = _free_port()
    app = build_app(models, missing)
    launch(app, port=port, block=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    image = str(model_dirs["image"])
    # what the page must show: the table rows the API gives for the same image, classes and threshold
    fvit = models["fvit"]
    ref = fvit.predict(image, score_threshold=0.3, classes="red circle;blue square")  # the app's model unchanged
    assert len(ref["scores"]) > 0
    top = [ref["label_names"][0], str(round(float(ref["scores"][0]), 3))]
    try:
        with sync_api.sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(CHROMIUM),
                                                       headless=True, args=CHROMIUM_ARGS)
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            # detection
            page.locator("#det_image input[type=file]").set_input_files(image)
            page.locator("#det_classes textarea").fill("red circle;blue square")
            page.locator("#det_run").click()
            page.locator("#det_out img").wait_for(state="visible")
            for text in top:  # the API's best detection, shown in the table
                sync_api.expect(page.locator("#det_table")).to_contain_text(text)
            page.screenshot(path=str(SHOTS / "detection.png"), full_page=True)
            # panoptic segmentation
            page.get_by_role("tab", name="Panoptic segmentation (FC-CLIP)").click()
            page.locator("#seg_image input[type=file]").set_input_files(image)
            page.locator("#seg_classes textarea").fill("red circle;blue square;sky*;grass*")
            page.locator("#seg_run").click()
            page.locator("#seg_out img").wait_for(state="visible")
            sync_api.expect(page.locator("#seg_legend")).to_contain_text("#")  # a colour swatch row
            page.screenshot(path=str(SHOTS / "segmentation.png"), full_page=True)
            # a bad class list is reported on the page, not as a crash
            page.locator("#seg_classes textarea").fill("sky;;grass")
            page.locator("#seg_run").click()
            page.get_by_text("class 2 is empty").first.wait_for(state="visible")
            # LLaVA chat
            page.get_by_role("tab", name="LLaVA chat").click()
            page.locator("#chat_image input[type=file]").set_input_files(image)
            page.locator("#chat_question textarea").fill("What colour is the circle?")
            page.locator("#chat_run").click()
            page.wait_for_function("() => document.querySelector('#chat_answer textarea').value.length > 0")
            answer = page.locator("#chat_answer textarea").input_value()
            page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)
            ctx.close()
    finally:
        app.close()
    assert answer
    shot = np.asarray(Image.open(SHOTS / "detection.png"))
    assert shot.shape[0] > 100 and shot.std() > 0
