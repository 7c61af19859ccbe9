"""Uniform initialisation of weights and biases (ZS3Net's stage 2)."""
from mmengine.model.weight_init import UniformInit, update_init_info
from mmseg.registry import WEIGHT_INITIALIZERS
from torch import nn


@WEIGHT_INITIALIZERS.register_module(name='UniformWeightBias')
class UniformWeightBiasInit(UniformInit):
    """Draw weights **and biases** from ``U(a, b)``.

    The official ZS3Net stage 2 re-initialises the classifier with
    ``torch.rand`` for both its weight and its bias (U[0, 1)); mmengine's
    ``Uniform`` init draws the weight only and sets the bias to a constant.
    Use it as ``init_cfg=dict(type='UniformWeightBias', a=0., b=1.,
    layer='Conv2d')``.

    Args:
        a (float): Lower bound. Defaults to 0.
        b (float): Upper bound. Defaults to 1.
        layer (str | list[str], optional): Layer types to initialise, as
            for every mmengine init. Defaults to None.

    Raises:
        ValueError: ``a > b``, or ``bias`` / ``bias_prob`` given (the bias is
            drawn, not set).
    """

    def __init__(self, a: float = 0., b: float = 1., **kwargs) -> None:
        for key in ('bias', 'bias_prob'):
            if key in kwargs:
                raise ValueError(f'UniformWeightBias draws the bias from '
                                 f'U(a, b); {key}={kwargs[key]!r} does not '
                                 "apply (use mmengine's Uniform for a "
                                 'constant bias)')
        if a > b:
            raise ValueError(f'UniformWeightBias: a={a} > b={b}')
        super().__init__(a=a, b=b, **kwargs)

    def __call__(self, module: nn.Module) -> None:

        def init(m: nn.Module) -> None:
            names = {type(m).__name__} | {c.__name__ for c in type(m).__mro__}
            if not (self.wholemodule or set(self.layer) & names):
                return
            for param in (getattr(m, 'weight', None), getattr(m, 'bias',
                                                              None)):
                if isinstance(param, nn.Parameter):
                    nn.init.uniform_(param, self.a, self.b)

        module.apply(init)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return (f'{type(self).__name__}: weight and bias ~ U({self.a}, '
                f'{self.b})')
