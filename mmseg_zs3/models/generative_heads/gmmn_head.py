"""The generative head of ZS3Net: a GMMN generator and its MMD loss."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


def sample_per_class(
        labels: Tensor,
        class_ids: Tensor,
        num_samples: int,
        generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Draw ``num_samples`` indices per class, with replacement, vectorised.

    Args:
        labels (Tensor): ``[N]`` class index of each sample.
        class_ids (Tensor): ``[K]`` classes to sample.
        num_samples (int): Samples per class.
        generator (torch.Generator, optional): Random source.

    Returns:
        tuple[Tensor, Tensor]: ``[K', num_samples]`` indices into ``labels``
        for the K' classes of ``class_ids`` present in ``labels``, and those
        ``[K']`` class ids.
    """
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    start = torch.searchsorted(sorted_labels, class_ids)
    end = torch.searchsorted(sorted_labels, class_ids, right=True)
    counts = end - start
    present = counts > 0
    start, counts = start[present], counts[present]
    u = torch.rand((int(present.sum()), num_samples),
                   device=labels.device,
                   generator=generator)
    offsets = (u * counts[:, None]).long().clamp_max(counts[:, None] - 1)
    return order[start[:, None] + offsets], class_ids[present]


def with_default_feat_dim(generative_head: dict, channels: int) -> dict:
    """A generative head config whose generator makes ``channels``-d
    features unless the config says otherwise.

    The features ZS3Net generates are those that enter the classifier, whose
    width is the decode head's ``channels`` (256 for ZS3Net's DeepLabV3+, 270
    for an HRNet-W18 FCN, 512 for UPerNet...), so a config need not repeat
    it: a ``generator`` without ``feat_dim`` gets ``channels``.

    Args:
        generative_head (dict): Config of the generative head.
        channels (int): Width of the features that enter the classifier.

    Returns:
        dict: A copy of ``generative_head`` with ``generator.feat_dim`` set
        when it was left out; the config itself is not modified.
    """
    generator = generative_head.get('generator')
    if not isinstance(generator, dict) or 'feat_dim' in generator:
        return generative_head
    return dict(generative_head, generator=dict(generator, feat_dim=channels))


@MODELS.register_module()
class GMMNGenerativeHead(BaseModule):
    """Generates pixel features of any class from its word embedding.

    The feature generator of ZS3Net (Bucher et al., "Zero-Shot Semantic
    Segmentation", NeurIPS 2019). It owns a generator (e.g.
    :class:`GMMNGenerator`) and its loss (:class:`MMDLoss`). :meth:`loss`
    trains on real features of the classes it is given (the segmentor passes
    the seen classes only); :meth:`generate` draws features of any class.
    Being a submodule of the segmentor, it is saved in its checkpoints, so a
    trained model can generate features for new classes later.

    Args:
        generator (dict): Config of the generator.
        loss (dict): Config of the distribution loss. Defaults to
            ``dict(type='MMDLoss')``.
        num_samples (int): Real and generated features per class in one loss
            evaluation (sampled with replacement). Defaults to 128 (official).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 generator: dict,
                 loss: dict = dict(type='MMDLoss'),
                 num_samples: int = 128,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if int(num_samples) <= 0:
            raise ValueError(f'num_samples={num_samples} must be positive')
        self.generator = MODELS.build(generator)
        self.loss_fn = MODELS.build(loss)
        self.num_samples = int(num_samples)

    @property
    def embed_dim(self) -> int:
        return self.generator.embed_dim

    @property
    def feat_dim(self) -> int:
        return self.generator.feat_dim

    def check_embeddings(self, embeddings: Tensor) -> None:
        """Raise if the class embeddings do not fit the generator."""
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f'class embeddings of shape {tuple(embeddings.shape)} do not '
                f'match the generator: expected dimension {self.embed_dim} '
                '(generator.embed_dim); rebuild the embedding file or set '
                'embed_dim')

    def generate(self,
                 class_ids: Sequence[int],
                 n: int,
                 embeddings: Tensor,
                 generator: Optional[torch.Generator] = None) -> Tensor:
        """Generate ``n`` features for each class of ``class_ids``.

        Args:
            class_ids (Sequence[int]): Global class indices (rows of
                ``embeddings``).
            n (int): Features per class.
            embeddings (Tensor): ``[num_classes, embed_dim]``.
            generator (torch.Generator, optional): Noise source.

        Returns:
            Tensor: ``[len(class_ids), n, feat_dim]``.
        """
        self.check_embeddings(embeddings)
        ids = torch.as_tensor(
            class_ids, dtype=torch.long, device=embeddings.device)
        if ids.numel() and (ids.min() < 0 or ids.max() >= len(embeddings)):
            raise IndexError(f'class ids {ids.tolist()} out of range for '
                             f'{len(embeddings)} class embeddings')
        feats = self.generator(
            embeddings[ids], generator=generator, num_samples=n)
        return feats.view(len(ids), n, -1)

    def loss(self,
             features: Tensor,
             labels: Tensor,
             embeddings: Tensor,
             class_ids: Sequence[int],
             generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """MMD between generated and real features of each present class.

        Args:
            features (Tensor): ``[N, feat_dim]`` real pixel features.
            labels (Tensor): ``[N]`` their class indices.
            embeddings (Tensor): ``[num_classes, embed_dim]``.
            class_ids (Sequence[int]): Classes the generator may learn from
                (the seen classes). Pixels of other classes are not used.
            generator (torch.Generator, optional): Random source.

        Returns:
            dict[str, Tensor]: ``{loss_name: loss}``; the loss is 0 (with a
            graph, so that optimisers and DDP see the generator) when no
            pixel of ``class_ids`` is present.
        """
        ids = torch.as_tensor(
            class_ids, dtype=torch.long, device=labels.device)
        idx, present = sample_per_class(labels, ids, self.num_samples,
                                        generator)
        name = self.loss_fn.loss_name
        if len(present) == 0:
            zero = sum(p.sum() for p in self.generator.parameters()) * 0.
            return {name: zero}
        real = features[idx]  # [K, n, D]
        fake = self.generate(present, self.num_samples, embeddings, generator)
        return {name: self.loss_fn(fake, real.to(fake.dtype))}
