"""Registered components; importing this module registers them."""
from .checkpoint_check_hook import CheckpointClassCountHook  # noqa: F401
from .rng_state_hook import RNGStateCheckpointHook  # noqa: F401
