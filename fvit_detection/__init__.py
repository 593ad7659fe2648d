"""Placeholder: built in its own issue on top of `backbone`."""
