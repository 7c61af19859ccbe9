"""Merge ZS5Net's pseudo-labels into the training labels."""
import os
import os.path as osp
import time
from typing import Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ...splits import SplitSpec, build_split
from ...utils import pseudo_labels as pl


@TRANSFORMS.register_module()
class LoadPseudoLabels(BaseTransform):
    """Fill the unlabeled pixels of ``gt_seg_map`` with pseudo-labels.

    Reads the newest complete pass of
    :class:`~mmseg_zs3.engine.hooks.PseudoLabelHook` in ``pseudo_label_dir``
    (its manifest ``pseudo_labels.json`` names the pass folder, the split,
    the class list and the per-class thresholds) and sets every pixel whose
    label is ``ignore_index`` and whose candidate score reaches its class
    threshold to that unseen class (ZS5Net: seen ground truth plus
    pseudo-labels, Bucher et al., NeurIPS 2019, section 3.3). Seen labels
    are never changed.

    Put it after ``LoadAnnotations`` and the mapping of unseen labels to
    ignore (``SeenOnlyDataset(policy='ignore')`` inserts
    ``MapUnseenToIgnore`` right after ``LoadAnnotations``), before any
    geometric augmentation: the maps have the size of the label files.

    The manifest is read again whenever it changes (one ``stat`` per sample),
    so dataloader workers follow the passes of a running training. Before the
    first pass exists, a dataloader worker waits for it (up to
    ``wait_timeout`` seconds: an ``IterBasedTrainLoop`` starts its workers
    before the hook's first pass); in the main process a missing manifest is
    an error at once.

    Required Keys:

    - gt_seg_map
    - img_path
    - seg_map_path (optional, for messages)

    Modified Keys:

    - gt_seg_map

    Args:
        pseudo_label_dir (str): The folder ``PseudoLabelHook`` writes.
        split (dict): The seen/unseen split of the training (see
            :func:`~mmseg_zs3.splits.build_split`); the manifest must be of
            the same split.
        classes (str | Sequence[str]): The dataset's class names or its
            mmseg dataset type name; the manifest must have the same list.
        ignore_index (int): The label of unlabeled pixels. Defaults to 255.
        wait_timeout (float): Seconds a dataloader worker waits for the first
            manifest. Defaults to 1800.

    Raises:
        ValueError: A split without unseen classes, or a negative
            ``wait_timeout``. While loading, each naming the file: a manifest
            of another split, class list or ignore index, a map of another
            size than the label, an unseen label in ``gt_seg_map``.
        FileNotFoundError: No manifest (no complete pass), or no map for an
            image (the folder was made for other images).
    """

    def __init__(self,
                 pseudo_label_dir: str,
                 split: SplitSpec,
                 classes: Union[str, Sequence[str]],
                 ignore_index: int = 255,
                 wait_timeout: float = 1800.0) -> None:
        from ...embeddings import resolve_class_names
        self.pseudo_label_dir = str(pseudo_label_dir)
        self.classes = list(resolve_class_names(classes))
        self.split = build_split(split, self.classes)
        if not self.split.unseen_indices:
            raise ValueError(
                f'LoadPseudoLabels: split {self.split.name!r} has no unseen '
                'class; pseudo-labels are unseen-class labels')
        if not isinstance(wait_timeout, (int, float)) or wait_timeout < 0:
            raise ValueError(f'LoadPseudoLabels: wait_timeout={wait_timeout!r}'
                             '; expected seconds >= 0')
        self.ignore_index = ignore_index
        self.wait_timeout = float(wait_timeout)
        self._stamp = None
        self._manifest: Optional[dict] = None
        self._thresholds = None

    @property
    def manifest_path(self) -> str:
        return osp.join(self.pseudo_label_dir, pl.MANIFEST_NAME)

    def _load_manifest(self) -> dict:
        """The current manifest, re-read when the file changed."""
        try:
            st = os.stat(self.manifest_path)
        except FileNotFoundError:
            st = self._wait_for_manifest()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            manifest = pl.read_manifest(self.pseudo_label_dir)
            if manifest is None:  # replaced meanwhile: read it next time
                return self._load_manifest()
            self._check_manifest(manifest)
            self._manifest = manifest
            self._thresholds = pl.manifest_thresholds(manifest)
            self._stamp = stamp
        return self._manifest

    def _wait_for_manifest(self) -> os.stat_result:
        from torch.utils.data import get_worker_info
        deadline = time.monotonic() + (
            self.wait_timeout if get_worker_info() is not None else 0)
        while True:
            try:
                return os.stat(self.manifest_path)
            except FileNotFoundError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        raise FileNotFoundError(
            f'LoadPseudoLabels: {self.manifest_path} does not exist: '
            f'{self.pseudo_label_dir} holds no complete pseudo-label pass. '
            "Add PseudoLabelHook to custom_hooks (same pseudo_label_dir) to "
            'write one before training.')

    def _check_manifest(self, manifest: dict) -> None:
        theirs = manifest.get('split', {})
        if list(theirs.get('unseen', [])) != list(self.split.unseen_names):
            raise ValueError(
                f'LoadPseudoLabels: {self.manifest_path} was made for split '
                f'{theirs.get("name")!r} with unseen {theirs.get("unseen")}, '
                f'but this training uses split {self.split.name!r} with '
                f'unseen {list(self.split.unseen_names)}: its pseudo-labels '
                'are of other classes. Use the pseudo_label_dir of this '
                'split, or rerun the pass.')
        if list(manifest.get('classes', [])) != self.classes:
            raise ValueError(
                f'LoadPseudoLabels: {self.manifest_path} was made for the '
                f'class list {manifest.get("classes")}, but this dataset has '
                f'{self.classes}')
        if manifest.get('ignore_index') != self.ignore_index:
            raise ValueError(
                f'LoadPseudoLabels: {self.manifest_path} was made with '
                f'ignore_index={manifest.get("ignore_index")}, this '
                f'transform has {self.ignore_index}')

    def transform(self, results: dict) -> dict:
        """Merge the pseudo-labels of ``results['img_path']``.

        Args:
            results (dict): Result dict after ``LoadAnnotations``.

        Returns:
            dict: ``results`` with pseudo-labels in ``gt_seg_map``.
        """
        manifest = self._load_manifest()
        seg = results['gt_seg_map']
        label_path = results.get('seg_map_path', results.get('img_path'))
        unseen = list(self.split.unseen_indices)
        if np.isin(seg, unseen).any():
            raise ValueError(
                f'LoadPseudoLabels: the label of {label_path!r} holds unseen '
                'classes; map them to ignore first (SeenOnlyDataset with '
                "policy='ignore', or MapUnseenToIgnore right after "
                'LoadAnnotations), or training would read unseen ground truth')
        folder = osp.join(self.pseudo_label_dir, manifest['folder'])
        path = osp.join(folder, pl.map_name(results['img_path']))
        try:
            cand = pl.read_map(path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'LoadPseudoLabels: no pseudo-label map {path} for image '
                f'{results["img_path"]!r}: the pass in {folder} labeled '
                f'{manifest.get("num_images")} other images (another dataset '
                'or split folder?). Rerun the pass on these training '
                'images.') from None
        if cand.shape[:2] != seg.shape:
            raise ValueError(
                f'LoadPseudoLabels: the pseudo-label map {path} is '
                f'{cand.shape[1]}x{cand.shape[0]} (width x height), but the '
                f'label {label_path!r} is {seg.shape[1]}x{seg.shape[0]}: the '
                'map belongs to another image, or LoadPseudoLabels comes '
                'after a resize or crop (put it right after LoadAnnotations)')
        labels = pl.apply_thresholds(cand, self._thresholds, self.ignore_index)
        fill = (seg == self.ignore_index) & (labels != self.ignore_index)
        if fill.any():
            seg = seg.copy()
            seg[fill] = labels[fill]
            results['gt_seg_map'] = seg
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'pseudo_label_dir={self.pseudo_label_dir!r}, '
                f'split={self.split.name!r}, '
                f'ignore_index={self.ignore_index})')
