"""Registered components; importing this module registers them."""
from . import metrics  # noqa: F401
