"""Decode heads."""
from .zero_shot_head import ZeroShotDecodeHead  # noqa: F401
