"""The 1x1-convolution classifier of ZS3Net."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ConvClassifier(BaseModule):
    """A 1x1 convolution from pixel features to class scores.

    The final classifier of ZS3Net (and of every mmseg decode head, where it
    is ``conv_seg``). Its weights are the part that ZS3Net retrains on real
    seen and generated unseen features.

    Args:
        in_channels (int): Feature channels.
        num_classes (int): Number of classes (seen and unseen).
        init_cfg (dict, optional): Defaults to mmseg's ``conv_seg`` init,
            Normal(std=0.01). The official stage-2 re-initialisation is
            ``dict(type='Uniform', a=0, b=1, layer='Conv2d')``.
    """

    # forward() also takes pixel features [N, C] (the stage-2 cache path).
    accepts_pixel_features = True

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', std=0.01, layer='Conv2d')):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Scores of features ``[B, C, H, W]`` (``[B, num_classes, H, W]``)
        or of pixel features ``[N, C]`` (``[N, num_classes]``, the stage-2
        cache path: the same weights as a matrix product, ~1.3-5x cheaper on
        CPU than a 1x1 convolution over ``[N, C, 1, 1]``)."""
        if x.dim() == 2:
            return F.linear(x, self.conv.weight.flatten(1), self.conv.bias)
        return self.conv(x)
