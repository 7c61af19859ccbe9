"""Per-dataset alias tables and named class lists.

An alias table maps a dataset's class name to the phrases tried, in order,
when looking the class up in a word-vector vocabulary. Each phrase is
resolved as a whole token first (``'potted_plant'``), then as the mean of its
word tokens (``'potted'``, ``'plant'``); the first phrase whose tokens are
all in the vocabulary wins. A class without an entry is looked up by its own
name. The tables only cover names that are not plain words: glued compounds
(``pottedplant``) and COCO-Stuff's ``-other`` / ``-stuff`` suffixes, which
would otherwise average the word ``other`` into the class vector.
"""
import os.path as osp
from typing import Dict, List, Sequence, Union

AliasTable = Dict[str, List[str]]

VOC_ALIASES: AliasTable = {
    'aeroplane': ['aeroplane', 'airplane'],
    'diningtable': ['dining table', 'table'],
    'motorbike': ['motorbike', 'motorcycle'],
    'pottedplant': ['potted plant', 'plant'],
    'tvmonitor': ['tv monitor', 'tv'],
}

# The words the official ZS3 VOC file used for the glued names (ZS3 issue #9).
VOC_ZS3_OFFICIAL_ALIASES: AliasTable = {
    **VOC_ALIASES,
    'diningtable': ['table'],
    'tvmonitor': ['tv'],
}

CONTEXT_ALIASES: AliasTable = {
    **VOC_ALIASES,
    'bedclothes': ['bedclothes', 'bed clothes'],
}

COCO_STUFF_ALIASES: AliasTable = {
    'building-other': ['building'],
    'ceiling-other': ['ceiling'],
    'desk-stuff': ['desk'],
    'door-stuff': ['door'],
    'floor-other': ['floor'],
    'food-other': ['food'],
    'furniture-other': ['furniture'],
    'ground-other': ['ground'],
    'hair drier': ['hair dryer', 'hair drier'],
    'mirror-stuff': ['mirror'],
    'plant-other': ['plant'],
    'playingfield': ['playing field', 'playingfield'],
    'sky-other': ['sky'],
    'solid-other': ['solid'],
    'structural-other': ['structure', 'structural'],
    'textile-other': ['textile'],
    'wall-other': ['wall'],
    'water-other': ['water'],
    'waterdrops': ['water drops', 'waterdrops'],
    'window-other': ['window'],
}

# CamVid's glued 'SignSymbol' (signs and traffic lights)
CAMVID_ALIASES: AliasTable = {'signsymbol': ['sign symbol', 'sign']}

DATASET_ALIASES: Dict[str, AliasTable] = {
    'CamVidDataset': CAMVID_ALIASES,
    'PascalVOCDataset': VOC_ALIASES,
    'PascalVOCDataset_zs3_official': VOC_ZS3_OFFICIAL_ALIASES,
    'PascalContextDataset': CONTEXT_ALIASES,
    'PascalContextDataset59': CONTEXT_ALIASES,
    'COCOStuffDataset': COCO_STUFF_ALIASES,
    'coco_stuff_182': COCO_STUFF_ALIASES,
}

# COCO-Stuff's own 182-id label list (cocostuff ``labels.txt`` without
# ``0: unlabeled``): mmseg's 171 classes plus the 11 COCO thing ids that have
# no annotations. The published 182-row arrays (SPNet, CaGNet) follow it.
COCO_STUFF_UNUSED_IDS = ('street sign', 'hat', 'shoe', 'eye glasses', 'plate',
                         'mirror', 'window', 'desk', 'door', 'blender',
                         'hair brush')
COCO_STUFF_182_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'street sign',
    'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse',
    'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'hat', 'backpack',
    'umbrella', 'shoe', 'eye glasses', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat',
    'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'plate', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana',
    'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza',
    'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed', 'mirror',
    'dining table', 'window', 'desk', 'toilet', 'door', 'tv', 'laptop',
    'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
    'toaster', 'sink', 'refrigerator', 'blender', 'book', 'clock', 'vase',
    'scissors', 'teddy bear', 'hair drier', 'toothbrush', 'hair brush',
    'banner', 'blanket', 'branch', 'bridge', 'building-other', 'bush',
    'cabinet', 'cage', 'cardboard', 'carpet', 'ceiling-other', 'ceiling-tile',
    'cloth', 'clothes', 'clouds', 'counter', 'cupboard', 'curtain',
    'desk-stuff', 'dirt', 'door-stuff', 'fence', 'floor-marble', 'floor-other',
    'floor-stone', 'floor-tile', 'floor-wood', 'flower', 'fog', 'food-other',
    'fruit', 'furniture-other', 'grass', 'gravel', 'ground-other', 'hill',
    'house', 'leaves', 'light', 'mat', 'metal', 'mirror-stuff', 'moss',
    'mountain', 'mud', 'napkin', 'net', 'paper', 'pavement', 'pillow',
    'plant-other', 'plastic', 'platform', 'playingfield', 'railing',
    'railroad', 'river', 'road', 'rock', 'roof', 'rug', 'salad', 'sand', 'sea',
    'shelf', 'sky-other', 'skyscraper', 'snow', 'solid-other', 'stairs',
    'stone', 'straw', 'structural-other', 'table', 'tent', 'textile-other',
    'towel', 'tree', 'vegetable', 'wall-brick', 'wall-concrete', 'wall-other',
    'wall-panel', 'wall-stone', 'wall-tile', 'wall-wood', 'water-other',
    'waterdrops', 'window-blind', 'window-other', 'wood')

NAMED_CLASS_LISTS: Dict[str, Sequence[str]] = {
    'coco_stuff_182': COCO_STUFF_182_CLASSES,
}


def get_aliases(spec: Union[None, str, dict]) -> AliasTable:
    """Return an alias table.

    Args:
        spec (None | str | dict): ``None`` for no aliases; a dict
            ``{class: phrase or [phrases]}``; a key of
            :data:`DATASET_ALIASES` (an mmseg dataset type name such as
            ``'PascalVOCDataset'``); or the path of a JSON/YAML file holding
            such a dict.

    Returns:
        dict: ``{class: [phrase, ...]}``.

    Raises:
        ValueError: An unknown table name, a file that is not ``.json``,
            ``.yaml`` or ``.yml`` or does not parse (the file is named), or
            an entry that is not a phrase or a list of phrases.
        TypeError: The file does not hold a dict.
    """
    if spec is None:
        return {}
    if isinstance(spec, dict):
        table = spec
    elif isinstance(spec, str) and spec in DATASET_ALIASES:
        table = DATASET_ALIASES[spec]
    elif isinstance(spec, str) and osp.isfile(spec):
        table = _load_alias_file(spec)
        if not isinstance(table, dict):
            raise TypeError(f'alias file {spec!r} must hold a dict '
                            f'{{class: phrase or [phrases]}}, got '
                            f'{type(table).__name__}')
    else:
        raise ValueError(
            f'unknown alias table {spec!r}: expected a dict, a JSON/YAML '
            f'file, or one of {sorted(DATASET_ALIASES)}')
    out = {}
    for name, phrases in table.items():
        if isinstance(phrases, str):
            phrases = [phrases]
        if not phrases or not all(isinstance(p, str) for p in phrases):
            raise ValueError(f'alias of {name!r} must be a phrase or a '
                             f'non-empty list of phrases, got {phrases!r}')
        out[str(name)] = list(phrases)
    return out


def _load_alias_file(path: str):
    """Parse a JSON or YAML alias file as data (``yaml.safe_load``: YAML
    tags such as ``!!python/object`` are refused, never run)."""
    if not path.endswith(('.json', '.yaml', '.yml')):
        raise ValueError(f'alias file {path!r}: expected a .json, .yaml or '
                         '.yml file')
    try:
        with open(path, encoding='utf-8') as f:
            if path.endswith('.json'):
                import json
                return json.load(f)
            import yaml
            return yaml.safe_load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f'alias file {path!r} does not parse: '
                         f'{e}') from None
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError and subclasses
        if type(e).__module__.split('.')[0] != 'yaml':
            raise
        raise ValueError(f'alias file {path!r} is not plain YAML data: '
                         f'{e}') from None


def resolve_class_names(spec: Union[str, Sequence[str]]) -> List[str]:
    """Turn a class-list specification into a list of class names.

    Args:
        spec (str | Sequence[str]): a sequence of names; an mmseg dataset type
            name (``'PascalVOCDataset'``, read from its ``METAINFO``); a name
            in :data:`NAMED_CLASS_LISTS` (``'coco_stuff_182'``); a text file
            with one name per line (``"12: street sign"`` lines, as in
            COCO-Stuff's ``labels.txt``, are accepted); or a comma-separated
            string of names.

    Returns:
        list[str]: The class names, in order.

    Raises:
        TypeError: A sequence holds something other than names (e.g. class
            indices), or ``spec`` is neither a string nor a sequence.
        ValueError: The list is empty or has duplicates, or a string is
            neither a named list, a file, a comma-separated list nor a
            dataset type.
    """
    if not isinstance(spec, str):
        try:
            names = list(spec)
        except TypeError:
            raise TypeError(f'class list must be a sequence of names or a '
                            f'string, got {type(spec).__name__}: '
                            f'{spec!r}') from None
        not_names = [n for n in names if not isinstance(n, str)]
        if not_names:
            raise TypeError(
                f'class names must be strings, got '
                f'{type(not_names[0]).__name__} values {not_names[:5]!r} in '
                f'{names[:8]!r}: give names, not indices')
        names = [str(n) for n in names]
    elif spec in NAMED_CLASS_LISTS:
        names = list(NAMED_CLASS_LISTS[spec])
    elif osp.isfile(spec):
        names = _read_class_file(spec)
    elif ',' in spec:
        names = [n.strip() for n in spec.split(',') if n.strip()]
    else:
        names = list(dataset_classes(spec))
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f'class list has duplicate names: {dup}')
    if not names:
        raise ValueError(f'class list {spec!r} is empty')
    return names


def dataset_classes(dataset_type: str) -> tuple:
    """Class names of a registered mmseg dataset type.

    Args:
        dataset_type (str): e.g. ``'PascalVOCDataset'``.

    Returns:
        tuple[str]: ``DATASETS.get(dataset_type).METAINFO['classes']``.
    """
    import difflib

    import mmseg.datasets  # noqa: F401  (registers mmseg's datasets)
    from mmseg.registry import DATASETS
    cls = DATASETS.get(dataset_type)
    if cls is None:
        known = sorted(DATASETS.module_dict)
        near = difflib.get_close_matches(dataset_type, known, n=3, cutoff=0.5)
        raise ValueError(
            f'{dataset_type!r} is neither a registered dataset type, a named '
            f'class list {sorted(NAMED_CLASS_LISTS)}, a file nor a '
            f'comma-separated list' +
            (f'; did you mean {near}?' if near else f'; datasets: {known}'))
    classes = getattr(cls, 'METAINFO', {}).get('classes')
    if not classes:
        raise ValueError(f'dataset {dataset_type!r} has no METAINFO classes')
    return tuple(classes)


def _read_class_file(path: str) -> List[str]:
    import re
    names = []
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.readlines()
    except UnicodeDecodeError as e:
        raise ValueError(f'class-name file {path!r} is not UTF-8 text with '
                         f'one name per line ({e})') from None
    for line in lines:
        line = line.strip()
        if not line:
            continue
        m = re.match(r'^\d+\s*[:\t]\s*(.+)$', line)
        names.append(m.group(1).strip() if m else line)
    return names
