"""Losses."""
from .mmd_loss import MMDLoss, mmd2_multi_kernel  # noqa: F401
