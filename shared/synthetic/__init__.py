"""The synthetic "shapes" world: a small, deterministic dataset in the real formats (see ``world``)."""
from .world import WorldPaths, categories, generate_world, load_manifest

__all__ = ["WorldPaths", "categories", "generate_world", "load_manifest"]
