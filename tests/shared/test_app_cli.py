"""The web demo's start-up: which models it finds, and the errors when it finds none."""
import pytest


def test_app_reports_missing_models_per_tab(tmp_path, monkeypatch):
    import shared.app as app

    monkeypatch.setattr(app, "DEFAULTS", {k: tmp_path / k for k in ("fvit", "fcclip", "llava")})
    models, missing = app.load_models({"fvit": None, "fcclip": None, "llava": None})
    assert models == {} and set(missing) == {"fvit", "fcclip", "llava"}
    assert "python -m shared.demo" in missing["fvit"] and str(tmp_path / "fvit") in missing["fvit"]
    with pytest.raises(FileNotFoundError, match="--fcclip .*config.json missing"):
        app.load_models({"fcclip": str(tmp_path / "nope")})
    assert app.main(["--fvit", str(tmp_path / "nope")]) == 2
