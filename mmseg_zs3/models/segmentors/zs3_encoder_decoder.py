"""ZS3Net's stage 2: generate unseen features, retrain the classifier."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..data_preprocessor import is_pixel_batch

UNSEEN_LAYOUTS = ('strict', 'paper')
FROZEN_MODES = ('eval', 'train')


@MODELS.register_module()
class ZS3EncoderDecoder(EncoderDecoder):
    """Encoder-decoder whose classifier is retrained with generated features.

    Stage 2 of ZS3Net (Bucher et al., "Zero-Shot Semantic Segmentation",
    NeurIPS 2019). Built from a stage-1 (seen-only) network loaded with
    ``load_from``: the backbone, neck and decode head up to its classifier
    are frozen; at every training step

    1. the frozen network computes the pixel features that enter the
       classifier (``decode_head`` must be a :class:`ZeroShotDecodeHead`), and
       the labels are downsampled (nearest) to the feature map;
    2. the generative head (GMMN) learns, by MMD, to generate the real
       features of each **seen** class from its word embedding;
    3. the classifier is trained with cross-entropy on real seen features
       plus generated unseen features.

    At test time the generator is not used: the model is the stage-1 network
    with the retrained classifier, predicting over all classes.

    Training takes two kinds of batch, both through ``train_step`` (the
    ``ZS3DataPreProcessor`` moves a pixel batch to the device unchanged):

    - an **image batch**, as for any mmseg segmentor (mmengine's
      ``EpochBasedTrainLoop``; the ``'paper'`` layout needs these);
    - a **pixel batch** ``dict(inputs=[N, C] features, data_samples=[N]
      labels)`` of real seen-pixel features, which :meth:`extract_pixels`
      makes from an image batch. ``ZS3FeatureCacheTrainLoop`` runs it once
      per training image, keeps a bounded sample of the pixels
      (``FeatureCache``), and trains every epoch on pixel batches drawn
      from it: the frozen network never runs again.

    .. code:: text

     train_step(image batch): data_preprocessor() -> forward('loss') -> loss()
     loss(images): extract_pixel_features() -> seen_pixels()
                   -> loss_by_pixels()
                   (paper layout: extract_pixel_features() -> _loss_paper())
     extract_pixels(image batch): data_preprocessor() ->
                   extract_pixel_features() -> seen_pixels() -> pixel batch
     train_step(pixel batch): data_preprocessor() -> forward('loss') -> loss()
     loss(pixels): loss_by_pixels()
     loss_by_pixels(): generative_head.loss()  (MMD, seen classes)
                       -> generative_head.generate()  (unseen features)
                       -> _classifier_loss(): decode_head.classify()
     extract_pixel_features(): extract_feat() -> decode_head.forward_features()
     predict(), _forward(): as EncoderDecoder (decode_head scores all classes)

    ``unseen_layout`` names how generated unseen features enter step 3:

    - ``'strict'`` (default): no unseen ground truth is read anywhere. Only
      pixels labelled with seen classes are used; ``num_generated`` features
      per unseen class are generated at each step and classified as extra
      samples (a 1x1 classifier treats pixels independently).
    - ``'paper'``: the official layout. An image containing unseen pixels gets
      a fully generated feature map laid out on its ground-truth mask; the
      generator learns only from images without unseen pixels; unseen classes
      are weighted ``unseen_weight`` (100 officially). The official quirks
      (frozen network in train mode, CE divided again by the batch size)
      belong with it: set ``frozen_mode='train'`` and
      ``paper_batch_average=True``.

    Args:
        backbone, decode_head, neck, auxiliary_head, train_cfg, test_cfg,
        data_preprocessor, pretrained, init_cfg: As :class:`EncoderDecoder`.
        class_embedding (dict): Config of the class embeddings (e.g.
            ``ClassEmbedding``), rows in the dataset's class order.
        generative_head (dict): Config of the generative head (e.g.
            ``GMMNGenerativeHead``).
        unseen_layout (str): ``'strict'`` or ``'paper'``. Defaults to
            'strict'.
        unseen_weight (float): Cross-entropy weight of unseen classes.
            Defaults to 1.
        num_generated (int | str): Generated features per unseen class per
            step (strict layout). ``'auto'``: the mean pixel count of the seen
            classes in the step, the most frequent one (the background or
            stuff) left out. Defaults to 'auto'.
        max_real_pixels (int, optional): Real pixels per step for the
            classifier loss (random subset). Defaults to None (all).
        frozen_mode (str): Mode of the frozen modules during training:
            ``'eval'`` (BN statistics and dropout fixed) or ``'train'`` (the
            official quirk). Defaults to 'eval'.
        paper_batch_average (bool): Divide the classifier loss again by the
            batch size (official quirk). Defaults to False.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 class_embedding: ConfigType,
                 generative_head: ConfigType,
                 unseen_layout: str = 'strict',
                 unseen_weight: float = 1.0,
                 num_generated: Union[int, str] = 'auto',
                 max_real_pixels: Optional[int] = None,
                 frozen_mode: str = 'eval',
                 paper_batch_average: bool = False,
                 neck: OptConfigType = None,
                 auxiliary_head: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptConfigType = None):
        if unseen_layout not in UNSEEN_LAYOUTS:
            raise ValueError(f'unseen_layout={unseen_layout!r}; expected one '
                             f'of {UNSEEN_LAYOUTS}')
        if frozen_mode not in FROZEN_MODES:
            raise ValueError(f'frozen_mode={frozen_mode!r}; expected one of '
                             f'{FROZEN_MODES}')
        if not (num_generated == 'auto' or
                (isinstance(num_generated, int) and num_generated >= 0)):
            raise ValueError(
                f"num_generated={num_generated!r}; expected 'auto'"
                ' or an integer >= 0')
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg)
        if not hasattr(self.decode_head, 'forward_features') or \
                getattr(self.decode_head, 'split', None) is None:
            raise ValueError('ZS3EncoderDecoder needs a ZeroShotDecodeHead '
                             'decode_head with split= and classes= set')
        if not self.decode_head.unseen_indices:
            raise ValueError(
                f'the split {self.decode_head.split.name!r} has no unseen '
                'class: there is nothing for ZS3Net to generate')
        self.class_embedding = MODELS.build(class_embedding)
        self.generative_head = MODELS.build(generative_head)
        emb = self.class_embedding()
        if emb.shape[0] != self.num_classes:
            raise ValueError(
                f'the class embedding has {emb.shape[0]} classes but the '
                f'model predicts num_classes={self.num_classes}')
        self.generative_head.check_embeddings(emb)
        if self.generative_head.feat_dim != self.decode_head.channels:
            raise ValueError(
                f'the generator makes {self.generative_head.feat_dim}-d '
                f'features but the classifier takes '
                f'{self.decode_head.channels} (decode head channels)')
        self.unseen_layout = unseen_layout
        self.unseen_weight = float(unseen_weight)
        self.num_generated = num_generated
        self.max_real_pixels = max_real_pixels
        self.frozen_mode = frozen_mode
        self.paper_batch_average = paper_batch_average
        for module in self.frozen_modules():
            module.requires_grad_(False)
        self.register_buffer(
            'seen_ids',
            torch.tensor(self.decode_head.seen_indices, dtype=torch.long),
            persistent=False)
        self.register_buffer(
            'unseen_ids',
            torch.tensor(self.decode_head.unseen_indices, dtype=torch.long),
            persistent=False)

    def frozen_modules(self) -> List[torch.nn.Module]:
        """The feature extractor: everything but classifier and generator."""
        modules = [self.backbone, self.decode_head.head]
        if self.with_neck:
            modules.append(self.neck)
        if self.with_auxiliary_head:
            modules.append(self.auxiliary_head)
        return modules

    def train(self, mode: bool = True):
        """Set the mode; frozen modules stay in eval unless ``frozen_mode``
        is ``'train'``."""
        super().train(mode)
        if mode and self.frozen_mode == 'eval':
            for module in self.frozen_modules():
                module.eval()
        return self

    def forward(self,
                inputs: Tensor,
                data_samples: Union[None, SampleList, Tensor] = None,
                mode: str = 'tensor'):
        """As :class:`EncoderDecoder`; a pixel batch (``inputs`` ``[N, C]``)
        is for ``mode='loss'`` only.

        Raises:
            ValueError: A pixel batch in another mode.
        """
        if is_pixel_batch(inputs) and mode != 'loss':
            raise ValueError('pixel batches are for training only '
                             f"(mode='loss'), got mode={mode!r}")
        return super().forward(inputs, data_samples, mode)

    @torch.no_grad()
    def extract_pixel_features(self, inputs: Tensor, data_samples: SampleList):
        """Frozen features ``[B, C, h, w]`` and labels ``[B, h, w]`` (nearest
        downsampling of the ground truth to the feature map)."""
        feats = self.decode_head.forward_features(self.extract_feat(inputs))
        gt = torch.stack([s.gt_sem_seg.data for s in data_samples]).float()
        labels = F.interpolate(gt, size=feats.shape[2:], mode='nearest')
        return feats, labels[:, 0].long()

    def seen_pixels(self, feats: Tensor, labels: Tensor):
        """Flatten ``[B, C, h, w]`` / ``[B, h, w]`` to the pixels of seen
        classes only: ``[N, C]`` and ``[N]``."""
        f = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
        y = labels.reshape(-1)
        keep = torch.isin(y, self.seen_ids)
        return f[keep], y[keep]

    @torch.no_grad()
    def extract_pixels(self, data: dict) -> dict:
        """Turn an image batch into a pixel batch of its seen pixels.

        The frozen network's features of every pixel labelled with a seen
        class (strict layout: no unseen label is read). Runs in the
        current mode (``train()`` keeps the frozen modules in eval with
        ``frozen_mode='eval'``) and in the caller's autocast context; call it
        inside ``optim_wrapper.optim_context(model)`` to get the features of
        ``train_step`` (e.g. under AMP).

        Args:
            data (dict): An image batch as a dataloader yields it
                (``inputs`` and ``data_samples`` with ``gt_sem_seg``).

        Returns:
            dict: ``inputs``: ``[N, C]`` features, ``data_samples``: ``[N]``
            their classes, on the model's device; a batch for
            :meth:`train_step`.
        """
        data = self.data_preprocessor(data, True)
        feats, labels = self.seen_pixels(
            *self.extract_pixel_features(data['inputs'], data['data_samples']))
        return dict(inputs=feats, data_samples=labels)

    def loss(self, inputs: Tensor, data_samples: Union[SampleList,
                                                       Tensor]) -> dict:
        """Generator and classifier losses of an image or pixel batch.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``, or pixel features
                ``[N, C]``.
            data_samples (list[SegDataSample] | Tensor): The images' samples
                (``gt_sem_seg``), or the pixels' ``[N]`` classes.

        Returns:
            dict: See :meth:`loss_by_pixels` (and :meth:`_loss_paper`).

        Raises:
            ValueError: A pixel batch with the ``'paper'`` layout, or whose
                labels are not ``[N]``.
        """
        if is_pixel_batch(inputs):
            if self.unseen_layout == 'paper':
                raise ValueError("unseen_layout='paper' lays generated "
                                 'features on image masks: it trains on '
                                 'image batches, not pixel batches')
            if not (isinstance(data_samples, Tensor)
                    and data_samples.shape == inputs.shape[:1]):
                raise ValueError(
                    f'a pixel batch of {len(inputs)} features needs '
                    f'data_samples = their [{len(inputs)}] labels, got '
                    f'{type(data_samples).__name__}')
            return self.loss_by_pixels(inputs, data_samples)
        feats, labels = self.extract_pixel_features(inputs, data_samples)
        losses = {}
        if hasattr(self.generative_head, 'loss_context'):  # ZS3Net + GC
            losses = self.generative_head.loss_context(
                feats, labels, self.class_embedding(), self.seen_ids,
                self.unseen_ids, self.decode_head.classify, self.unseen_layout,
                self.unseen_weight, self.unseen_layout == 'paper'
                and self.paper_batch_average, self.decode_head.ignore_index)
        if self.unseen_layout == 'paper':
            return {**losses, **self._loss_paper(feats, labels)}
        return {
            **losses,
            **self.loss_by_pixels(*self.seen_pixels(feats, labels))
        }

    def _class_weight(self, like: Tensor) -> Tensor:
        weight = like.new_ones(self.num_classes)
        weight[self.unseen_ids] = self.unseen_weight
        return weight

    def _num_generated(self, labels: Tensor) -> int:
        if self.num_generated != 'auto':
            return int(self.num_generated)
        counts = torch.bincount(labels, minlength=self.num_classes)
        counts = counts[counts > 0].sort().values
        if len(counts) == 0:
            return 0
        if len(counts) > 1:
            counts = counts[:-1]  # leave the most frequent class out
        return int(counts.float().mean().round())

    def _zero(self, module: torch.nn.Module) -> Tensor:
        """A zero loss connected to ``module``'s trainable parameters."""
        return sum(p.sum()
                   for p in module.parameters() if p.requires_grad) * 0.

    def _classifier_loss(self,
                         feats: Tensor,
                         labels: Tensor,
                         batch_size: int = 1) -> Dict[str, Tensor]:
        if len(labels) == 0:
            return dict(loss_cls=self._zero(self.decode_head.classifier))
        logits = self.decode_head.classify(feats)
        loss = F.cross_entropy(
            logits, labels, weight=self._class_weight(logits))
        if self.paper_batch_average:
            loss = loss / batch_size
        acc = (logits.argmax(1) == labels).float().mean() * 100
        return dict(loss_cls=loss, acc_cls=acc.detach())

    def loss_by_pixels(self, feats: Tensor, labels: Tensor) -> dict:
        """Strict-layout losses of real seen pixel features ``[N, C]``.

        Args:
            feats (Tensor): ``[N, C]`` real features of seen-class pixels.
            labels (Tensor): ``[N]`` their classes. Pixels of other classes
                are an error: unseen labels never reach this point.

        Returns:
            dict: ``loss_mmd`` (generator), ``loss_cls`` and ``acc_cls``
            (classifier).
        """
        if labels.numel() and not torch.isin(labels, self.seen_ids).all():
            bad = sorted(
                set(labels.unique().tolist()) - set(self.seen_ids.tolist()))
            raise ValueError(f'pixel labels {bad} are not seen classes; '
                             'strict stage 2 takes seen pixels only')
        emb = self.class_embedding()
        losses = self.generative_head.loss(feats, labels, emb, self.seen_ids)
        if self.max_real_pixels and len(labels) > self.max_real_pixels:
            keep = torch.randperm(
                len(labels), device=labels.device)[:self.max_real_pixels]
            feats, labels = feats[keep], labels[keep]
        n_gen = self._num_generated(labels)
        if n_gen > 0:
            with torch.no_grad():
                fake = self.generative_head.generate(self.unseen_ids, n_gen,
                                                     emb)
            feats = torch.cat([feats, fake.flatten(0, 1).to(feats.dtype)])
            labels = torch.cat(
                [labels, self.unseen_ids.repeat_interleave(n_gen)])
        losses.update(self._classifier_loss(feats, labels))
        return losses

    def _loss_paper(self, feats: Tensor, labels: Tensor) -> dict:
        """The official layout (reads unseen ground truth; see class doc)."""
        emb = self.class_embedding()
        B, C = feats.shape[:2]
        ignore = self.decode_head.ignore_index
        has_unseen = torch.isin(labels, self.unseen_ids).flatten(1).any(1)
        # Generator: images without unseen pixels, seen classes only.
        f_seen, y_seen = self.seen_pixels(feats[~has_unseen],
                                          labels[~has_unseen])
        losses = self.generative_head.loss(f_seen, y_seen, emb, self.seen_ids)
        # Classifier: real maps for clean images, generated maps laid out on
        # the ground truth of images with unseen pixels.
        f = feats.permute(0, 2, 3, 1).reshape(B, -1, C).clone()
        y = labels.reshape(B, -1)
        for b in torch.nonzero(has_unseen).flatten().tolist():
            valid = y[b] != ignore
            cls = y[b][valid]
            with torch.no_grad():
                fake = self.generative_head.generator(emb[cls])
            f[b][valid] = fake.to(f.dtype)
        f, y = f.reshape(-1, C), y.reshape(-1)
        keep = y != ignore
        losses.update(self._classifier_loss(f[keep], y[keep], batch_size=B))
        return losses
