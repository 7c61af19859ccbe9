"""Refuse a model and a dataset that disagree on the classes."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...datasets.transforms import CheckSegMap
from .runner_state import dataset_classes, unwrapped_model


def model_num_classes(model) -> Optional[int]:
    """The class count a segmentor predicts (its decode head's).

    Args:
        model (nn.Module): The unwrapped segmentor.

    Returns:
        int | None: ``num_classes`` of the model or its decode head.
    """
    for owner in (model, getattr(model, 'decode_head', None)):
        num_classes = getattr(owner, 'num_classes', None)
        if isinstance(num_classes, int):
            return num_classes
    return None


def model_class_names(model) -> Optional[Sequence[str]]:
    """The class names a model was built for, if it knows them.

    A ``ZeroShotDecodeHead`` with a split knows them (``split.classes``);
    mmseg's plain heads know only a count.
    """
    split = getattr(getattr(model, 'decode_head', None), 'split', None)
    classes = getattr(split, 'classes', None)
    return tuple(classes) if classes is not None else None


@HOOKS.register_module()
class ClassListCheckHook(Hook):
    """Raise when the model's classes are not the dataset's.

    mmseg scores predictions against labels by index: a model for 21 classes
    tested on a 17-class dataset has its predictions 17-20 dropped from the
    metric without a word, and a 60-class model on the 59-class
    Pascal-Context is off by one on every label. This hook compares the
    model's class count (and, for ``ZeroShotDecodeHead``, its class names)
    with ``metainfo['classes']`` of every dataset of the run: train and val
    datasets before training starts, the val or test dataset before
    ``Runner.val()``/``test()`` run, so a mismatch is refused before any
    work. The ``num_classes`` of a ``CheckSegMap`` in a dataset's pipeline
    must be the dataset's class count too.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Check the train dataset and, if validating, the val dataset."""
        self._check(runner, runner.train_dataloader.dataset, 'train')
        if runner.val_loop is not None:
            self._check(runner, runner.val_dataloader.dataset, 'val')

    def before_val(self, runner) -> None:
        """Check the val dataset."""
        self._check(runner, runner.val_dataloader.dataset, 'val')

    def before_test(self, runner) -> None:
        """Check the test dataset."""
        self._check(runner, runner.test_dataloader.dataset, 'test')

    @staticmethod
    def _check(runner, dataset, kind: str) -> None:
        """Compare the model with ``dataset``.

        Raises:
            ValueError: Naming both class counts (or the first differing
                class name) and the dataset.
        """
        classes = dataset_classes(dataset)
        model = unwrapped_model(runner)
        num_classes = model_num_classes(model)
        if classes is None or num_classes is None:
            return
        name = type(dataset).__name__
        pipeline = getattr(
            getattr(dataset, 'pipeline', None), 'transforms', None) or []
        for transform in pipeline:
            if (isinstance(transform, CheckSegMap)
                    and transform.num_classes != len(classes)):
                raise ValueError(
                    f'The {kind} pipeline has {transform!r}, but the {kind} '
                    f'dataset ({name}) has {len(classes)} classes: set its '
                    f'num_classes to {len(classes)}.')
        if num_classes != len(classes):
            raise ValueError(
                f'The model predicts {num_classes} classes, but the {kind} '
                f'dataset ({name}) has {len(classes)}: '
                f'{list(classes)[:5]}{"..." if len(classes) > 5 else ""}. '
                'mmseg compares prediction and label by index, so the scores '
                'would be wrong without a word. Set the decode head\'s '
                f'`num_classes` to {len(classes)}, or use the dataset the '
                'model is for.')
        names = model_class_names(model)
        if names is not None and tuple(names) != tuple(classes):
            i = next(i for i, (a, b) in enumerate(zip(names, classes))
                     if a != b)
            raise ValueError(
                f'The model was built for other classes than the {kind} '
                f'dataset ({name}) has: class {i} is {names[i]!r} in the '
                f'model (decode_head classes) and {classes[i]!r} in the '
                'dataset. Build the model with the dataset\'s class list '
                '(`classes=` of ZeroShotDecodeHead).')
