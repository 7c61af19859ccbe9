"""Registered components; importing this module registers them."""
from . import embeddings  # noqa: F401
