"""Generative heads and the feature generators they own."""
from .gmmn_gc_head import GMMNGCGenerativeHead  # noqa: F401
from .gmmn_generator import GMMNGenerator  # noqa: F401
from .gmmn_head import GMMNGenerativeHead  # noqa: F401
