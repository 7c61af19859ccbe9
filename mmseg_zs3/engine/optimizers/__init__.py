"""Optimizer-wrapper constructors and learning-rate schedules."""
from .deeplab_poly_lr import DeepLabPolyLR  # noqa: F401
from .submodule_optim_wrapper_constructor import \
    SubmoduleOptimWrapperConstructor  # noqa: F401
from .trainable_optim_wrapper_constructor import \
    TrainableOptimWrapperConstructor  # noqa: F401
