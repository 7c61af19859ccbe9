"""A zero-shot decode head that wraps any mmseg decode head."""
import types
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

FEATURE_NORMS = ('none', 'l2')
TRAIN_CLASSES = ('all', 'seen')


def _features_only_cls_seg(head: BaseDecodeHead, feat: Tensor) -> Tensor:
    """``cls_seg`` of a wrapped head: dropout only, no classifier."""
    return feat if head.dropout is None else head.dropout(feat)


@MODELS.register_module()
class ZeroShotDecodeHead(BaseModule):
    """Any mmseg decode head with a swappable final classifier.

    ZS3Net (Bucher et al., "Zero-Shot Semantic Segmentation", NeurIPS 2019)
    generates the features that enter the final 1x1 classifier of the
    segmentation network and retrains that classifier. This head wraps any
    :class:`BaseDecodeHead` config (``DepthwiseSeparableASPPHead``,
    ``FCNHead``, ``PSPHead``, ``UPerHead``, ``SegformerHead``...): the wrapped
    head computes the features up to its ``cls_seg`` (its ``conv_seg`` is
    removed), and the classifier comes from config:

    - ``ConvClassifier``: the 1x1 convolution of ZS3Net (and of the plain
      head);
    - ``ProjectionClassifier``: DeViSE/SPNet-style projection into the
      word-embedding space with cosine scores (the paper's baseline), which
      scores unseen classes directly.

    Call chains (as in ``BaseDecodeHead``)::

        loss(): forward() -> head.loss_by_feat()
        predict(): forward() -> calibrated stacking -> head.predict_by_feat()
        forward(): forward_features() -> classify()

    Checkpoints of the plain head load into it: the wrapped head's keys are
    mapped under ``head.``, and ``conv_seg`` to ``classifier.conv`` (or
    dropped, for a classifier that must start fresh, see
    ``load_plain_classifier``).

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
        load_plain_classifier (bool): Whether a plain head's ``conv_seg`` in a
            checkpoint loads into a ``ConvClassifier``. ZS3Net's stage 2 sets
            False: its classifier is re-initialised. Defaults to True.
        init_cfg (dict, optional): Defaults to None.
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
                 load_plain_classifier: bool = True,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f'feature_norm={feature_norm!r}; expected one of '
                             f'{FEATURE_NORMS}')
        if train_classes not in TRAIN_CLASSES:
            raise ValueError(f'train_classes={train_classes!r}; expected one '
                             f'of {TRAIN_CLASSES}')
        self.head = MODELS.build(head)
        if not isinstance(self.head, BaseDecodeHead):
            raise TypeError(f'head must build an mmseg BaseDecodeHead; '
                            f'{head.get("type")!r} built '
                            f'{type(self.head).__name__}')
        # The wrapped head stops at the features that enter its classifier.
        del self.head.conv_seg
        self.head.init_cfg = None  # its default init only targets conv_seg
        self.head.cls_seg = types.MethodType(_features_only_cls_seg, self.head)

        classifier = dict(classifier)
        classifier.setdefault('in_channels', self.head.channels)
        classifier.setdefault('num_classes', self.head.out_channels)
        self.classifier = MODELS.build(classifier)
        self.feature_norm = feature_norm
        self.feature_scale = float(feature_scale)
        self.train_classes = train_classes
        self.calibration = float(calibration)
        self.load_plain_classifier = load_plain_classifier

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
        if (train_classes == 'seen' or self.calibration) and self.split is None:
            raise ValueError("train_classes='seen' and calibration need a "
                             'split= (and classes=)')
        self._register_load_state_dict_pre_hook(self._load_plain_head_keys)

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
        if feat.dim() == 2:
            return self.classifier(feat[:, :, None, None])[:, :, 0, 0]
        return self.classifier(feat)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Class scores ``[B, num_classes, H, W]`` (uncalibrated)."""
        return self.classify(self.forward_features(inputs))

    def mask_unseen(self, seg_logits: Tensor) -> Tensor:
        """Scores with unseen classes pushed to a large negative value."""
        mask = torch.zeros(self.num_classes, dtype=torch.bool,
                           device=seg_logits.device)
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

    def _load_plain_head_keys(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Map a plain decode head's keys onto the wrapper's."""
        plain = [
            k for k in state_dict if k.startswith(prefix) and
            not k[len(prefix):].startswith(('head.', 'classifier.'))
        ]
        if not plain:
            return
        to_conv = self.load_plain_classifier and hasattr(
            self.classifier, 'conv') and type(
                self.classifier).__name__ == 'ConvClassifier'
        seg_key = prefix + 'conv_seg.weight'
        if seg_key in state_dict and \
                state_dict[seg_key].shape[0] != self.num_classes:
            raise ValueError(
                f'the checkpoint was trained for '
                f'{state_dict[seg_key].shape[0]} classes (`{seg_key}`), but '
                f'this head predicts num_classes={self.num_classes}; use a '
                'checkpoint trained on the same class list')
        dropped = []
        for key in plain:
            rest = key[len(prefix):]
            value = state_dict.pop(key)
            if rest.startswith('conv_seg.'):
                if to_conv:
                    state_dict[prefix + 'classifier.conv.' +
                               rest[len('conv_seg.'):]] = value
                else:
                    dropped.append(key)
            else:
                state_dict[prefix + 'head.' + rest] = value
        if dropped:
            print_log(
                f'ZeroShotDecodeHead: loaded a plain decode head; its '
                f'classifier {dropped} is not used (the classifier starts '
                'from its own initialisation).', logger='current')
