"""The lmms-eval plugin: entry point ``vitamin_llava`` of the group ``lmms_eval.models`` (pyproject.toml).

lmms-eval builds its model registry when ``lmms_eval.models`` is imported, in every process it runs, and loads
every entry point of that group there (0.7.3: ``lmms_eval/models/__init__.py`` ``_initialize_model_registry`` →
``ModelRegistryV2.load_entrypoint_manifests``, ``ep.load()``). Loading this one imports ``llava_lmm``, which
registers the ViTamin tower (``vitamin_vision``) with transformers' ``AutoConfig`` / ``AutoModel``; lmms-eval's own
``llava_hf`` then loads our folders unchanged::

    lmms-eval --model llava_hf --model_args pretrained=DIR,device=cpu --tasks TASK

It adds no model of its own (``manifests`` registers the tower again, idempotently, and returns none). Without our
package installed ``llava_hf`` stops at ``AutoConfig`` with ``Unrecognized model type for subconfig: vitamin_vision``: stock transformers has no ViTamin
tower (a failed plugin import only shows as a warning in lmms-eval's log).
"""
from __future__ import annotations

from llava_lmm.modeling import register


def manifests() -> list:
    """The entry point's payload (lmms-eval calls it right after loading it): registers the tower (idempotent; the
    import of ``llava_lmm`` has done it already) and returns no model manifests."""
    register()
    return []
