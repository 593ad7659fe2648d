"""Hugging Face Hub conventions for our model folders, through ``huggingface_hub``: a folder is named by its path
or by a Hub id (``org/name``, resolved through the local cache as ``transformers`` does: offline with
``HF_HUB_OFFLINE=1``), pushed with ``push_folder``, and described by a model card (``README.md`` with the Hub's
YAML header).

    python -m shared.hub push DIR org/name [--private]      # any of our folders (F-ViT, FC-CLIP, LLaVA)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from shared.io import atomic_write_text

CARD_FILE = "README.md"
# never uploaded: in-progress saves, run locks, Trainer checkpoints (the folder itself is the model)
PUSH_IGNORE = [".saving-*", ".saving-*/**", ".lock", "*.tmp", "checkpoint-*/**", "checkpoint-*"]


class ModelFolderError(FileNotFoundError):
    """A model named by a path that does not exist and is not a Hub id, or a Hub id that cannot be resolved."""


def looks_like_hub_id(name: str) -> bool:
    """``org/name`` as the Hub spells repository ids (and not a relative path such as ``./x/y`` or ``a/b/c``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if name.count("/") != 1 or name.startswith((".", "/", "~")) or "\\" in name:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def resolve_folder(name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None,
                   token: str | bool | None = None) -> Path:
    """The local folder of a model: ``name_or_path`` itself when it is a folder, else the snapshot of the Hub model
    ``org/name`` (downloaded into, or with ``HF_HUB_OFFLINE=1`` only read from, the Hub cache). Anything else is
    one ``ModelFolderError`` naming it."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists():
        raise ModelFolderError(f"{name}: a file, not a model folder")
    if not looks_like_hub_id(name):
        raise ModelFolderError(f"{name}: no such folder (and not a Hub model id such as 'org/name')")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    try:
        return Path(snapshot_download(name, revision=revision, cache_dir=cache_dir, token=token))
    except LocalEntryNotFoundError:
        raise ModelFolderError(f"{name}: no such folder, and the Hub model {name!r} is not in the local Hub cache "
                               f"(offline, or the Hub cannot be reached)") from None
    except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as e:
        raise ModelFolderError(f"{name}: no such folder, and no Hub model {name!r} can be read "
                               f"({type(e).__name__}{f', revision {revision!r}' if revision else ''})") from None
    except HfHubHTTPError as e:
        raise ModelFolderError(f"{name}: no such folder, and the Hub answered {e}") from None


def push_folder(folder: str | Path, repo_id: str, *, private: bool | None = None, token: str | None = None,
                commit_message: str = "Upload model", revision: str | None = None, create_pr: bool = False):
    """Create the Hub model repository ``repo_id`` (if needed) and upload ``folder`` into it (``PUSH_IGNORE`` left
    out): what ``huggingface_hub.ModelHubMixin.push_to_hub`` does. Returns the ``CommitInfo``."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelFolderError(f"{folder}: not a model folder (config.json missing)")
    api = HfApi(token=token)
    repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return api.upload_folder(repo_id=repo.repo_id, folder_path=folder, repo_type="model",
                             commit_message=commit_message, revision=revision, create_pr=create_pr,
                             ignore_patterns=PUSH_IGNORE)


# --------------------------------------------------------------------------------------------- model cards
def _scalars(metrics: dict, prefix: str = "") -> list[tuple[str, float | int]]:
    out = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            out += _scalars(v, f"{prefix}{k}/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append((prefix + str(k), v))
    return out


def metrics_table(metrics: dict) -> str:
    """A markdown table of the numbers in ``metrics`` (nested dicts as ``a/b``; lists and text left out)."""
    rows = _scalars(metrics)
    if not rows:
        return "No metrics recorded."
    fmt = (lambda v: f"{v:.4f}" if isinstance(v, float) else str(v))
    return "\n".join(["| metric | value |", "|---|---|"] + [f"| {k} | {fmt(v)} |" for k, v in rows])


def model_card(title: str, summary: str, sections: list[tuple[str, str]], *, pipeline_tag: str | None,
               tags: list[str], library_name: str = "vitamin-downstream") -> str:
    """The text of a model card: the Hub's YAML header (``huggingface_hub.ModelCardData``), the title, a summary
    and ``## heading`` sections."""
    from huggingface_hub import ModelCardData

    header = ModelCardData(library_name=library_name, pipeline_tag=pipeline_tag, tags=tags).to_yaml()
    body = [f"# {title}", "", summary.strip(), ""]
    for heading, text in sections:
        body += [f"## {heading}", "", text.strip(), ""]
    return f"---\n{header}\n---\n\n" + "\n".join(body)


def write_model_card(directory: str | Path, text: str) -> Path:
    path = Path(directory) / CARD_FILE
    atomic_write_text(path, text)
    return path


def training_section(card: dict) -> str:
    """The card's training data and run, from a folder's recorded ``card`` dict (``training_data``, ``run``)."""
    data = card.get("training_data")
    lines = []
    if data:
        lines += [f"- {k}: `{v}`" for k, v in data.items()] if isinstance(data, dict) else [f"- {data}"]
    else:
        lines.append("- not recorded")
    if card.get("run"):
        lines += ["", "Run: " + ", ".join(f"{k} `{v}`" for k, v in card["run"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared.hub", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    push = sub.add_parser("push", help="upload a model folder to the Hub (creates the repository)")
    push.add_argument("folder")
    push.add_argument("repo_id", help="org/name")
    push.add_argument("--private", action="store_true")
    push.add_argument("--message", default="Upload model")
    a = p.parse_args(argv)
    folder = Path(a.folder)
    try:
        check_portable(folder)
        info = push_folder(folder, a.repo_id, private=a.private or None, commit_message=a.message)
    except (ModelFolderError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"pushed {folder} -> {getattr(info, 'commit_url', a.repo_id)}")
    return 0


def check_portable(folder: Path) -> None:
    """A folder whose weights point to a file on this machine (an F-ViT / FC-CLIP folder saved without its CLIP)
    would not load elsewhere: refused, naming the file and the fix."""
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ModelFolderError(f"{folder}: not a model folder (config.json missing)")
    cfg = json.loads(cfg_file.read_text())
    bb = cfg.get("backbone") if isinstance(cfg.get("backbone"), dict) else None
    weights = bb.get("weights") if bb else None
    if bb and not bb.get("included") and isinstance(weights, str) and (folder / weights).is_file():
        raise ValueError(f"{cfg_file}: the CLIP weights are the local file {weights}, not in the folder; save it "
                         "with save_pretrained(dir, include_backbone=True) (or use model.push_to_hub)")


if __name__ == "__main__":
    sys.exit(main())
