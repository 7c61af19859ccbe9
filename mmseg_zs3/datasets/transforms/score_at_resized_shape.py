"""Score predictions at the resized size, as the official ZS3Net does."""
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ScoreAtResizedShape(BaseTransform):
    """Make the resized image and label the originals that are scored.

    mmseg's test pipelines resize the image only and load the label after,
    so predictions are resized back to the original image and scored at its
    resolution. The official ZS3Net evaluation resizes image and label (the
    label nearest) to a short side of 513 and scores there. Put this
    transform after a ``Resize`` that follows ``LoadAnnotations`` (mmseg's
    ``Resize`` resizes ``gt_seg_map`` with nearest interpolation): it sets
    ``ori_shape`` to the resized ``img_shape``, so the segmentor returns its
    prediction at that size and the metric compares it with the resized
    label.

    Without a label (mmseg's ``inference_model`` and ``MMSegInferencer``
    remove ``LoadAnnotations`` from the test pipeline) nothing is scored, and
    ``ori_shape`` is left alone: predictions come back at the original size.

    Required Keys:

    - img_shape
    - gt_seg_map (optional)

    Modified Keys:

    - ori_shape

    Raises:
        ValueError: The label was not resized with the image (its shape
            differs from ``img_shape``); the message names the file.
    """

    def transform(self, results: dict) -> dict:
        shape = tuple(results['img_shape'][:2])
        seg = results.get('gt_seg_map')
        if seg is None:
            return results
        if tuple(seg.shape[:2]) != shape:
            raise ValueError(
                f'ScoreAtResizedShape: the label map of '
                f'{results.get("seg_map_path", results.get("img_path"))} is '
                f'{tuple(seg.shape[:2])} but the image is {shape}: put '
                'LoadAnnotations before the Resize so that the label is '
                'resized with the image')
        results['ori_shape'] = shape
        return results
