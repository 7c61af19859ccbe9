"""Stop training at the first NaN or infinite loss."""
import math
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Raise at the first iteration whose loss is NaN or infinite.

    A NaN loss does not stop mmengine: the weights become NaN, every later
    iteration logs ``loss: nan``, checkpoints of NaN weights are saved and the
    run exits 0. Like mmdet's hook of the same name, this one checks the
    logged losses after each iteration, but it raises (instead of logging),
    names the iteration, epoch and batch and every non-finite loss term, and
    runs before the checkpoint hook, so no checkpoint of that iteration is
    written. Under DDP the ranks agree (one all-reduce of a flag per checked
    iteration), so all of them stop together.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'CheckInvalidLossHook: interval={interval!r}; '
                             'expected an integer >= 1.')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Check the losses of the iteration that just ran.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the epoch.
            data_batch: The batch. Defaults to None.
            outputs (dict, optional): The logged variables of
                ``train_step`` (``loss`` and each loss term).

        Raises:
            FloatingPointError: Naming the iteration and the bad terms.
        """
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        bad = {
            key: _show(value)
            for key, value in outputs.items()
            if 'loss' in key and not _finite(value)
        }
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag)
            if flag.item() and not bad:
                raise FloatingPointError(
                    f'Training stopped at iteration {runner.iter + 1}: '
                    'another rank had a non-finite loss (see its log).')
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            raise FloatingPointError(
                f'Training stopped: non-finite loss at iteration '
                f'{runner.iter + 1} (epoch {runner.epoch + 1}, batch '
                f'{batch_idx + 1}): {terms}. The weights of this iteration '
                'are not saved. Common causes: a NaN or infinite input '
                '(image, label or class embedding), or a learning rate too '
                'high.')


def _show(value) -> str:
    if isinstance(value, torch.Tensor):
        return str(value.item() if value.numel() == 1 else value.tolist())
    return str(value)


def _finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all())
    if isinstance(value, Sequence):
        return all(_finite(v) for v in value)
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True
