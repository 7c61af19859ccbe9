"""Optimizer-wrapper constructors."""
from .trainable_optim_wrapper_constructor import \
    TrainableOptimWrapperConstructor  # noqa: F401
