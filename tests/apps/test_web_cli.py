"""The web demo's start-up: which models it finds, and the errors when it finds none."""
import pytest


def test_app_reports_missing_models_per_tab(tmp_path, monkeypatch):
    import apps.web as app

    monkeypatch.setattr(app, "DEMO", tmp_path)
    models, missing = app.load_models({"fvit": None, "fcclip": None, "llava": None})
    assert models == {} and set(missing) == {"fvit", "fcclip", "llava"}
    assert "python -m apps.demo" in missing["fvit"] and str(tmp_path / "fvit_detection/pretrained") in missing["fvit"]
    with pytest.raises(FileNotFoundError, match="--fcclip .*config.json missing"):
        app.load_models({"fcclip": str(tmp_path / "nope")})
    assert app.main(["--fvit", str(tmp_path / "nope")]) == 2
