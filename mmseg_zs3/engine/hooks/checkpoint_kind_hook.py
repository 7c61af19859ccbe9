"""Refuse a checkpoint that lacks the weights the run needs."""
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint
from mmseg.registry import HOOKS

from ...utils.checkpoint_checks import (NOT_USED_FOR_PREDICTION,
                                        checkpoint_state_dict,
                                        describe_checkpoint,
                                        group_by_component, required_keys)
from .runner_state import (checkpoint_source, frozen_feature_extractor,
                           is_resuming, is_training, unwrapped_model)


@HOOKS.register_module()
class CheckpointKindHook(Hook):
    """Raise when a checkpoint lacks weights that the run would use.

    mmengine loads checkpoints with ``strict=False`` and only warns about
    ``missing keys``: a stage-1 checkpoint tested with a stage-2 config (whose
    classifier is re-initialised, so not loaded), a stage-2 checkpoint tested
    with a plain config, or a stage 2 started from a file without a backbone
    all run to the end on random weights. This hook registers a
    ``load_state_dict`` post-hook on the model for each checkpoint the runner
    loads, so it sees exactly the keys the model's own loading left missing
    (after ``ZeroShotDecodeHead`` has mapped a plain head's keys), and raises
    before anything runs, saying which kind of checkpoint the file is and
    which parts of the model it lacks. What must be loaded:

    - testing: every parameter and normalisation statistic that prediction
      uses (not ``auxiliary_head`` nor ZS3Net's ``generative_head``);
    - ``--resume``: every parameter of the model;
    - training from ``load_from``: for ZS3Net's stage 2, its frozen feature
      extractor (``frozen_modules()``); otherwise at least one weight of the
      model (fine-tuning may load any part, but a file that matches nothing
      is another kind of model).

    ZS3Net's stage 2 is also refused without a checkpoint at all
    (``load_from=None``, or ``--resume`` in a work dir without one): its
    frozen network would stay randomly initialised.
    """
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._handle = None

    def before_run(self, runner) -> None:
        """Refuse ZS3Net's stage 2 when no checkpoint will be loaded.

        ``before_run`` is the last hook before mmengine loads (or does not
        load) a checkpoint, and before a stage-2 loop extracts any feature.

        Raises:
            ValueError: For a stage-2 model that trains with neither
                ``load_from`` nor a checkpoint to resume from.
        """
        model = unwrapped_model(runner)
        if not is_training(runner) or frozen_feature_extractor(model) is None:
            return
        if getattr(runner, '_load_from', None) is not None:
            return
        if is_resuming(runner):
            if find_latest_checkpoint(runner.work_dir) is not None:
                return
            why = (f'--resume found no checkpoint in {runner.work_dir!r} and '
                   '`load_from` is not set')
        else:
            why = '`load_from` is not set'
        raise ValueError(
            f"ZS3Net's stage 2 ({type(model).__name__}) trains on the frozen "
            f'features of a stage-1 network, but {why}: its feature '
            'extractor would stay randomly initialised. Set `load_from` to '
            'the stage-1 (seen-only) checkpoint, e.g. --cfg-options '
            'load_from=work_dirs/<stage-1 run>/iter_N.pth.')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Arrange the check of the keys that loading leaves missing.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint about to be loaded.
        """
        model = unwrapped_model(runner)
        state_dict = checkpoint_state_dict(checkpoint)
        required, task = self._required(runner, model)
        source = checkpoint_source(runner)
        if self._handle is not None:
            self._handle.remove()

        def check(module, incompatible_keys) -> None:
            self._handle.remove()
            self._handle = None
            missing = set(incompatible_keys.missing_keys)
            kind = describe_checkpoint(state_dict)
            if required is None:  # fine-tuning: any part will do
                everything = required_keys(model)
                if everything and missing.issuperset(everything):
                    raise ValueError(
                        f'{source} is {kind}: none of its weights belongs '
                        f'to this model ({type(model).__name__}), so '
                        f'{task} would start from random weights. To '
                        'initialise only the backbone from it, use the '
                        "backbone's `init_cfg=dict(type='Pretrained', "
                        'checkpoint=...)` instead of `load_from`.')
                return
            lacking = [k for k in required if k in missing]
            if not lacking:
                return
            parts = ', '.join(
                f'{part} ({n} tensors)'
                for part, n in group_by_component(lacking).items())
            raise ValueError(
                f'{source} is {kind}; it lacks weights that {task} needs: '
                f'{parts}, e.g. `{lacking[0]}`. They would stay randomly '
                'initialised. Use a checkpoint of the kind this config '
                f'builds ({type(model).__name__} with '
                f'{type(getattr(model, "decode_head", None)).__name__}).')

        self._handle = model.register_load_state_dict_post_hook(check)

    @staticmethod
    def _required(runner, model) -> tuple:
        """The keys the checkpoint must provide, and the task, in words.

        Returns:
            tuple[list[str] | None, str]: The required keys (None: at least
            one key of the model) and what the run does with them.
        """
        if not is_training(runner):
            return (required_keys(
                model, skip_prefixes=NOT_USED_FOR_PREDICTION), 'testing')
        if is_resuming(runner):
            return required_keys(model), 'resuming'
        frozen: Optional[List] = frozen_feature_extractor(model)
        if frozen is not None:
            return (required_keys(
                model, frozen, skip_prefixes=('auxiliary_head.', )),
                    "ZS3Net's stage 2 (its frozen feature extractor)")
        return None, 'fine-tuning'
