"""Check a loaded label map against its image and the class count."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegMap(BaseTransform):
    """Raise, naming the file, on a label map the model cannot learn from.

    Insert it directly after ``LoadAnnotations`` (which has applied
    ``reduce_zero_label`` and the dataset's ``label_map``), before any
    augmentation. Without it mmseg

    - fails on a label above the class count with torch's ``Target 40 is out
      of bounds`` in training, naming no file, and silently drops those
      pixels from the metric in validation;
    - pads a label map smaller than its image into a corner and trains on it
      (and crashes at validation);
    - stacks a 3-channel label PNG into a tensor error about dimensions.

    It checks that the map is 2-D, has its image's original size
    (``ori_shape``, set by ``LoadImageFromFile``, so it may follow a
    ``Resize`` of the image as mmseg's test pipelines do) and holds only
    class indices ``0 .. num_classes - 1`` or ``ignore_index``. The cost is
    one pass over the map (well under a millisecond for 512x512), a small
    fraction of decoding the PNG. Without a label (no ``seg_map_path``: mmseg's
    ``inference_model`` and ``MMSegInferencer`` remove ``LoadAnnotations``
    from the test pipeline) there is nothing to check.

    :class:`~mmseg_zs3.datasets.SeenOnlyDataset` inserts it into the training
    pipelines it wraps, with the class count of the dataset.

    Required Keys:

    - gt_seg_map
    - seg_map_path
    - ori_shape
    - img_path (optional, for messages)
    - reduce_zero_label (optional, for messages)

    Args:
        num_classes (int): The dataset's class count.
        ignore_index (int): The label of pixels without a class.
            Defaults to 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'CheckSegMap: num_classes={num_classes!r}; '
                             'expected a positive integer (the length of the '
                             "dataset's class list).")
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        """Check ``results['gt_seg_map']``.

        Args:
            results (dict): Result dict from ``LoadAnnotations``.

        Returns:
            dict: ``results``, unchanged.

        Raises:
            KeyError: If the sample has a label file but the map or the
                image's size is missing (the transform is not after
                ``LoadImageFromFile`` and ``LoadAnnotations``).
            ValueError: Naming the label file: a map that is not 2-D, of
                another size than its image, or with values that are no
                class index.
        """
        if 'gt_seg_map' not in results and 'seg_map_path' not in results:
            return results  # inference: mmseg's APIs drop LoadAnnotations
        if 'gt_seg_map' not in results or 'ori_shape' not in results:
            raise KeyError(
                'CheckSegMap needs `gt_seg_map` and `ori_shape`: put it '
                'after LoadImageFromFile and directly after LoadAnnotations '
                f'(got keys {sorted(results)}).')
        seg = results['gt_seg_map']
        path = results.get('seg_map_path', '<label map>')
        if seg.ndim != 2:
            raise ValueError(self._shape_message(seg, path))
        image = tuple(int(v) for v in results['ori_shape'][:2])
        if tuple(seg.shape) != image:
            raise ValueError(
                f'Label map {path!r} is {seg.shape[1]}x{seg.shape[0]} '
                f'pixels (width x height), but its image '
                f"{results.get('img_path', '')!r} is {image[1]}x{image[0]}: "
                'every label map must have the size of its image (mmseg '
                'would pad the labels into a corner). Check that the image '
                'and label folders match, file by file.')
        bad = seg >= self.num_classes
        if bad.any():
            bad &= seg != self.ignore_index
            if bad.any():
                raise ValueError(self._value_message(seg, bad, path, results))
        return results

    def _shape_message(self, seg: np.ndarray, path: str) -> str:
        hint = ''
        if seg.ndim == 3 and seg.shape[2] in (3, 4):
            same = all(
                np.array_equal(seg[..., 0], seg[..., c]) for c in (1, 2))
            hint = (' Its colour channels are identical: save the first one '
                    'as a single-channel PNG.' if same else
                    ' It looks like a colour-coded mask: convert each colour '
                    'to its class index (e.g. with the dataset palette) and '
                    "save a single-channel ('L' or 'P' mode) PNG.")
        return (f'Label map {path!r} has shape {tuple(seg.shape)}; mmseg '
                'needs a single-channel (H, W) map of class indices.' + hint)

    def _value_message(self, seg: np.ndarray, bad: np.ndarray, path: str,
                       results: dict) -> str:
        values = np.unique(seg[bad]).tolist()
        shown = ', '.join(str(v) for v in values[:8])
        more = f' and {len(values) - 8} more' if len(values) > 8 else ''
        raw = ''
        if results.get('reduce_zero_label'):
            raw = (' (file values '
                   f'{", ".join(str(v + 1) for v in values[:8])}{more}: '
                   'reduce_zero_label=True shifts every value down by one)')
        return (f'Label map {path!r} holds the value(s) {shown}{more}'
                f'{raw} in {int(bad.sum())} pixels, but the dataset has '
                f'{self.num_classes} classes (labels 0..'
                f'{self.num_classes - 1}) and ignore index '
                f'{self.ignore_index}. Fix the label file, or check the '
                "dataset's class list and reduce_zero_label.")

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
