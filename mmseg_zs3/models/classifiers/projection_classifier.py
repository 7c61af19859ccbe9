"""The DeViSE-style projection classifier (the baseline of ZS3Net)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ProjectionClassifier(BaseModule):
    """Projects pixel features into the word-embedding space.

    The DeViSE-style baseline of ZS3Net (Bucher et al., NeurIPS 2019; as in
    SPNet): a 1x1 convolution maps each pixel feature to the embedding space;
    the score of class ``c`` is ``scale * cos(proj(x), e_c)``. The class
    embeddings are fixed, so a model trained on seen classes only can score
    unseen classes directly (nearest embedding).

    Args:
        in_channels (int): Feature channels.
        num_classes (int): Number of classes.
        class_embedding (dict): Config of a class-embedding component whose
            ``forward()`` returns ``[num_classes, dim]`` in the dataset's class
            order (e.g. ``ClassEmbedding``).
        scale (float): Temperature of the cosine scores. Defaults to 10.
        init_cfg (dict, optional): Defaults to Normal(std=0.01).
    """

    # forward() also takes pixel features [N, C] (the stage-2 cache path).
    accepts_pixel_features = True

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 class_embedding: dict,
                 scale: float = 10.0,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', std=0.01, layer='Conv2d')):
        super().__init__(init_cfg=init_cfg)
        self.class_embedding = MODELS.build(class_embedding)
        emb = self.class_embedding()
        if emb.shape[0] != num_classes:
            raise ValueError(
                f'the class embedding has {emb.shape[0]} classes but the head '
                f'predicts num_classes={num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.scale = scale
        self.conv = nn.Conv2d(in_channels, emb.shape[1], kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Scores of features ``[B, C, H, W]`` (``[B, num_classes, H, W]``)
        or of pixel features ``[N, C]`` (``[N, num_classes]``)."""
        if x.dim() == 2:
            proj = F.normalize(
                F.linear(x, self.conv.weight.flatten(1), self.conv.bias),
                dim=1)
            emb = F.normalize(self.class_embedding().to(proj), dim=1)
            return self.scale * F.linear(proj, emb)
        proj = F.normalize(self.conv(x), dim=1)
        emb = F.normalize(self.class_embedding().to(proj), dim=1)
        return self.scale * F.conv2d(proj, emb[:, :, None, None])
