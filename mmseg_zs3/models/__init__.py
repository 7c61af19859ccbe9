"""Registered components; importing this module registers them."""
from . import backbones  # noqa: F401
from . import embeddings  # noqa: F401
from . import generative_heads  # noqa: F401
from . import necks  # noqa: F401
from . import classifiers, decode_heads, losses, segmentors  # noqa: F401
from .data_preprocessor import ZS3DataPreProcessor  # noqa: F401
