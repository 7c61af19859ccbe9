"""Losses."""
from .ignore_aware_cross_entropy_loss import \
    IgnoreAwareCrossEntropyLoss  # noqa: F401
from .mmd_loss import MMDLoss, mmd2_multi_kernel  # noqa: F401
