"""Swappable final classifiers of the zero-shot decode head."""
from .conv_classifier import ConvClassifier  # noqa: F401
from .projection_classifier import ProjectionClassifier  # noqa: F401
from .uniform_init import UniformWeightBiasInit  # noqa: F401
