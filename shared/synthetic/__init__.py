"""The synthetic "shapes" world: a small, deterministic dataset in the real formats (layout: ``world``)."""
from .world import WorldPaths, generate_world, load_manifest
from .writers import categories

__all__ = ["WorldPaths", "categories", "generate_world", "load_manifest"]
