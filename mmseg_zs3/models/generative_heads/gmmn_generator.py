"""The GMMN generator of ZS3Net."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS

NOISE_TYPES = ('uniform', 'gaussian')


@MODELS.register_module()
class GMMNGenerator(BaseModule):
    """Generative moment-matching network: class embedding + noise -> feature.

    The generator of ZS3Net (Bucher et al., "Zero-Shot Semantic Segmentation",
    NeurIPS 2019): ``concat(embedding, noise) -> Linear(hidden) ->
    LeakyReLU(0.2) -> Dropout(0.5) -> Linear(feat_dim)``, no output
    activation, Xavier-uniform weights and biases 0.01 (the official
    initialisation). The official code draws the noise from U[0, 1) while the
    paper says Gaussian; ``noise='uniform'`` (default) reproduces the code.

    Args:
        embed_dim (int): Class-embedding dimension. Defaults to 300.
        noise_dim (int): Noise dimension. Defaults to 300.
        hidden_dim (int): Hidden width. Defaults to 256.
        feat_dim (int): Output feature dimension: the channels that enter the
            segmentation classifier. Defaults to 256.
        dropout (float): Dropout after the hidden layer. Defaults to 0.5.
        negative_slope (float): LeakyReLU slope. Defaults to 0.2.
        noise (str): ``'uniform'`` (U[0, 1), official code) or ``'gaussian'``
            (N(0, 1), the paper). Defaults to 'uniform'.
        init_cfg (dict, optional): Initialisation config. Defaults to the
            official Xavier-uniform weights with bias 0.01.
    """

    def __init__(self,
                 embed_dim: int = 300,
                 noise_dim: int = 300,
                 hidden_dim: int = 256,
                 feat_dim: int = 256,
                 dropout: float = 0.5,
                 negative_slope: float = 0.2,
                 noise: str = 'uniform',
                 init_cfg: Optional[dict] = dict(
                     type='Xavier',
                     distribution='uniform',
                     bias=0.01,
                     layer='Linear')):
        super().__init__(init_cfg=init_cfg)
        if noise not in NOISE_TYPES:
            raise ValueError(f'noise={noise!r} is not supported; expected one '
                             f'of {NOISE_TYPES}')
        for name, value in [('embed_dim', embed_dim), ('noise_dim', noise_dim),
                            ('hidden_dim', hidden_dim),
                            ('feat_dim', feat_dim)]:
            if int(value) <= 0:
                raise ValueError(f'{name}={value} must be a positive integer')
        self.embed_dim = embed_dim
        self.noise_dim = noise_dim
        self.feat_dim = feat_dim
        self.noise = noise
        self.fc1 = nn.Linear(embed_dim + noise_dim, hidden_dim)
        self.act = nn.LeakyReLU(negative_slope)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, feat_dim)

    def sample_noise(
            self,
            n: int,
            device=None,
            generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw ``n`` noise vectors of the configured distribution."""
        device = device or self.fc1.weight.device
        shape = (n, self.noise_dim)
        if self.noise == 'uniform':
            return torch.rand(shape, device=device, generator=generator)
        return torch.randn(shape, device=device, generator=generator)

    def forward(self,
                embeddings: torch.Tensor,
                noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Generate one feature per embedding row.

        Args:
            embeddings (Tensor): ``[N, embed_dim]`` class embeddings (repeat a
                row to draw several features of one class).
            noise (Tensor, optional): ``[N, noise_dim]``; drawn if None.
            generator (torch.Generator, optional): Random source of the noise.

        Returns:
            Tensor: ``[N, feat_dim]`` generated features.
        """
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f'embeddings of shape {tuple(embeddings.shape)} do not fit '
                f'the generator; expected [N, {self.embed_dim}] (embed_dim)')
        if noise is None:
            noise = self.sample_noise(embeddings.shape[0], embeddings.device,
                                      generator)
        x = torch.cat([embeddings.to(noise.dtype), noise], dim=1)
        hidden = self.act(self.fc1(x))
        p = self.dropout.p
        if self.training and p > 0:
            # nn.Dropout's semantics (inverted dropout, global RNG) with a
            # uniform-threshold mask: ~2x cheaper than bernoulli_ on CPU.
            keep = torch.rand_like(hidden) >= p
            hidden = hidden * keep / (1 - p) if p < 1 else hidden * 0
        return self.fc2(hidden)
