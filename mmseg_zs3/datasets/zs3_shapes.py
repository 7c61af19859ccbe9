"""The generated compositional-shapes dataset of the CPU demo."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

COLOURS = ('red', 'green', 'blue', 'yellow')
SHAPES = ('circle', 'square', 'triangle', 'cross')

# RGB of each colour word (before per-object jitter) and the shade of each
# shape in the palette of the figures.
COLOUR_RGB = {
    'red': (220, 40, 40),
    'green': (40, 190, 60),
    'blue': (50, 80, 230),
    'yellow': (230, 210, 40),
}
_SHAPE_SHADE = {'circle': 1.0, 'square': 0.75, 'triangle': 0.55, 'cross': 0.35}

SHAPES_CLASSES = ('background', ) + tuple(f'{c} {s}' for c in COLOURS
                                          for s in SHAPES)
#: The default unseen classes: the "diagonal", so that every colour word and
#: every shape word is still seen in three other classes.
SHAPES_UNSEEN = tuple(f'{c} {s}' for c, s in zip(COLOURS, SHAPES))
SHAPES_PALETTE = [[0, 0, 0]
                  ] + [[int(v * _SHAPE_SHADE[s]) for v in COLOUR_RGB[c]]
                       for c in COLOURS for s in SHAPES]


@DATASETS.register_module()
class ZS3ShapesDataset(BaseSegDataset):
    """Compositional shapes: "<colour> <shape>" objects on textured ground.

    Written by :func:`mmseg_zs3.datasets.generate_shapes_dataset` (or
    ``tools/generate_shapes_dataset.py``) in the folder layout
    ``img_dir/{split}/*.png`` + ``ann_dir/{split}/*.png`` (label PNGs hold
    class indices; 0 is background). 17 classes: background and the 16
    combinations of four colour words and four shape words. Each class name
    is made of real words whose meaning determines its appearance, so an
    unseen combination (e.g. "red circle") can be reached through the word
    vectors of "red" and "circle", which both occur in seen classes.

    Args:
        img_suffix (str): Defaults to '.png'.
        seg_map_suffix (str): Defaults to '.png'.
        reduce_zero_label (bool): Must stay False: the label value 0 is the
            class 'background', not "unlabelled". Defaults to False.
        **kwargs: Arguments of ``BaseSegDataset``.

    Raises:
        ValueError: If ``reduce_zero_label`` is True.
    """
    METAINFO = dict(classes=SHAPES_CLASSES, palette=SHAPES_PALETTE)

    def __init__(self,
                 img_suffix='.png',
                 seg_map_suffix='.png',
                 reduce_zero_label=False,
                 **kwargs) -> None:
        if reduce_zero_label:
            raise ValueError(
                'ZS3ShapesDataset: reduce_zero_label=True would turn the '
                "class 'background' (label 0) into ignored pixels and move "
                'every other class down by one (unseen classes included, '
                'which would then pass the seen-only filter). The shapes '
                'labels are class indices with 0 = background: leave '
                'reduce_zero_label=False.')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
