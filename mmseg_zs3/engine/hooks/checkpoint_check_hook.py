"""Refuse (or, to fine-tune, re-initialise) a classifier for other classes."""
import logging
from typing import Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...utils.checkpoint_checks import (CLASSIFIER_KEY_SUFFIXES,
                                        checkpoint_classes, classifier_keys,
                                        expected_num_classes_from_model,
                                        find_num_classes_mismatches)
from .runner_state import (checkpoint_source, dataset_classes,
                           frozen_feature_extractor, is_resuming, is_training,
                           unwrapped_model)


def _short(classes: Sequence[str], n: int = 4) -> str:
    head = ', '.join(repr(c) for c in list(classes)[:n])
    return f'[{head}{", ..." if len(classes) > n else ""}] ({len(classes)})'


@HOOKS.register_module()
class CheckpointClassCountHook(Hook):
    """Compare the classes of a loaded checkpoint with the model and data.

    mmengine loads checkpoints with ``strict=False``: a classifier of another
    size is skipped with a ``size mismatch`` warning and stays randomly
    initialised, so a test silently reports chance-level numbers. Before a
    checkpoint is loaded, this hook compares its classifier weights (mmseg's
    ``conv_seg``, the ``classifier`` of ``ZeroShotDecodeHead``, class
    embeddings; see
    :func:`~mmseg_zs3.utils.checkpoint_checks.expected_num_classes_from_model`)
    with the model's, and the class names that mmengine saved with it
    (``meta.dataset_meta.classes``) with the dataset's:

    - testing (``tools/test.py``, ``Runner.test()``/``val()``) and
      ``--resume``: another class count, or another class list, is an error
      naming both;
    - training from ``load_from`` (fine-tuning, e.g. from COCO weights): the
      checkpoint loads without its classifier, which keeps its fresh
      initialisation, and a warning says so. Except in ZS3Net's stage 2, whose
      frozen network must be the stage-1 network of these classes: an error.

    It runs under mmseg's own tools too: it is in ``custom_hooks`` of
    ``configs/zs3/_base_/zs3_runtime.py``.

    Args:
        key_suffixes (Sequence[str]): Ends of the classifier keys to compare.
            Defaults to
            :data:`~mmseg_zs3.utils.checkpoint_checks.CLASSIFIER_KEY_SUFFIXES`.
    """
    priority = 'VERY_HIGH'

    def __init__(
            self,
            key_suffixes: Sequence[str] = CLASSIFIER_KEY_SUFFIXES) -> None:
        self.key_suffixes = tuple(key_suffixes)
        # (source, classes) of a checkpoint loaded for testing, compared with
        # the test (or val) dataset once its loop starts
        self._tested: Optional[Tuple[str, Tuple[str, ...]]] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check ``checkpoint`` (called before it is loaded into the model).

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint; when fine-tuning, its
                classifier entries are removed from ``state_dict``.

        Raises:
            ValueError: When testing or resuming with a checkpoint of another
                class count or class list, or when ZS3Net's stage 2 starts
                from one.
        """
        model = unwrapped_model(runner)
        source = checkpoint_source(runner)
        mismatches = find_num_classes_mismatches(
            checkpoint,
            expected_num_classes_from_model(model, self.key_suffixes),
            self.key_suffixes)
        saved = checkpoint_classes(checkpoint)
        if not is_training(runner):
            self._tested = (source, saved) if saved is not None else None
            if mismatches:
                raise ValueError(
                    self._count_message(source, mismatches[0]) +
                    " It cannot be evaluated: its classifier would stay "
                    'randomly initialised. Use a checkpoint trained for this '
                    "config's classes.")
            return
        data = dataset_classes(runner.train_dataloader.dataset)
        renamed = (
            saved is not None and data is not None
            and tuple(saved) != tuple(data))
        if not mismatches and not renamed:
            return
        what = (
            self._count_message(source, mismatches[0]) if mismatches else
            self._names_message(source, saved, data, 'training'))
        if is_resuming(runner):
            raise ValueError(
                what + ' --resume continues a run with the same classes; to '
                'fine-tune from this checkpoint, start a new run with '
                '`load_from` (its classifier is then re-initialised).')
        if frozen_feature_extractor(model) is not None:
            raise ValueError(
                what + " ZS3Net's stage 2 keeps the stage-1 network frozen, "
                'so it must be the stage-1 (seen-only) network trained on '
                "this dataset's classes: set `load_from` to that checkpoint.")
        self._drop_classifier(checkpoint, model, what)

    def before_val(self, runner) -> None:
        """Compare a tested checkpoint's classes with the val dataset's."""
        self._check_tested(runner, lambda: runner.val_dataloader.dataset)

    def before_test(self, runner) -> None:
        """Compare a tested checkpoint's classes with the test dataset's."""
        self._check_tested(runner, lambda: runner.test_dataloader.dataset)

    def _check_tested(self, runner, get_dataset) -> None:
        """Raise if the checkpoint loaded for testing names other classes."""
        if self._tested is None or is_training(runner):
            return
        source, saved = self._tested
        data = dataset_classes(get_dataset())
        if data is not None and tuple(saved) != tuple(data):
            raise ValueError(
                self._names_message(source, saved, data, 'test') +
                " Its predictions would be scored against another class list "
                "(e.g. Pascal-Context 59 vs 60: every label off by one). Use "
                "a checkpoint trained on this dataset's classes, or the "
                'dataset it was trained on.')

    @staticmethod
    def _count_message(source: str, mismatch) -> str:
        key, found, want = mismatch
        return (f'{source} was trained for {found} classes (`{key}` has '
                f'{found} outputs), but the config builds a model with '
                f'{want} classes.')

    @staticmethod
    def _names_message(source: str, saved, data, kind: str) -> str:
        differ = next(
            (i for i, (a, b) in enumerate(zip(saved, data)) if a != b),
            min(len(saved), len(data)))
        at = (f'class {differ} is {saved[differ]!r} there and '
              f'{data[differ]!r} here'
              if differ < min(len(saved), len(data)) else 'one list is longer')
        return (f'{source} was trained on the classes {_short(saved)}, but '
                f'the {kind} dataset has {_short(data)} ({at}).')

    def _drop_classifier(self, checkpoint: dict, model, what: str) -> None:
        """Remove the classifier from ``checkpoint`` and warn (fine-tuning)."""
        state_dict = checkpoint.get('state_dict', checkpoint)
        drop = set(classifier_keys(model))
        dropped = [
            k for k in list(state_dict)
            if (k[len('module.'):] if k.startswith('module.') else k) in drop
        ]
        for key in dropped:
            del state_dict[key]
        print_log(
            f'{what} Fine-tuning: the checkpoint is loaded without its '
            f'classifier ({", ".join(dropped)}), which keeps its fresh '
            'initialisation and is trained for the new classes.',
            logger='current',
            level=logging.WARNING)
