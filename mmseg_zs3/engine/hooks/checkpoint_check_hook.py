"""Refuse a checkpoint whose classifier has another class count."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...apis.checks import (CLASSIFIER_KEY_SUFFIXES,
                            check_checkpoint_num_classes,
                            expected_num_classes_from_model)


@HOOKS.register_module()
class CheckpointClassCountHook(Hook):
    """Raise when a loaded checkpoint was trained for another class count.

    mmengine loads checkpoints with ``strict=False``: a classifier of another
    size is skipped with a ``size mismatch`` warning and stays randomly
    initialised, so a test silently reports chance-level numbers. This hook
    compares the classifier weights (keys ending in ``conv_seg.weight``) of
    every checkpoint the runner loads (``load_from``, ``--resume``,
    ``tools/test.py``) with the model's, before they are loaded, and raises
    naming both class counts. It works under mmseg's own tools too: it is in
    ``custom_hooks`` of ``configs/zs3/_base_/zs3_runtime.py``.

    Args:
        key_suffixes (Sequence[str]): Suffixes of the classifier weight keys
            to compare. Defaults to ``('conv_seg.weight',)``.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 key_suffixes: Sequence[str] = CLASSIFIER_KEY_SUFFIXES
                 ) -> None:
        self.key_suffixes = tuple(key_suffixes)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check ``checkpoint`` (called before it is loaded into the model).

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        source = runner._load_from or 'the checkpoint'
        check_checkpoint_num_classes(
            checkpoint,
            expected_num_classes_from_model(model, self.key_suffixes),
            source=f'Checkpoint {source!r}' if runner._load_from else source,
            key_suffixes=self.key_suffixes)
