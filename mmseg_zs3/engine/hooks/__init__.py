"""Registered components; importing this module registers them."""
from .check_invalid_loss_hook import CheckInvalidLossHook  # noqa: F401
from .checkpoint_check_hook import CheckpointClassCountHook  # noqa: F401
from .checkpoint_kind_hook import CheckpointKindHook  # noqa: F401
from .class_list_check_hook import ClassListCheckHook  # noqa: F401
from .online_pseudo_label_hook import OnlinePseudoLabelHook  # noqa: F401
from .pseudo_label_hook import PseudoLabelHook  # noqa: F401
from .rng_state_hook import RNGStateCheckpointHook  # noqa: F401
from .show_and_save_visualization_hook import \
    ShowAndSaveVisualizationHook  # noqa: F401
from .work_dir_guard_hook import WorkDirGuardHook  # noqa: F401

#: The plugin's runtime hooks, in the order of
#: ``configs/zs3/_base_/zs3_runtime.py`` (every zs3 config inherits them, so
#: mmseg's own tools get them too; ``tools/train.py`` and ``tools/test.py``
#: add them to a config that has no ``custom_hooks`` at all).
RUNTIME_HOOKS = ('CheckpointClassCountHook', 'CheckpointKindHook',
                 'ClassListCheckHook', 'CheckInvalidLossHook',
                 'RNGStateCheckpointHook', 'WorkDirGuardHook')
