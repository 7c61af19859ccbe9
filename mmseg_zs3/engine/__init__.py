"""Registered components; importing this module registers them."""
from . import hooks  # noqa: F401
