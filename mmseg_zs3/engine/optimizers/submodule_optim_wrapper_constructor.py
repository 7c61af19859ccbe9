"""One optimizer wrapper per named submodule (an ``OptimWrapperDict``)."""
import copy
from typing import Dict, Optional

import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .trainable_optim_wrapper_constructor import \
    TrainableOptimWrapperConstructor


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SubmoduleOptimWrapperConstructor:
    """Build an :class:`OptimWrapperDict`: one optimizer per submodule.

    The official ZS3Net stage 2 trains two parts of the model with two
    optimizers and two schedules: the generator with Adam at a constant lr,
    the classifier with SGD and a poly decay. mmengine runs this as it runs
    GANs: the optimizer wrappers are an ``OptimWrapperDict`` that the model's
    ``train_step(data, optim_wrapper)`` uses by name, and ``param_scheduler``
    may be a dict of scheduler lists keyed by the same names. Each entry
    names its submodule (a dotted path from the model) and is built by
    :class:`TrainableOptimWrapperConstructor` on that submodule, so it takes
    the usual ``type``, ``optimizer``, ``paramwise_cfg``, ``clip_grad``...::

        optim_wrapper = dict(
            constructor='SubmoduleOptimWrapperConstructor',
            generator=dict(module='generative_head', type='OptimWrapper',
                           optimizer=dict(type='Adam', lr=2e-4)),
            classifier=dict(module='decode_head.classifier',
                            type='OptimWrapper',
                            optimizer=dict(type='SGD', lr=0.07)))

    Every trainable parameter of the model must belong to exactly one entry:
    one left out would silently never train.

    Args:
        optim_wrapper_cfg (dict): ``{name: wrapper config with module=}``.
        paramwise_cfg (dict, optional): Must be None: give it per entry.

    Raises:
        ValueError: No entry, an entry that is no dict or has no ``module``,
            a top-level ``type`` or ``paramwise_cfg`` (they belong to each
            entry), a module path that does not exist, two entries sharing a
            parameter, a trainable parameter in no entry, or a model wrapped
            for distributed training (the entries' modules are stepped
            outside the wrapper, so their gradients would not be averaged).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        cfg = dict(optim_wrapper_cfg)
        misplaced = sorted(k for k in ('type', 'optimizer') if k in cfg) + (
            ['paramwise_cfg'] if paramwise_cfg is not None else [])
        if misplaced:
            raise ValueError(
                f'SubmoduleOptimWrapperConstructor: {misplaced} at the top '
                'of optim_wrapper; they belong to each named entry (e.g. '
                "optim_wrapper.generator.type='AmpOptimWrapper')")
        if not cfg:
            raise ValueError('SubmoduleOptimWrapperConstructor: optim_wrapper '
                             'has no entry; expected name=dict(module=..., '
                             'optimizer=...) per optimizer')
        for name, entry in cfg.items():
            if not isinstance(entry, dict) or not isinstance(
                    entry.get('module'), str):
                raise ValueError(
                    f'SubmoduleOptimWrapperConstructor: optim_wrapper.{name}'
                    f' = {entry!r}; expected a dict with module= (the dotted '
                    'path of a submodule, e.g. "generative_head")')
        self.optim_wrapper_cfg = copy.deepcopy(cfg)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build one optimizer wrapper per entry.

        Args:
            model (nn.Module): The model.

        Returns:
            OptimWrapperDict: The wrappers, keyed by the entries' names.
        """
        if is_model_wrapper(model):
            raise ValueError(
                'SubmoduleOptimWrapperConstructor: the model is wrapped by '
                f'{type(model).__name__} (distributed training), but its '
                'separate optimizers step submodules outside the wrapper, '
                'whose gradients would not be averaged; train in one '
                'process (as the official ZS3Net code does) or use one '
                'optimizer')
        modules = dict(model.named_modules())
        wrappers: Dict[str, object] = {}
        owner: Dict[int, str] = {}
        for name, entry in self.optim_wrapper_cfg.items():
            entry = copy.deepcopy(entry)
            path = entry.pop('module')
            if path not in modules:
                raise ValueError(
                    f'SubmoduleOptimWrapperConstructor: optim_wrapper.{name}'
                    f'.module={path!r} is no submodule of '
                    f'{type(model).__name__}')
            module = modules[path]
            for p in module.parameters():
                if p.requires_grad and id(p) in owner:
                    raise ValueError(
                        'SubmoduleOptimWrapperConstructor: optim_wrapper.'
                        f'{name} and optim_wrapper.{owner[id(p)]} share '
                        f'parameters (module {path!r}); each parameter '
                        'belongs to one optimizer')
                if p.requires_grad:
                    owner[id(p)] = name
            paramwise_cfg = entry.pop('paramwise_cfg', None)
            constructor = TrainableOptimWrapperConstructor(
                entry, paramwise_cfg)
            wrappers[name] = constructor(module)
        orphans = [
            n for n, p in model.named_parameters()
            if p.requires_grad and id(p) not in owner
        ]
        if orphans:
            raise ValueError(
                'SubmoduleOptimWrapperConstructor: trainable parameters in '
                f'no optimizer: {orphans[:5]}'
                f'{" ..." if len(orphans) > 5 else ""}; add an entry whose '
                'module holds them, or freeze them')
        return OptimWrapperDict(**wrappers)
