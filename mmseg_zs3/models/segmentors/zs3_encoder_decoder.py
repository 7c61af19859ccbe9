"""ZS3Net's stage 2: generate unseen features, retrain the classifier."""
import logging
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..data_preprocessor import is_pixel_batch
from ..generative_heads.gmmn_head import with_default_feat_dim

UNSEEN_LAYOUTS = ('strict', 'paper')
FROZEN_MODES = ('eval', 'train')
GENERATOR_STEPS = ('per_batch', 'per_image_class')
CLS_LOSS_AT = ('features', 'input')
# the names of the optimizer wrappers of OptimWrapperDict training
OPTIMIZER_NAMES = ('generator', 'classifier')


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
     loss(images): extract_pixel_features() -> loss_by_images()
     loss_by_images(): seen_pixels() -> loss_by_pixels()
                       (paper layout: _loss_paper())
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

    **Separate optimizers** (the official recipe, as mmengine trains GANs):
    with an ``OptimWrapperDict`` holding ``'generator'`` and ``'classifier'``
    wrappers (``SubmoduleOptimWrapperConstructor``), :meth:`train_step`
    steps each optimizer on its own losses, so each has its own lr and
    schedule (``param_scheduler`` keyed by the same names). With the paper
    layout it can also take the official steps:

    - ``generator_steps='per_image_class'``: one generator step per (image
      without unseen pixels, seen class in it), 128 real and 128 generated
      features of that class in that image, images in batch order; a
      generated map of an image with unseen pixels comes from the generator
      as it is when its turn comes (the official loop).
    - ``cls_loss_at='input'``: the classifier's cross-entropy on logits
      upsampled bilinearly (``align_corners=True``) to the input (the crop)
      against the full-resolution labels; the generated maps are zero at
      ignored pixels, as officially. ``'features'`` (default): at the
      feature map, against nearest-downsampled labels.

    .. code:: text

     train_step(batch, OptimWrapperDict): data_preprocessor()
       per_batch: loss() -> generator wrapper.update_params(its losses)
                         -> classifier wrapper.update_params(the others)
       per_image_class: extract_pixel_features() -> _loss_paper(
                          generator steps inside, image by image)
                        -> classifier wrapper.update_params(loss_cls)

    Args:
        backbone, decode_head, neck, auxiliary_head, train_cfg, test_cfg,
        data_preprocessor, pretrained, init_cfg: As :class:`EncoderDecoder`.
        class_embedding (dict): Config of the class embeddings (e.g.
            ``ClassEmbedding``), rows in the dataset's class order.
        generative_head (dict): Config of the generative head (e.g.
            ``GMMNGenerativeHead``). A ``generator`` without ``feat_dim``
            makes features of the decode head's ``channels``.
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
        generator_steps (str): ``'per_batch'`` (one MMD, averaged over the
            classes of the batch, per training step) or
            ``'per_image_class'`` (the official loop; paper layout and
            separate optimizers only). Defaults to 'per_batch'.
        cls_loss_at (str): ``'features'`` or ``'input'`` (the official
            resolution; paper layout only), see above. Defaults to
            'features'.

    Raises:
        ValueError: A bad ``unseen_layout``, ``frozen_mode``,
            ``num_generated``, ``generator_steps`` or ``cls_loss_at``, or
            ``'per_image_class'`` / ``'input'`` with the strict layout.
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
                 generator_steps: str = 'per_batch',
                 cls_loss_at: str = 'features',
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
        if generator_steps not in GENERATOR_STEPS:
            raise ValueError(f'generator_steps={generator_steps!r}; expected '
                             f'one of {GENERATOR_STEPS}')
        if cls_loss_at not in CLS_LOSS_AT:
            raise ValueError(f'cls_loss_at={cls_loss_at!r}; expected one of '
                             f'{CLS_LOSS_AT}')
        if unseen_layout != 'paper' and (generator_steps != 'per_batch'
                                         or cls_loss_at != 'features'):
            raise ValueError(
                f"generator_steps={generator_steps!r} and cls_loss_at="
                f"{cls_loss_at!r} need unseen_layout='paper' (the official "
                "loop works on image maps); the strict layout takes "
                "generator_steps='per_batch', cls_loss_at='features'")
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
        self.generative_head = MODELS.build(
            with_default_feat_dim(generative_head, self.decode_head.channels))
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
        self.generator_steps = generator_steps
        self.cls_loss_at = cls_loss_at
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
                labels are not ``[N]``; ``generator_steps='per_image_class'``
                (its generator steps are taken in :meth:`train_step`).
        """
        if self.generator_steps == 'per_image_class':
            raise ValueError(
                "generator_steps='per_image_class' takes one generator step "
                'per (image, seen class) in train_step, with separate '
                'optimizers; loss() alone cannot take them')
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
        return self.loss_by_images(feats, labels, data_samples)

    def loss_by_images(self,
                       feats: Tensor,
                       labels: Tensor,
                       data_samples: SampleList,
                       generator_optim: Optional[OptimWrapper] = None) -> dict:
        """Losses of the frozen features of an image batch.

        Args:
            feats (Tensor): ``[B, C, h, w]`` frozen features.
            labels (Tensor): ``[B, h, w]`` their labels (nearest).
            data_samples (list[SegDataSample]): The images' samples.
            generator_optim (OptimWrapper, optional): The generator's
                optimizer wrapper, for ``generator_steps='per_image_class'``
                (see :meth:`_loss_paper`). Defaults to None.

        Returns:
            dict: See :meth:`loss_by_pixels` and :meth:`_loss_paper`.
        """
        losses = {}
        if hasattr(self.generative_head, 'loss_context'):  # ZS3Net + GC
            losses = self.generative_head.loss_context(
                feats, labels, self.class_embedding(), self.seen_ids,
                self.unseen_ids, self.decode_head.classify, self.unseen_layout,
                self.unseen_weight, self.unseen_layout == 'paper'
                and self.paper_batch_average, self.decode_head.ignore_index)
        if self.unseen_layout == 'paper':
            paper = self._loss_paper(feats, labels, data_samples,
                                     generator_optim)
            return {**losses, **paper}
        return {
            **losses,
            **self.loss_by_pixels(*self.seen_pixels(feats, labels))
        }

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One training step, with one optimizer or with separate ones.

        With one :class:`OptimWrapper`, as :class:`EncoderDecoder` (all
        losses summed, one update). With an :class:`OptimWrapperDict` of a
        ``'generator'`` and a ``'classifier'`` wrapper, each is updated on
        its own losses: the generator on the losses named like the generative
        head's loss (``loss_mmd...``; with
        ``generator_steps='per_image_class'`` the MMD steps are taken once
        per (image, seen class) inside :meth:`_loss_paper`), the classifier
        on the others. Gradients a loss leaves in the other optimizer's
        parameters are discarded. With ``frozen_mode='train'`` a batch of one
        image is skipped (BatchNorm in train mode needs two; the official
        loop skips it too), with a warning.

        Args:
            data (dict | tuple | list): A batch from the dataloader.
            optim_wrapper (OptimWrapper | OptimWrapperDict): The optimizer
                wrapper(s) the runner built.

        Returns:
            dict[str, Tensor]: The log variables (``loss`` and each term);
            empty for a skipped batch.

        Raises:
            ValueError: ``generator_steps='per_image_class'`` with one
                optimizer wrapper, or with a pixel batch; an
                ``OptimWrapperDict`` whose names are not ``'generator'`` and
                ``'classifier'``, or whose generator wrapper holds other
                parameters than the generative head's (or the classifier's
                some of them).
        """
        if not isinstance(optim_wrapper, OptimWrapperDict):
            if self.generator_steps == 'per_image_class':
                raise ValueError(
                    "generator_steps='per_image_class' needs separate "
                    'optimizers (an OptimWrapperDict of '
                    f'{OPTIMIZER_NAMES}, e.g. optim_wrapper=dict(constructor='
                    "'SubmoduleOptimWrapperConstructor', generator=..., "
                    f'classifier=...)); got {type(optim_wrapper).__name__}')
            return super().train_step(data, optim_wrapper)
        if sorted(optim_wrapper.keys()) != sorted(OPTIMIZER_NAMES):
            raise ValueError(
                f'separate optimizers must be named {OPTIMIZER_NAMES}; got '
                f'{sorted(optim_wrapper.keys())}')
        self._check_separate_optimizers(optim_wrapper)
        gen_optim = optim_wrapper['generator']
        cls_optim = optim_wrapper['classifier']
        with cls_optim.optim_context(self):
            data = self.data_preprocessor(data, True)
            inputs, samples = data['inputs'], data['data_samples']
            if self.generator_steps == 'per_batch':
                losses = self._run_forward(data, mode='loss')
            else:
                if is_pixel_batch(inputs):
                    raise ValueError(
                        "generator_steps='per_image_class' trains on image "
                        'batches, not pixel batches (no feature cache)')
                if self.frozen_mode == 'train' and len(inputs) == 1:
                    print_log(
                        'ZS3EncoderDecoder: skipped a batch of one image '
                        "(frozen_mode='train': BatchNorm in train mode needs "
                        'two; the official loop skips it too)',
                        logger='current',
                        level=logging.WARNING)
                    return {}
                feats, labels = self.extract_pixel_features(inputs, samples)
                losses = self.loss_by_images(feats, labels, samples, gen_optim)
        gen_prefix = self.generative_head.loss_fn.loss_name
        gen_loss, gen_vars = self.parse_losses({
            k: v
            for k, v in losses.items() if k.startswith(gen_prefix)
        })
        cls_loss, log_vars = self.parse_losses({
            k: v
            for k, v in losses.items() if not k.startswith(gen_prefix)
        })
        if gen_loss.requires_grad:  # per_image_class: steps already taken
            gen_optim.update_params(gen_loss)
        cls_optim.update_params(cls_loss)
        # gradients a loss left in the other optimizer's parameters
        optim_wrapper.zero_grad()
        log_vars['loss'] = (log_vars['loss'] + gen_vars.pop('loss')).detach()
        log_vars.update(gen_vars)
        return log_vars

    def _class_weight(self, like: Tensor) -> Tensor:
        """Class weights of the classifier loss: ``unseen_weight`` for
        unseen classes; 1 for seen ones, or, with
        ``train_cfg=dict(stage1_class_weight=True)``, the ``class_weight`` of
        the wrapped head's ``loss_decode`` (the stage-1 weights, which
        the retrained classifier would otherwise lose)."""
        weight = like.new_ones(self.num_classes)
        if (self.train_cfg or {}).get('stage1_class_weight', False):
            stage1 = getattr(self.decode_head.head.loss_decode, 'class_weight',
                             None)
            if stage1 is None:
                raise ValueError(
                    'train_cfg.stage1_class_weight=True, but the decode '
                    "head's loss_decode has no class_weight to carry over")
            weight = weight * like.new_tensor(stage1)
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
        return self._classifier_loss_of_logits(
            self.decode_head.classify(feats), labels, batch_size)

    def _classifier_loss_of_logits(self,
                                   logits: Tensor,
                                   labels: Tensor,
                                   batch_size: int = 1) -> Dict[str, Tensor]:
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
        if n_gen == 0:
            losses.update(self._classifier_loss(feats, labels))
            return losses
        with torch.no_grad():
            fake = self.generative_head.generate(self.unseen_ids, n_gen, emb)
        # real and generated features are scored apart and their scores
        # joined: the same loss as scoring them joined, without copying the
        # (much wider) features
        logits = torch.cat([
            self.decode_head.classify(feats),
            self.decode_head.classify(fake.flatten(0, 1).to(feats.dtype))
        ])
        labels = torch.cat([labels, self.unseen_ids.repeat_interleave(n_gen)])
        losses.update(self._classifier_loss_of_logits(logits, labels))
        return losses

    def _check_separate_optimizers(self,
                                   optim_wrapper: OptimWrapperDict) -> None:
        """Raise unless the ``'generator'`` wrapper holds parameters of the
        generative head only and the ``'classifier'`` wrapper none of them
        (swapped modules would train nothing, silently)."""
        generator = {id(p) for p in self.generative_head.parameters()}
        for name in OPTIMIZER_NAMES:
            params = [
                p for group in optim_wrapper[name].optimizer.param_groups
                for p in group['params']
            ]
            inside = [id(p) in generator for p in params]
            ok = all(inside) if name == 'generator' else not any(inside)
            if not (params and ok):
                raise ValueError(
                    f"the '{name}' optimizer must hold " +
                    ('the generative head' if name == 'generator' else
                     'the classifier (not the generative head)') +
                    f"'s parameters; it holds {len(params)} tensors, "
                    f'{sum(inside)} of the generative head (check '
                    f'optim_wrapper.{name}.module)')

    def _loss_paper(self,
                    feats: Tensor,
                    labels: Tensor,
                    data_samples: Optional[SampleList] = None,
                    generator_optim: Optional[OptimWrapper] = None) -> dict:
        """The official layout (reads unseen ground truth; see class doc).

        Args:
            feats (Tensor): Frozen features ``[B, C, h, w]``.
            labels (Tensor): Their labels ``[B, h, w]`` (nearest).
            data_samples (list[SegDataSample], optional): The full-resolution
                labels, for ``cls_loss_at='input'``.
            generator_optim (OptimWrapper, optional): With it, one generator
                step per (image without unseen pixels, seen class in it),
                taken here; the returned generator loss is their mean,
                detached. Without it, one MMD loss over the batch's clean
                images, to be optimised by the caller.

        Returns:
            dict: The generator loss (``loss_mmd``), ``loss_cls`` and
            ``acc_cls``.
        """
        emb = self.class_embedding()
        B, C = feats.shape[:2]
        ignore = self.decode_head.ignore_index
        has_unseen = torch.isin(labels, self.unseen_ids).flatten(1).any(1)
        name = self.generative_head.loss_fn.loss_name
        if generator_optim is None:
            # Generator: images without unseen pixels, seen classes only.
            f_seen, y_seen = self.seen_pixels(feats[~has_unseen],
                                              labels[~has_unseen])
            losses = self.generative_head.loss(f_seen, y_seen, emb,
                                               self.seen_ids)
        step_losses: List[Tensor] = []
        # Classifier: real maps for clean images, generated maps laid out on
        # the ground truth of images with unseen pixels (zero where ignored).
        f = feats.permute(0, 2, 3, 1).reshape(B, -1, C).clone()
        y = labels.reshape(B, -1)
        for b, unseen_in_b in enumerate(has_unseen.tolist()):
            if unseen_in_b:
                valid = y[b] != ignore
                cls = y[b][valid]
                with torch.no_grad():
                    fake = self.generative_head.generator(emb[cls])
                f[b][valid] = fake.to(f.dtype)
                f[b][~valid] = 0
            elif generator_optim is not None:
                for c in y[b].unique().tolist():
                    if c not in self.decode_head.seen_indices:
                        continue
                    with generator_optim.optim_context(self.generative_head):
                        loss = self.generative_head.loss(f[b], y[b], emb,
                                                         [c])[name]
                    generator_optim.update_params(loss)
                    step_losses.append(loss.detach())
        if generator_optim is not None:
            losses = {
                name:
                torch.stack(step_losses).mean()
                if step_losses else feats.new_zeros(())
            }
        if self.cls_loss_at == 'input':
            maps = f.reshape(B, *feats.shape[2:], C).permute(0, 3, 1, 2)
            losses.update(self._classifier_loss_at_input(maps, data_samples))
            return losses
        f, y = f.reshape(-1, C), y.reshape(-1)
        keep = y != ignore
        losses.update(self._classifier_loss(f[keep], y[keep], batch_size=B))
        return losses

    def _classifier_loss_at_input(
            self, maps: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Cross-entropy of the classifier's logits of feature maps ``[B, C,
        h, w]``, upsampled bilinearly (``align_corners=True``) to the input,
        against the full-resolution labels (the official classifier loss)."""
        gt = torch.stack([s.gt_sem_seg.data[0] for s in data_samples]).long()
        keep = gt != self.decode_head.ignore_index
        if not keep.any():
            return dict(loss_cls=self._zero(self.decode_head.classifier))
        logits = F.interpolate(
            self.decode_head.classify(maps),
            size=gt.shape[-2:],
            mode='bilinear',
            align_corners=True)
        loss = F.cross_entropy(
            logits,
            gt,
            weight=self._class_weight(logits),
            ignore_index=self.decode_head.ignore_index)
        if self.paper_batch_average:
            loss = loss / len(gt)
        acc = (logits.argmax(1) == gt)[keep].float().mean() * 100
        return dict(loss_cls=loss, acc_cls=acc.detach())
