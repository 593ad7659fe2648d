"""The lmms-eval plugin: entry point ``vitamin_llava`` of the group ``lmms_eval.models`` (pyproject.toml).

lmms-eval builds its model registry when ``lmms_eval.models`` is imported, in every process it runs, and loads
every entry point of that group there (0.7.3: ``lmms_eval/models/__init__.py`` ``_initialize_model_registry`` →
``ModelRegistryV2.load_entrypoint_manifests``, ``ep.load()``). Loading this one imports ``llava_lmm``, which
registers the ViTamin tower (``vitamin_vision``) with transformers' ``AutoConfig`` / ``AutoModel``; lmms-eval's own
``llava_hf`` then loads our folders unchanged::

    lmms-eval --model llava_hf --model_args pretrained=DIR,device=cpu --tasks TASK

It adds no model of its own (``manifests`` returns none). Without our package installed ``llava_hf`` stops at
``AutoConfig`` with ``Unrecognized model type for subconfig: vitamin_vision``: stock transformers has no ViTamin
tower (a failed plugin import only shows as a warning in lmms-eval's log).
"""
from __future__ import annotations

import llava_lmm  # noqa: F401  (registers the ViTamin tower with transformers' Auto classes)


def manifests() -> list:
    """The entry point's payload: no model manifests (the import above is the point)."""
    return []
