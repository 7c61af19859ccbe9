"""Registered components; importing this module registers them."""
from .zero_shot_iou_metric import ZeroShotIoUMetric  # noqa: F401
