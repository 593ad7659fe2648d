"""The web demo's start-up: which models it finds, and the errors when it finds none."""
import pytest


def test_app_reports_missing_models_per_tab(tmp_path, monkeypatch):
    import apps.web as app

    monkeypatch.setattr(app, "DEMO", tmp_path)
    models, missing = app.load_models({"fvit": None, "fcclip": None, "llava": None})
    assert models == {} and set(missing) == {"fvit", "fcclip", "llava"}
    assert "python -m apps.demo" in missing["fvit"] and str(tmp_path / "fvit_detection/pretrained") in missing["fvit"]
    with pytest.raises(FileNotFoundError, match=f"--fcclip {tmp_path / 'nope'}: no such folder"):
        app.load_models({"fcclip": str(tmp_path / "nope")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="--fcclip .*empty: no model there .config.json missing"):
        app.load_models({"fcclip": str(tmp_path / "empty")})
    assert app.main(["--fvit", str(tmp_path / "nope")]) == 2


def test_app_reads_a_hub_id_through_the_offline_cache(tmp_path, monkeypatch, offline_hub):
    """``--fvit org/name``: the snapshot in the Hub cache is what the tab loads (no network: ``offline_hub``); an id
    missing from the cache is one error naming the option."""
    import apps.web as app

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    commit = offline_hub("acme/fvit-tiny", tmp_path / "model")
    loaded = {}
    import dataclasses

    fvit = dataclasses.replace(app.TABS[0], load=lambda folder, device: loaded.setdefault("folder", folder))
    monkeypatch.setattr(app, "TABS", [fvit, *app.TABS[1:]])
    models, missing = app.load_models({"fvit": "acme/fvit-tiny"})
    assert loaded["folder"].parts[-2:] == ("snapshots", commit) and set(models) == {"fvit"} and not missing
    with pytest.raises(FileNotFoundError, match="--fvit acme/other: no such folder, and the Hub model 'acme/other' is "
                                                "not in the local Hub cache"):
        app.load_models({"fvit": "acme/other"})
