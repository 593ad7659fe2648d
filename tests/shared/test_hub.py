"""``shared/hub.py``: which names are Hub ids, one error for a missing folder, the card's metrics table, the push CLI
(against a stub of ``HfApi``: never the network)."""
import math

import pytest

from shared.hub import ModelFolderError, looks_like_hub_id, main, metrics_table, resolve_folder


@pytest.mark.parametrize("name,expected", [
    ("org/name", True), ("jienengchen/ViTamin-L-336px", True), ("org/name.v2", True),
    ("name", False),            # a bare name: a folder, never a look-up
    ("a/b/c", False), ("./org/name", False), ("/org/name", False), ("~/org", False), ("org\\name", False),
    ("org/na me", False), ("org/name--x", False), ("org/", False),
])
def test_hub_ids(name, expected):
    assert looks_like_hub_id(name) is expected


def test_missing_folders_are_one_error(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(ModelFolderError, match=r"f.bin: a file, not a model folder"):
        resolve_folder(tmp_path / "f.bin")
    with pytest.raises(ModelFolderError, match=r"runs/a/pretrained: no such folder \(and not a Hub model id"):
        resolve_folder("runs/a/pretrained")
    assert resolve_folder(tmp_path) == tmp_path


def test_hub_id_missing_from_the_offline_cache(offline_hub):
    with pytest.raises(ModelFolderError, match="'org/name' is not in the local Hub cache"):
        resolve_folder("org/name")


def test_metrics_table():
    table = metrics_table({"AP": 0.12345, "n": 7, "by_split": {"novel": 0.5}, "flag": True, "curve": [1, 2],
                           "name": "x", "bad": math.nan})
    assert table.splitlines() == ["| metric | value |", "|---|---|", "| AP | 0.1235 |", "| n | 7 |",
                                  "| by_split/novel | 0.5000 |"]
    assert metrics_table({}) == "No metrics recorded."


def test_push_cli_uploads_the_folder_without_run_files(tmp_path, monkeypatch, capsys):
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoUrl

    seen = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: RepoUrl(f"https://huggingface.co/{repo_id}"))

    def upload_folder(self, *, repo_id, folder_path, ignore_patterns, **kw):
        from huggingface_hub.utils import filter_repo_objects

        files = sorted(p.relative_to(folder_path).as_posix() for p in folder_path.rglob("*") if p.is_file())
        seen["files"] = list(filter_repo_objects(files, ignore_patterns=ignore_patterns))
        seen["repo"] = repo_id
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/1"})()

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    folder = tmp_path / "llava"
    (folder / "checkpoint-3").mkdir(parents=True)
    for f in ("config.json", "model.safetensors", "README.md", "checkpoint-3/config.json", ".lock"):
        (folder / f).write_text("{}")
    assert main(["push", str(folder), "org/llava-tiny"]) == 0
    assert seen == {"repo": "org/llava-tiny", "files": ["README.md", "config.json", "model.safetensors"]}
    assert "pushed" in capsys.readouterr().out
    assert main(["push", str(tmp_path / "nothing"), "org/x"]) == 2
    assert "config.json missing" in capsys.readouterr().err
