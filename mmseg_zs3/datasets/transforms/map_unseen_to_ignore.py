"""Hide unseen-class ground truth right after the annotations are loaded."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

_ON_UNSEEN = ('ignore', 'raise')


@TRANSFORMS.register_module()
class MapUnseenToIgnore(BaseTransform):
    """Map the label values of unseen classes to the ignore index.

    Insert it directly after ``LoadAnnotations`` (before any augmentation),
    so no later transform, loss or hook ever sees an unseen label. The label
    values are global class indices as produced by ``LoadAnnotations``
    (i.e. after ``reduce_zero_label``).

    :class:`~mmseg_zs3.datasets.SeenOnlyDataset` inserts it itself: with
    ``on_unseen='ignore'`` for the peers' ``ignore`` policy (SPNet, CaGNet,
    ZegCLIP) and with ``on_unseen='raise'`` as a guard for ZS3Net's
    ``drop_image`` policy, where a kept image must contain no unseen pixel.

    Required Keys:

    - gt_seg_map
    - seg_fields (optional)

    Modified Keys:

    - gt_seg_map (and every other key listed in seg_fields)

    Args:
        unseen_indices (Sequence[int]): Global indices of the unseen classes.
        ignore_index (int): The value unseen pixels become. Defaults to 255.
        on_unseen (str): ``'ignore'`` maps unseen pixels to ``ignore_index``;
            ``'raise'`` raises a ``RuntimeError`` naming the annotation file
            if any unseen pixel is present. Defaults to ``'ignore'``.
    """

    def __init__(self,
                 unseen_indices: Sequence[int],
                 ignore_index: int = 255,
                 on_unseen: str = 'ignore') -> None:
        if on_unseen not in _ON_UNSEEN:
            raise ValueError(f'on_unseen={on_unseen!r} is not supported; '
                             f'valid values are {list(_ON_UNSEEN)}.')
        self.unseen_indices = tuple(int(i) for i in unseen_indices)
        if ignore_index in self.unseen_indices:
            raise ValueError(f'ignore_index={ignore_index} is also an unseen '
                             f'class index {list(self.unseen_indices)}.')
        self.ignore_index = ignore_index
        self.on_unseen = on_unseen

    def transform(self, results: dict) -> dict:
        """Map unseen pixels of every segmentation field.

        Args:
            results (dict): Result dict from ``LoadAnnotations``.

        Returns:
            dict: The result dict with unseen pixels set to ``ignore_index``.
        """
        if not self.unseen_indices:
            return results
        keys = list(results.get('seg_fields', []))
        if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
            keys.append('gt_seg_map')
        if not keys:
            raise KeyError('MapUnseenToIgnore found no `gt_seg_map`; put it '
                           'directly after LoadAnnotations.')
        for key in keys:
            seg = results[key]
            unseen = np.isin(seg, self.unseen_indices)
            if not unseen.any():
                continue
            if self.on_unseen == 'raise':
                found = sorted(set(np.unique(seg[unseen]).tolist()))
                raise RuntimeError(
                    f'Unseen class indices {found} found in '
                    f'{results.get("seg_map_path", key)!r}, an image that '
                    'the seen-only training set should have dropped. The '
                    "class-presence cache is stale: delete SeenOnlyDataset's "
                    'cache_dir (by default $MMSEG_ZS3_CACHE/class_presence '
                    'or ~/.cache/mmseg_zs3/class_presence) and restart.')
            seg = seg.copy()
            seg[unseen] = self.ignore_index
            results[key] = seg
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'unseen_indices={list(self.unseen_indices)}, '
                f'ignore_index={self.ignore_index}, '
                f"on_unseen='{self.on_unseen}')")
