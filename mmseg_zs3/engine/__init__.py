"""Registered components; importing this module registers them."""
from . import hooks, optimizers, runner  # noqa: F401
from .feature_cache import FeatureCache  # noqa: F401
