"""Generative heads."""
from .gmmn_head import GMMNGenerativeHead  # noqa: F401
