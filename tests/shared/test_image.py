"""The one photo reader (``shared.image.read_image``) on real photos and variants made from them: EXIF orientation,
16-bit, palette / alpha / CMYK / float modes (hand-computed values), and one clear error for undecodable files."""
import io

import numpy as np
import pytest
from PIL import Image

from photo_variants import ORIENTATION, SHOWN_TURNS, png16, with_orientation
from real_files import real_photo
from shared.image import ImageReadError, read_image


def _rgb(source, reading="photo"):
    return np.asarray(read_image(source, reading))


@pytest.mark.parametrize("orientation", [6, 8, 3])
@pytest.mark.parametrize("container", ["jpeg", "png"])
def test_exif_orientation_gives_the_shown_picture(orientation, container, tmp_path):
    """JPEG: the photo's own bytes with the tag inserted read as the decoded photo turned; PNG: pixels stored turned
    back, with the tag, read as the photo exactly. The stored-orientation reading (LLaVA's reference) differs."""
    photo = real_photo("cheetah.jpg")  # 502×343: a wrong turn changes the shape
    plain = _rgb(photo)
    shown = np.rot90(plain, SHOWN_TURNS[orientation])
    if container == "jpeg":
        path = tmp_path / "tagged.jpg"
        path.write_bytes(with_orientation(photo.read_bytes(), orientation))
        expected = shown
    else:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        path = tmp_path / "tagged.png"
        Image.fromarray(np.ascontiguousarray(np.rot90(plain, -SHOWN_TURNS[orientation]))).save(path, exif=exif)
        expected = plain
    out = _rgb(path)
    assert out.shape == expected.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    with Image.open(path) as pil:  # a PIL image given to the API: the same; the result has no tag left
        once = read_image(pil)
    np.testing.assert_array_equal(np.asarray(once), expected)
    assert once.getexif().get(ORIENTATION) in (None, 1)
    np.testing.assert_array_equal(_rgb(once), expected)  # reading it again turns nothing
    if orientation != 3:
        assert _rgb(path, "reference").shape != expected.shape  # stored orientation: sideways


def test_sixteen_bit_pngs_read_as_their_eight_bits(tmp_path):
    """16-bit grey (I;16, I;16B, I) and 16-bit RGB PNGs → the high byte (v >> 8), the rule Pillow applies to 16-bit
    RGB PNGs itself; the photo's grey × 257 reads exactly as the 8-bit grey; Pillow's convert('RGB') clips."""
    with Image.open(real_photo("cheetah.jpg")) as im:
        grey, rgb = np.asarray(im.convert("L")), np.asarray(im.convert("RGB"))
    (tmp_path / "grey16.png").write_bytes(png16(grey.astype(np.uint16) * 257))
    (tmp_path / "rgb16.png").write_bytes(png16(rgb.astype(np.uint16) * 257))
    with Image.open(tmp_path / "grey16.png") as im:
        assert im.mode == "I;16"
    np.testing.assert_array_equal(_rgb(tmp_path / "grey16.png"), np.repeat(grey[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(_rgb(tmp_path / "rgb16.png"), rgb)
    assert _rgb(tmp_path / "grey16.png", "reference").mean() > 254  # the bug this reader fixes: almost all white
    # hand-computed: 0x12FF → 0x12 (a rounding scale would give 19, clipping 255), 0x0100 → 1, 0xFFFF → 255
    values = np.array([[0, 255, 256, 0x12FF, 0x8000, 0xFFFF]], np.uint16)
    expected = [0, 0, 1, 0x12, 0x80, 255]
    (tmp_path / "hand16.png").write_bytes(png16(values))
    (tmp_path / "hand16rgb.png").write_bytes(png16(np.repeat(values[:, :, None], 3, axis=2)))
    for source in (tmp_path / "hand16.png", tmp_path / "hand16rgb.png", Image.fromarray(values.astype(">u2")),
                   Image.fromarray(values.astype(np.int32))):
        assert _rgb(source)[0, :, 0].tolist() == expected and (_rgb(source)[..., 0] == _rgb(source)[..., 2]).all()


def _palette_with_transparency():
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.putpixel((1, 0), 1)
    im.info["transparency"] = 0  # index 0 is transparent: its colour is kept (no compositing)
    b = io.BytesIO()
    im.save(b, "PNG")
    return b.getvalue()


def _cmyk_jpeg():
    c = np.zeros((8, 16, 4), np.uint8)  # two flat 8×8 blocks: exact through JPEG
    c[:, :8] = (200, 0, 0, 100)
    c[:, 8:] = (0, 50, 255, 0)
    b = io.BytesIO()
    Image.fromarray(c, "CMYK").save(b, "JPEG", quality=100)
    assert b"Adobe" in b.getvalue()  # Pillow writes Photoshop's inverted CMYK with the Adobe marker
    return b.getvalue()


@pytest.mark.parametrize("source, pixels", [
    (_palette_with_transparency(), [[10, 20, 30], [200, 100, 50]]),
    (Image.fromarray(np.array([[[77, 0], [90, 255]]], np.uint8), "LA"), [[77, 77, 77], [90, 90, 90]]),
    (Image.fromarray(np.array([[[1, 2, 3, 0], [4, 5, 6, 128]]], np.uint8), "RGBA"), [[1, 2, 3], [4, 5, 6]]),
    # R = round((255 − C)(255 − K) / 255): 55·155/255 = 33.4; 255·155/255 = 155; 205·255/255 = 205; 0
    (_cmyk_jpeg(), [[33, 155, 155], [255, 205, 0]]),
    (Image.fromarray(np.array([[True, False]])), [[255, 255, 255], [0, 0, 0]]),
    (Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)), [[0, 0, 0], [128, 128, 128], [255, 255, 255]]),
], ids=["P+transparency", "LA", "RGBA", "CMYK-Adobe-JPEG", "1", "F"])
def test_modes_hand_checked(source, pixels):
    out = _rgb(source)
    assert out.dtype == np.uint8 and out.shape[2] == 3
    got = out[0, ::8].tolist() if out.shape[1] == 16 else out[0].tolist()  # CMYK: one pixel per block
    assert got == pixels


def test_real_rgba_and_palette_files():
    """The RGBA logo: alpha dropped, the stored colours kept (also under transparent pixels); the palette GIF: its
    palette colours of the first frame."""
    with Image.open(real_photo("logo.png")) as im:
        rgba = np.asarray(im)
    assert (rgba[..., 3] == 0).any()
    np.testing.assert_array_equal(_rgb(real_photo("logo.png")), rgba[..., :3])
    with Image.open(real_photo("rectangles.gif")) as im:
        index = np.asarray(im)
        palette = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
    out = _rgb(real_photo("rectangles.gif"))
    np.testing.assert_array_equal(out, palette[index])
    assert out[0, 0].tolist() == [0, 0, 254]  # its first frame: one blue rectangle filling it


@pytest.mark.parametrize("bad", ["text.jpg", "truncated.jpeg", "truncated.jpg", "float.tif", "int32.tif", "missing.jpg",
                                 "bytes"])
def test_unreadable_inputs_raise_one_error_naming_them(bad, tmp_path):
    path = tmp_path / bad
    if bad == "text.jpg":
        path.write_text("a text file renamed .jpg\n")
    elif bad.startswith("truncated"):
        raw = real_photo("groot.jpeg" if bad.endswith("jpeg") else "cheetah.jpg").read_bytes()  # progressive, baseline
        path.write_bytes(raw[:len(raw) // 2])
    elif bad == "float.tif":
        Image.fromarray(np.array([[0.0, 2.0]], np.float32)).save(path)
    elif bad == "int32.tif":
        Image.fromarray(np.array([[0, 70000]], np.int32)).save(path)
    if bad == "missing.jpg":
        with pytest.raises(FileNotFoundError, match=f"image not found: {path}$"):
            read_image(path)
    elif bad == "bytes":
        with pytest.raises(ImageReadError, match=r"^cannot read question 7 \(base64 image\): not an image"):
            read_image(b"not an image", what="question 7 (base64 image)")
    else:
        with pytest.raises(ImageReadError) as e:
            read_image(path)
        assert str(e.value).count("\n") == 0 and str(path) in str(e.value)
        assert isinstance(e.value, ValueError)  # what every caller catches


def test_web_app_hands_the_uploaded_file_to_the_reader(tmp_path):
    """The app's image inputs give the handlers the uploaded file untouched (Gradio's own numpy conversion would clip
    a 16-bit PNG to white), and the handlers read it with ``read_image``, as the CLIs do."""
    gr = pytest.importorskip("gradio")
    from types import SimpleNamespace

    import torch
    from gradio.data_classes import ImageData

    from photo_variants import write_variants
    from apps.web import build_app
    from shared.app_tab import read_upload as _photo

    models = {"fvit": SimpleNamespace(class_names=["cat"]),
              "fcclip": SimpleNamespace(class_names=["cat"], is_thing=torch.tensor([True])), "llava": None}
    app = build_app(models, {})
    inputs = {b.elem_id: b for b in app.blocks.values() if isinstance(b, gr.Image) and b.elem_id.endswith("_image")}
    assert sorted(inputs) == ["chat_image", "det_image", "seg_image"]
    files = write_variants(real_photo("cheetah.jpg"), tmp_path)
    for name in ("rotated.jpg", "grey16.png"):
        for component in inputs.values():
            handed = component.preprocess(ImageData(path=str(files[name]), orig_name=name))
            assert handed == str(files[name])
        np.testing.assert_array_equal(np.asarray(_photo(handed)), _rgb(files[name]))
    numpy_input = gr.Image(type="numpy").preprocess(ImageData(path=str(files["grey16.png"]), orig_name="grey16.png"))
    assert numpy_input.mean() == 255  # why the app does not use type="numpy"
