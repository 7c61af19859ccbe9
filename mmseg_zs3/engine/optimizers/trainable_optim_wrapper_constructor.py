"""An optimizer-wrapper constructor that leaves frozen modules out quietly."""
from typing import List, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, without a warning per frozen tensor.

    With a ``paramwise_cfg``, mmengine's ``DefaultOptimWrapperConstructor``
    leaves parameters with ``requires_grad=False`` out of the optimizer and
    logs a warning for each ("... is skipped since its
    requires_grad=False"): 54 to 195 lines for ZS3Net's stage 2, whose whole
    feature extractor is frozen. This constructor skips every module whose
    parameters are all frozen before mmengine sees it, so the optimizer gets
    exactly the same parameter groups, and logs one line instead: how many
    parameters are trained and which frozen modules are left out.

    Use it as ``optim_wrapper = dict(constructor=
    'TrainableOptimWrapperConstructor', ...)``; the arguments are those of
    :class:`DefaultOptimWrapperConstructor`.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper of ``model``'s trainable parameters.

        Args:
            model (nn.Module): The model (or a DDP wrapper of it).

        Returns:
            OptimWrapper: As :class:`DefaultOptimWrapperConstructor`.
        """
        self._frozen: List[str] = []
        optim_wrapper = super().__call__(model)
        module = model.module if hasattr(model, 'module') else model
        trained = [p for p in module.parameters() if p.requires_grad]
        frozen = [p for p in module.parameters() if not p.requires_grad]
        frozen_names = self._frozen or sorted({
            n.split('.')[0]
            for n, p in module.named_parameters() if not p.requires_grad
        })
        print_log(
            f'optimizer: {sum(p.numel() for p in trained)} trainable '
            f'parameters in {len(trained)} tensors; '
            f'{sum(p.numel() for p in frozen)} frozen parameters '
            f'(requires_grad=False) left out' +
            (f': {", ".join(frozen_names)}' if frozen_names else ''),
            logger='current')
        return optim_wrapper

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[int] = None) -> None:
        """As :meth:`DefaultOptimWrapperConstructor.add_params`, except that
        a module whose parameters are all frozen is left out silently."""
        own = list(module.parameters())
        if own and not any(p.requires_grad for p in own):
            self._frozen.append(prefix or type(module).__name__)
            return
        super().add_params(params, module, prefix, is_dcn_module)
