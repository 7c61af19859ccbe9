"""Registered components; importing this module registers them."""
from .check_invalid_loss_hook import CheckInvalidLossHook  # noqa: F401
from .checkpoint_check_hook import CheckpointClassCountHook  # noqa: F401
from .checkpoint_kind_hook import CheckpointKindHook  # noqa: F401
from .class_list_check_hook import ClassListCheckHook  # noqa: F401
from .rng_state_hook import RNGStateCheckpointHook  # noqa: F401
from .show_and_save_visualization_hook import \
    ShowAndSaveVisualizationHook  # noqa: F401
from .work_dir_guard_hook import WorkDirGuardHook  # noqa: F401
