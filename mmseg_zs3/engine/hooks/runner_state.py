"""What a runner is doing, as the checking hooks need to know it.

mmengine calls ``after_load_checkpoint`` with the same arguments whether the
checkpoint is loaded for testing, for fine-tuning (``load_from``) or to
resume; the hooks of this package answer differently in each case. mmengine
has no public attribute for this: these helpers read the runner's loop
objects, documented here once.
"""
from typing import List, Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import BaseLoop, find_latest_checkpoint


def unwrapped_model(runner) -> nn.Module:
    """The runner's segmentor, without its DDP (or other) wrapper and
    without the test-time-augmentation model of ``tools/test.py --tta``
    (mmengine loads checkpoints into the segmentor inside both)."""
    model = runner.model
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def is_training(runner) -> bool:
    """Whether ``runner.train()`` runs.

    ``Runner.train()`` builds its train loop before it calls any hook;
    ``Runner.test()`` and ``Runner.val()`` never build it.
    """
    return isinstance(getattr(runner, '_train_loop', None), BaseLoop)


def is_resuming(runner) -> bool:
    """Whether the runner trains and resumes (``--resume``)."""
    return is_training(runner) and bool(getattr(runner, '_resume', False))


def checkpoint_source(runner) -> str:
    """How to name the checkpoint that ``runner`` loads, for messages.

    ``load_from`` when set, else (``--resume`` without ``load_from``) the
    latest checkpoint of the work dir, as mmengine finds it.
    """
    load_from = getattr(runner, '_load_from', None)
    if load_from is None and is_resuming(runner):
        load_from = find_latest_checkpoint(runner.work_dir)
    return f'Checkpoint {load_from!r}' if load_from else 'The checkpoint'


def frozen_feature_extractor(model: nn.Module) -> Optional[List[nn.Module]]:
    """The frozen feature extractor of a ZS3Net stage-2 model, else None.

    A stage-2 segmentor (``ZS3EncoderDecoder``) names the modules it keeps
    frozen with ``frozen_modules()``; they are trained in stage 1 and must be
    loaded from its checkpoint.
    """
    frozen = getattr(model, 'frozen_modules', None)
    if not callable(frozen):
        return None
    return [m for m in frozen() if m is not None]


def dataset_classes(dataset) -> Optional[Sequence[str]]:
    """``dataset.metainfo['classes']``, or None when it has none."""
    metainfo = getattr(dataset, 'metainfo', None) or {}
    classes = metainfo.get('classes')
    return tuple(classes) if classes is not None else None
