"""A zero-shot decode head that wraps any mmseg decode head."""
from typing import Any, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from mmseg_zs3.utils.extra_state import decode_extra_state, encode_extra_state

FEATURE_NORMS = ('none', 'l2')
TRAIN_CLASSES = ('all', 'seen')
_EXTRA_STATE = '_extra_state'  # torch's key of get_extra_state()


@MODELS.register_module()
class ZeroShotDecodeHead(BaseModule):
    """Any mmseg decode head with a swappable final classifier.

    ZS3Net (Bucher et al., "Zero-Shot Semantic Segmentation", NeurIPS 2019)
    generates the features that enter the final 1x1 classifier of the
    segmentation network and retrains that classifier. This head wraps any
    :class:`BaseDecodeHead` config (``DepthwiseSeparableASPPHead``,
    ``FCNHead``, ``PSPHead``, ``UPerHead``, ``SegformerHead``...) whose
    classifier is mmseg's ``conv_seg``: that layer is replaced by
    ``nn.Identity``, so the wrapped head's own ``forward`` (and its
    ``cls_seg``: dropout, then ``conv_seg``) returns the features that enter
    the classifier, and the classifier comes from config:

    - ``ConvClassifier``: the 1x1 convolution of ZS3Net (and of the plain
      head);
    - ``ProjectionClassifier``: DeViSE/SPNet-style projection into the
      word-embedding space with cosine scores (the paper's baseline), which
      scores unseen classes directly.

    Call chains (as in ``BaseDecodeHead``)::

        loss(): forward() -> head.loss_by_feat()
        predict(): forward() -> calibrate() -> head.predict_by_feat()
        forward(): forward_features() -> classify()
        forward_features(): head.forward() (ends in head.cls_seg(), which
            applies dropout and the identity conv_seg) -> feature_norm/scale

    Loading checkpoints (``_load_from_state_dict``):

    - a plain head's keys are mapped under ``head.``, and its ``conv_seg`` to
      ``classifier.conv`` (a ``ConvClassifier``; other classifiers start
      from their initialisation, and the log says so);
    - a classifier weight whose shape differs from this head's (another
      class count) is an error naming both shapes, never a silent skip;
    - with ``reinit_classifier=True`` (ZS3Net's stage 2), see below.

    Args:
        head (dict): Config of the wrapped mmseg decode head.
        classifier (dict): Config of the classifier; ``in_channels`` and
            ``num_classes`` are filled in from the head. Defaults to
            ``dict(type='ConvClassifier')``.
        split (dict, optional): The seen/unseen split (a spec for
            :func:`mmseg_zs3.splits.build_split`), needed by
            ``train_classes='seen'``, ``calibration`` and the ZS3Net
            segmentor. Defaults to None.
        classes (list | str, optional): The dataset's class names or its mmseg
            dataset type name, to resolve ``split``. Defaults to None.
        train_classes (str): ``'all'`` or ``'seen'``: with ``'seen'`` the
            scores of unseen classes are masked out of the training loss (the
            DeViSE baseline learns from seen classes only). Defaults to 'all'.
        calibration (float): Calibrated stacking: subtracted from the scores
            of seen classes at test time. Defaults to 0.
        feature_norm (str): ``'none'`` or ``'l2'`` (per-pixel L2
            normalisation) of the features before the classifier.
            Defaults to 'none'.
        feature_scale (float): Multiplies the features after ``feature_norm``.
            It sets their scale relative to the MMD kernel bandwidths.
            Defaults to 1.
        reinit_classifier (bool): ZS3Net's stage 2 re-initialises the
            classifier of the stage-1 network it starts from (as the official
            code does). With True, the classifier weights of a checkpoint
            made by a head *without* this setting (a plain head's
            ``conv_seg``, or a stage-1 ``ZeroShotDecodeHead`` whatever its
            classifier) are not loaded: the classifier keeps its own
            initialisation, and the log names the keys left out. A
            checkpoint of a head *with* this setting (a stage-2 checkpoint:
            ``--resume``, testing, inference) loads its classifier. The
            setting travels with the weights: it is the head's extra state
            (``get_extra_state``), so a checkpoint says which stage made it.
            Defaults to False.
        init_cfg (dict, optional): Defaults to None.

    Raises:
        TypeError: ``head`` does not build a ``BaseDecodeHead`` whose
            classifier is ``conv_seg`` and whose ``cls_seg`` is mmseg's, or
            ``reinit_classifier`` is not a bool.
        ValueError: A bad ``feature_norm`` or ``train_classes``, a split of
            another class count, or ``train_classes='seen'`` /
            ``calibration`` without a split.
    """

    def __init__(self,
                 head: ConfigType,
                 classifier: ConfigType = dict(type='ConvClassifier'),
                 split: OptConfigType = None,
                 classes: Union[None, str, Sequence[str]] = None,
                 train_classes: str = 'all',
                 calibration: float = 0.0,
                 feature_norm: str = 'none',
                 feature_scale: float = 1.0,
                 reinit_classifier: bool = False,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f'feature_norm={feature_norm!r}; expected one of '
                             f'{FEATURE_NORMS}')
        if train_classes not in TRAIN_CLASSES:
            raise ValueError(f'train_classes={train_classes!r}; expected one '
                             f'of {TRAIN_CLASSES}')
        if not isinstance(reinit_classifier, bool):
            raise TypeError(f'reinit_classifier={reinit_classifier!r}; '
                            'expected True or False')
        self.head = MODELS.build(head)
        if not isinstance(self.head, BaseDecodeHead):
            raise TypeError(f'head must build an mmseg BaseDecodeHead; '
                            f'{head.get("type")!r} built '
                            f'{type(self.head).__name__}')
        if type(self.head).cls_seg is not BaseDecodeHead.cls_seg or \
                not isinstance(getattr(self.head, 'conv_seg', None),
                               nn.Conv2d):
            raise TypeError(
                f'{type(self.head).__name__} has its own classifier (it '
                'overrides cls_seg or has no conv_seg); ZeroShotDecodeHead '
                "wraps heads whose classifier is mmseg's conv_seg")
        # The wrapped head stops at the features that enter its classifier:
        # its cls_seg becomes dropout + identity.
        self.head.conv_seg = nn.Identity()
        self.head.init_cfg = None  # its default init only targets conv_seg

        classifier = dict(classifier)
        classifier.setdefault('in_channels', self.head.channels)
        classifier.setdefault('num_classes', self.head.out_channels)
        self.classifier = MODELS.build(classifier)
        self.feature_norm = feature_norm
        self.feature_scale = float(feature_scale)
        self.train_classes = train_classes
        self.calibration = float(calibration)
        self.reinit_classifier = reinit_classifier

        self.split = None
        if split is not None:
            from mmseg_zs3.embeddings import resolve_class_names
            from mmseg_zs3.splits import build_split
            if classes is None:
                raise ValueError('split needs classes= (a class-name list or '
                                 'an mmseg dataset type) to resolve names')
            self.split = build_split(split, resolve_class_names(classes))
            if self.split.num_classes != self.num_classes:
                raise ValueError(
                    f'the split has {self.split.num_classes} classes but the '
                    f'head predicts num_classes={self.num_classes}')
        if (train_classes == 'seen'
                or self.calibration) and self.split is None:
            raise ValueError("train_classes='seen' and calibration need a "
                             'split= (and classes=)')

    # Attributes that EncoderDecoder and hooks read from a decode head.
    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def out_channels(self) -> int:
        return self.head.out_channels

    @property
    def align_corners(self) -> bool:
        return self.head.align_corners

    @property
    def ignore_index(self) -> int:
        return self.head.ignore_index

    @property
    def channels(self) -> int:
        return self.head.channels

    @property
    def seen_indices(self) -> Tuple[int, ...]:
        return self.split.seen_indices if self.split else tuple(
            range(self.num_classes))

    @property
    def unseen_indices(self) -> Tuple[int, ...]:
        return self.split.unseen_indices if self.split else ()

    def transform_features(self, feat: Tensor, dim: int = 1) -> Tensor:
        """Apply ``feature_norm`` and ``feature_scale`` along ``dim``."""
        if self.feature_norm == 'l2':
            feat = F.normalize(feat, dim=dim)
        return feat * self.feature_scale if self.feature_scale != 1 else feat

    def forward_features(self, inputs: List[Tensor]) -> Tensor:
        """The features that enter the classifier, ``[B, C, H, W]``."""
        return self.transform_features(self.head(inputs))

    def classify(self, feat: Tensor) -> Tensor:
        """Class scores of features ``[B, C, H, W]`` or ``[N, C]``."""
        if feat.dim() == 2 and not getattr(self.classifier,
                                           'accepts_pixel_features', False):
            return self.classifier(feat[:, :, None, None])[:, :, 0, 0]
        return self.classifier(feat)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Class scores ``[B, num_classes, H, W]`` (uncalibrated)."""
        return self.classify(self.forward_features(inputs))

    def mask_unseen(self, seg_logits: Tensor) -> Tensor:
        """Scores with unseen classes pushed to a large negative value."""
        mask = torch.zeros(
            self.num_classes, dtype=torch.bool, device=seg_logits.device)
        mask[list(self.unseen_indices)] = True
        shape = (1, -1) + (1, ) * (seg_logits.dim() - 2)
        return seg_logits.masked_fill(mask.view(shape), -1e4)

    def calibrate(self, seg_logits: Tensor) -> Tensor:
        """Calibrated stacking: subtract ``calibration`` from seen scores."""
        if not self.calibration:
            return seg_logits
        offset = seg_logits.new_zeros(self.num_classes)
        offset[list(self.seen_indices)] = self.calibration
        return seg_logits - offset.view(1, -1, *([1] * (seg_logits.dim() - 2)))

    def loss(self, inputs: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Loss of the wrapped head's ``loss_by_feat`` on our scores."""
        seg_logits = self.forward(inputs)
        if self.train_classes == 'seen':
            seg_logits = self.mask_unseen(seg_logits)
        return self.head.loss_by_feat(seg_logits, batch_data_samples)

    def predict(self, inputs: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg: ConfigType) -> Tensor:
        """Calibrated scores resized to the input, as ``BaseDecodeHead``."""
        seg_logits = self.calibrate(self.forward(inputs))
        return self.head.predict_by_feat(seg_logits, batch_img_metas)

    # ------------------------------------------------------------------
    # checkpoints
    def get_extra_state(self) -> torch.Tensor:
        """What a checkpoint records about this head: ``reinit_classifier``
        (whether its classifier was trained from a re-initialisation), as a
        JSON ``uint8`` tensor (see :mod:`mmseg_zs3.utils.extra_state`: a
        state dict of tensors only, as mmengine's DDP set-up needs)."""
        return encode_extra_state(
            dict(reinit_classifier=self.reinit_classifier))

    def set_extra_state(self, state: Any) -> None:
        """Accept the recorded state of a checkpoint.

        It describes the checkpoint and is read in
        :meth:`_load_from_state_dict`; this head's own setting comes from its
        config, so nothing is set.

        Raises:
            TypeError: ``state`` is not the dict of :meth:`get_extra_state`.
        """
        decode_extra_state(state, 'ZeroShotDecodeHead extra state')

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Map plain-head keys, re-initialise the classifier if configured,
        refuse a classifier of another shape; then load as usual."""
        extra_key = prefix + _EXTRA_STATE
        ours = [k for k in state_dict if k.startswith(prefix)]
        plain = [
            k for k in ours if k != extra_key
            and not k[len(prefix):].startswith(('head.', 'classifier.'))
        ]
        cls_keys = [
            k for k in ours
            if k.startswith(prefix +
                            'classifier.') or k.startswith(prefix +
                                                           'conv_seg.')
        ]
        # Class counts that a checkpoint states unambiguously: a plain
        # head's conv_seg, a projection classifier's class embeddings.
        for name in ('conv_seg.weight',
                     'classifier.class_embedding.embeddings'):
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor) and value.dim() >= 2 and \
                    value.shape[0] != self.num_classes:
                raise ValueError(
                    f'the checkpoint was trained for {value.shape[0]} '
                    f'classes (`{prefix + name}`), but this head predicts '
                    f'num_classes={self.num_classes}; use a checkpoint '
                    'trained on the same class list')
        extra = decode_extra_state(state_dict.get(extra_key), extra_key)
        from_reinit_head = bool((extra or {}).get('reinit_classifier'))
        if self.reinit_classifier and not from_reinit_head and cls_keys:
            for key in cls_keys:
                state_dict.pop(key)
            plain = [k for k in plain if k not in cls_keys]
            kind = 'a plain decode head' if any(
                k.startswith(prefix + 'conv_seg.') for k in cls_keys) \
                else 'a ZeroShotDecodeHead without reinit_classifier'
            print_log(
                f'ZeroShotDecodeHead: reinit_classifier=True and the '
                f'checkpoint comes from {kind}: its classifier '
                f'{sorted(cls_keys)} is not loaded; the classifier starts '
                'from its own initialisation.',
                logger='current')
        self._map_plain_head_keys(state_dict, prefix, plain)
        self._check_classifier_shapes(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        # A checkpoint without the record (plain heads, older checkpoints)
        # is not missing anything this head needs.
        if extra_key not in state_dict and extra_key in missing_keys:
            missing_keys.remove(extra_key)

    def _map_plain_head_keys(self, state_dict, prefix: str,
                             plain: List[str]) -> None:
        """Move a plain decode head's keys to ``head.`` / ``classifier.``."""
        if not plain:
            return
        to_conv = type(self.classifier).__name__ == 'ConvClassifier'
        dropped = []
        for key in plain:
            rest = key[len(prefix):]
            value = state_dict.pop(key)
            if not rest.startswith('conv_seg.'):
                state_dict[prefix + 'head.' + rest] = value
            elif to_conv:
                state_dict[prefix + 'classifier.conv.' +
                           rest[len('conv_seg.'):]] = value
            else:
                dropped.append(key)
        if dropped:
            print_log(
                f'ZeroShotDecodeHead: loaded a plain decode head; its '
                f'classifier {dropped} does not fit '
                f'{type(self.classifier).__name__} and is not used (the '
                'classifier starts from its own initialisation).',
                logger='current')

    def _check_classifier_shapes(self, state_dict, prefix: str) -> None:
        """Raise if a classifier tensor of the checkpoint has another shape
        than this head's (mmengine would only warn and keep a random one)."""
        own = self.classifier.state_dict()
        cls_prefix = prefix + 'classifier.'
        for key, value in state_dict.items():
            if not key.startswith(cls_prefix) or key.endswith(
                    _EXTRA_STATE) or not isinstance(value, torch.Tensor):
                continue  # extra state is JSON text, its length is free
            mine = own.get(key[len(cls_prefix):])
            if isinstance(mine, torch.Tensor) and mine.shape != value.shape:
                raise ValueError(
                    f'the checkpoint\'s `{key}` has shape '
                    f'{tuple(value.shape)} but this head\'s has '
                    f'{tuple(mine.shape)} (num_classes={self.num_classes}): '
                    'the checkpoint was trained for another class count or '
                    'classifier; use one trained with this config, or set '
                    'reinit_classifier=True to start the classifier afresh')
