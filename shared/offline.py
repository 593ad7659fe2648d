"""Working without internet (the usual state of a cluster node): the Hugging Face Hub's offline switch and cache.

A weight or model named by a Hub id (an open_clip tag such as ``datacomp1b``, ``lmsys/vicuna-7b-v1.5``) that is not
in the cache while ``HF_HUB_OFFLINE`` is set cannot load; the loaders check that first and fail at once with one
line naming the local-file option, instead of a minute of retries and a traceback.
"""
from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read now (huggingface_hub reads it once, at import)."""
    if any(os.environ.get(k, "").upper() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    """The Hub cache folder as the environment says now: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
    huggingface_hub's default (``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        return Path(os.path.expanduser(os.environ["HF_HOME"])) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_hub_file(repo_id: str, filenames: list[str] | tuple[str, ...]) -> str | None:
    """The cached path of the first of ``filenames`` in the Hub repo ``repo_id`` that is in the cache, else None.
    Never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        try:
            found = try_to_load_from_cache(repo_id, name, cache_dir=hub_cache_dir())
        except ValueError:  # not a valid repo id: it cannot be cached either
            return None
        if isinstance(found, str):
            return found
    return None


def offline_message(what: str, local_option: str, download: str) -> str:
    """The one line for ``what`` missing from the cache while offline: where it was looked for, how to fetch it on
    a machine with internet (``download``: the command) and the option that takes a local file or folder."""
    return (f"{what}: not in the Hugging Face cache ({hub_cache_dir()}) and HF_HUB_OFFLINE is set (no downloads): "
            f"give a local copy with {local_option}, or fetch it where there is internet ({download}) and copy the "
            f"cache (HF_HOME) here")
