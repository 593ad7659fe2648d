"""A user's error is one line and exit 2 in every entry point (train, eval, predict, export, convert, chat,
``eval answer``, the web app), a bug keeps its traceback; ``--device`` names a device that is not here; a full disk
hidden under a writer's own error is said plainly."""
import errno
import json

import pytest
import torch

from backbone.weights import WeightsError
from llava_lmm.data.image import ImageError
from shared.cli import check_device, run_main
from shared.engine import CheckpointError, ConfigError
from shared.engine.rundir import RunDirError
from shared.errors import UserError, user_error_line
from shared.formats.validate import DatasetError
from shared.image import ImageReadError
from shared.pretrained import PretrainedError
from real_files import REPO, real_photo

# (the error an entry point meets, the one line it must print)
USER_ERRORS = [
    (WeightsError("weights file x.pt does not fit"), "weights file x.pt does not fit"),
    (PretrainedError("folder p: kind 'fcclip'"), "folder p: kind 'fcclip'"),
    (ConfigError("cfg.yaml: unknown key model.x"), "cfg.yaml: unknown key model.x"),
    (DatasetError("ann.json: 1 bad records"), "ann.json: 1 bad records"),
    (ImageError("image not found: a.jpg"), "image not found: a.jpg"),
    (PermissionError("--out o is not writable"), "--out o is not writable"),
    (RunDirError("o is in use by pid 1"), "o is in use by pid 1"),
    (CheckpointError("cannot read checkpoint c.pt"), "cannot read checkpoint c.pt"),
    (OSError(errno.ENOSPC, "No space left on device", "/out/last.pt"),
     "cannot write /out/last.pt: No space left on device"),
]


@pytest.mark.parametrize("cls", [WeightsError, PretrainedError, ConfigError, DatasetError, ImageError,
                                 ImageReadError, RunDirError, CheckpointError])
def test_every_user_facing_error_class_is_a_user_error(cls):
    assert issubclass(cls, UserError)
    assert user_error_line(cls("the message")) == "the message"


def test_a_full_disk_under_torch_save_is_said_plainly_and_a_bug_is_not_a_user_error(tmp_path):
    class Full:  # a file whose disk fills after 100 bytes: torch.save re-raises it as its own RuntimeError
        n = 0

        def write(self, b):
            Full.n += len(b)
            if Full.n > 100:
                raise OSError(errno.ENOSPC, "No space left on device")
            return len(b)

        def flush(self):
            pass

    with pytest.raises(RuntimeError) as e:
        torch.save({"w": torch.zeros(1000)}, Full())
    assert "No space" not in str(e.value)  # what torch shows: "[enforce fail at inline_container.cc …"
    assert user_error_line(e.value) == "No space left on device"
    assert user_error_line(RuntimeError("index out of range")) is None  # a bug keeps its traceback
    assert user_error_line(KeyboardInterrupt()) is None
    with pytest.raises(RuntimeError, match="index"):
        run_main(lambda: (_ for _ in ()).throw(RuntimeError("index out of range")))


def test_device_that_is_not_here_is_one_line(monkeypatch):
    assert check_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^--device cuda: no CUDA GPU is visible to PyTorch here .*use --device cpu$"):
        check_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"--device cuda:2: this machine has 2 CUDA GPU\(s\) \(cuda:0 … cuda:1\)"):
        check_device("cuda:2")
    with pytest.raises(ValueError, match="--device 'gpu0': expected cpu, cuda, cuda:N or mps"):
        check_device("gpu0")


def _assert_one_line(code, capsys, line):
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert [x for x in err.splitlines() if x.startswith("error:")] == [f"error: {line}"]


def _raise(e):
    def f(*a, **k):
        raise e
    return f


# ---------------------------------------------------------------- every entry point reports every user error
@pytest.fixture
def files(tmp_path):
    image = real_photo("cheetah.jpg")
    (tmp_path / "q.jsonl").write_text(json.dumps({"question_id": 1, "image": image.name, "text": "What?"}) + "\n")
    (tmp_path / "data.json").write_text("[]")
    return {"image": str(image), "folder": str(image.parent), "q": str(tmp_path / "q.jsonl"),
            "data": str(tmp_path / "data.json")}


def _entry_points(tmp_path, files):
    """(name, module to patch, attribute raising the error, main, argv): the attribute is what the command calls
    first after its argument checks (loading the model / reading the input)."""
    import fcclip_segmentation.convert
    import fcclip_segmentation.eval
    import fcclip_segmentation.predict
    import fvit_detection.convert
    import fvit_detection.eval
    import fvit_detection.export
    import fvit_detection.predict
    import fvit_detection.train
    import llava_lmm.chat
    import llava_lmm.eval
    import llava_lmm.train
    import shared.batch_predict

    fvit_cfg = str(REPO / "fvit_detection/configs/synthetic_tiny.yaml")
    return [
        ("fvit train", fvit_detection.train, "train", fvit_detection.train.main,
         ["--config", fvit_cfg, f"train.out_dir={tmp_path}/train"]),
        ("fvit eval", fvit_detection.eval, "load_trained", fvit_detection.eval.main,
         ["--config", fvit_cfg, "--checkpoint", str(tmp_path / "last.pt"), "--out", str(tmp_path / "eval")]),
        ("fvit predict", shared.batch_predict, "load_for_prediction", fvit_detection.predict.main,
         ["--pretrained", str(tmp_path), "--images", files["image"], "--out", str(tmp_path / "p1"), "--no-progress"]),
        ("fcclip predict", shared.batch_predict, "load_for_prediction", fcclip_segmentation.predict.main,
         ["--pretrained", str(tmp_path), "--image", files["image"], "--out", str(tmp_path / "p2.png")]),
        ("fvit export", shared.batch_predict, "load_for_prediction", fvit_detection.export.main,
         ["--pretrained", str(tmp_path), "--out", str(tmp_path / "m.onnx")]),
        ("fvit convert", fvit_detection.convert, "load_state_dict_file", fvit_detection.convert.main,
         ["--reference", str(tmp_path / "ref.pth"), "--out", str(tmp_path / "ours.pt")]),
        ("fcclip eval", fcclip_segmentation.eval, "load_trained", fcclip_segmentation.eval.main,
         ["--config", str(REPO / "fcclip_segmentation/configs/synthetic_tiny.yaml"), "--checkpoint",
          str(tmp_path / "last.pt"), "--out", str(tmp_path / "fc_eval")]),
        ("fcclip convert", fcclip_segmentation.convert, "load_state_dict_file", fcclip_segmentation.convert.main,
         ["--reference", str(tmp_path / "ref.pth"), "--out", str(tmp_path / "ours.pt")]),
        ("chat", llava_lmm.chat, "read_model_folder", llava_lmm.chat.main,
         ["--model", str(tmp_path), "--image", files["image"], "--once", "hi", "--device", "cpu"]),
        ("eval answer", llava_lmm.eval, "load_model", llava_lmm.eval.main,
         ["answer", "--model", str(tmp_path), "--questions", files["q"], "--image-folder", files["folder"],
          "--out", str(tmp_path / "answers.jsonl"), "--device", "cpu"]),
        ("llava train", llava_lmm.train, "train", llava_lmm.train.main,
         ["--data_path", files["data"], "--output_dir", str(tmp_path / "llava")]),
    ]


@pytest.mark.parametrize("error,line", USER_ERRORS, ids=lambda x: type(x).__name__ if isinstance(x, Exception) else "")
def test_every_entry_point_reports_a_user_error_as_one_line(error, line, tmp_path, files, monkeypatch, capsys):
    for name, module, attr, main, argv in _entry_points(tmp_path, files):
        with monkeypatch.context() as m:
            m.setattr(module, attr, _raise(error))
            code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert "Traceback" not in err and [x for x in err.splitlines() if x.startswith("error:")] == [
            f"error: {line}"], (name, err)


def test_web_app_checks_device_and_reports_model_errors_in_one_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gradio")
    import apps.web as app

    loaded = []
    monkeypatch.setattr(app, "load_models", lambda *a, **k: loaded.append(1) or ({}, {}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _assert_one_line(app.main(["--device", "cuda"]), capsys, "--device cuda: no CUDA GPU is visible to PyTorch here "
                     f"(torch {torch.__version__}, CUDA_VISIBLE_DEVICES and drivers decide); use --device cpu")
    assert not loaded  # before any model loads
    monkeypatch.setattr(app, "load_models", _raise(WeightsError("x.safetensors does not fit ViTamin-S")))
    _assert_one_line(app.main(["--fvit", str(tmp_path)]), capsys, "x.safetensors does not fit ViTamin-S")


def test_predict_device_is_checked_before_the_model_loads(tmp_path, files, monkeypatch, capsys):
    import fvit_detection.predict
    import shared.batch_predict

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(shared.batch_predict, "load_for_prediction", _raise(AssertionError("model loaded")))
    code = fvit_detection.predict.main(["--pretrained", str(tmp_path), "--images", files["image"], "--out",
                                        str(tmp_path / "out"), "--device", "cuda:0"])
    _assert_one_line(code, capsys, "--device cuda:0: no CUDA GPU is visible to PyTorch here "
                                   f"(torch {torch.__version__}, CUDA_VISIBLE_DEVICES and drivers decide); use "
                                   "--device cpu")
    assert not (tmp_path / "out").exists()
