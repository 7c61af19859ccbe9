"""Registered components; importing this module registers them."""
from . import transforms  # noqa: F401
from .camvid import CamVidDataset  # noqa: F401
from .convert_camvid import convert_camvid  # noqa: F401
from .generate_shapes import generate_shapes_dataset  # noqa: F401
from .seen_only_dataset import SeenOnlyDataset  # noqa: F401
from .zs3_shapes import ZS3ShapesDataset  # noqa: F401
