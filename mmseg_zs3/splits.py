"""Seen/unseen class splits of the zero-shot segmentation protocols.

Every split is stored as a list of unseen class **names** and resolved against
a dataset's own class list, so indices are always the dataset's global class
indices (never hard-coded, never renumbered). This matters because datasets
order their classes differently: mmseg's Pascal-Context is alphabetical, while
ZS3Net's own Context list puts the 20 VOC classes first.

Protocols:

- ``'zs3_voc'`` (alias ``'voc12'``): ZS3Net (Bucher et al., NeurIPS 2019),
  Pascal VOC 2012, nested K = 2, 4, 6, 8, 10.
- ``'zs3_context'`` (alias ``'context60'``): ZS3Net, Pascal-Context with 60
  classes (background is a class), nested K = 2, 4, 6, 8, 10.
- ``'spnet_voc'``: SPNet (Xian et al., CVPR 2019) VOC 15/5, K = 5.
- ``'spnet_cocostuff'``: SPNet COCO-Stuff 164k (171 classes), K = 15.

Example:
    >>> split = get_split('voc12', 2)
    >>> split.unseen_names, split.unseen_indices
    (('cow', 'motorbike'), (10, 14))
    >>> build_split(dict(unseen=['sofa']), classes=split.classes).name
    'custom'
"""
import difflib
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

# Unseen classes added at each K, in the order of ZS3NET.md section 7.
_ZS3_VOC_STEPS = (
    (2, ('cow', 'motorbike')),
    (4, ('aeroplane', 'sofa')),
    (6, ('cat', 'tvmonitor')),
    (8, ('train', 'bottle')),
    (10, ('chair', 'pottedplant')),
)
_ZS3_CONTEXT_STEPS = (
    (2, ('cow', 'motorbike')),
    (4, ('sofa', 'cat')),
    (6, ('boat', 'fence')),
    (8, ('bird', 'tvmonitor')),
    (10, ('keyboard', 'aeroplane')),
)


def _nested(steps) -> Dict[int, Tuple[str, ...]]:
    """Turn ``(k, added names)`` steps into ``{k: all unseen names}``."""
    table, names = {}, ()
    for k, added in steps:
        names = names + added
        table[k] = names
    return table


# name -> (mmseg dataset class that gives the default class list,
#          {K: unseen class names})
_PROTOCOLS: Dict[str, Tuple[str, Dict[int, Tuple[str, ...]]]] = {
    'zs3_voc': ('PascalVOCDataset', _nested(_ZS3_VOC_STEPS)),
    'zs3_context': ('PascalContextDataset', _nested(_ZS3_CONTEXT_STEPS)),
    'spnet_voc': ('PascalVOCDataset', {
        5: ('pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
    }),
    'spnet_cocostuff': ('COCOStuffDataset', {
        15: ('cow', 'giraffe', 'suitcase', 'frisbee', 'skateboard', 'carrot',
             'scissors', 'cardboard', 'clouds', 'grass', 'playingfield',
             'river', 'road', 'tree', 'wall-concrete')
    }),
}
_ALIASES = {'voc12': 'zs3_voc', 'context60': 'zs3_context'}


def list_splits() -> Dict[str, Tuple[int, ...]]:
    """The named protocols and the K values each defines.

    Returns:
        dict[str, tuple[int]]: ``{name: Ks}``; aliases are included.
    """
    out = {
        name: tuple(sorted(table))
        for name, (_, table) in _PROTOCOLS.items()
    }
    out.update({alias: out[name] for alias, name in _ALIASES.items()})
    return out


@dataclass(frozen=True)
class ZeroShotSplit:
    """A seen/unseen partition of a dataset's classes.

    The unseen classes are given by name and checked against ``classes``;
    after construction ``unseen_names`` is in dataset order, so that
    ``unseen_names[i] == classes[unseen_indices[i]]``.

    Args:
        classes (tuple[str]): All class names of the dataset, in the dataset's
            own order (index ``i`` is label value ``i``).
        unseen_names (tuple[str]): Names of the unseen classes. May be empty
            (a split without unseen classes, e.g. a supervised baseline).
        name (str): Name of the protocol, e.g. ``'zs3_voc_k2'``.
            Defaults to ``'custom'``.

    Raises:
        TypeError: If an unseen class or a dataset class is not a name
            (``str``), e.g. an index; for indices, the message gives the
            names they stand for.
        ValueError: If an unseen name is not in ``classes`` (the message lists
            the dataset's classes), is repeated, or if no class is left seen.
    """
    classes: Tuple[str, ...]
    unseen_names: Tuple[str, ...]
    name: str = 'custom'

    def __post_init__(self):
        classes = tuple(self.classes)
        unseen = tuple(self.unseen_names)
        not_names = [c for c in classes if not isinstance(c, str)]
        if not_names:
            raise TypeError(
                f'Split {self.name!r}: the dataset class list must hold '
                f'class names (str), got {not_names[:5]!r}.')
        not_names = [u for u in unseen if not isinstance(u, str)]
        if not_names:
            hint = ''
            if all(
                    isinstance(u, int) and not isinstance(u, bool)
                    and 0 <= u < len(classes) for u in unseen):
                hint = (f' If these are class indices, the names are '
                        f'unseen={[classes[u] for u in unseen]!r}.')
            raise TypeError(
                f'Split {self.name!r}: unseen classes are given by name '
                f'(str), not {type(not_names[0]).__name__}: got '
                f'{list(unseen)!r}.{hint} The dataset classes are '
                f'{list(classes)}.')
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f'Split {self.name!r}: the dataset class list '
                             f'has repeated names {dup}.')
        unknown = [u for u in unseen if u not in classes]
        if unknown:
            hints = {
                u: difflib.get_close_matches(u, classes, n=3)
                for u in unknown
            }
            hints = {u: h for u, h in hints.items() if h}
            hint = f' Close matches: {hints}.' if hints else ''
            raise ValueError(
                f'Split {self.name!r}: unseen class(es) {unknown} are not '
                f'classes of the dataset.{hint} The dataset classes are '
                f'{list(classes)}.')
        if len(set(unseen)) != len(unseen):
            dup = sorted({u for u in unseen if unseen.count(u) > 1})
            raise ValueError(
                f'Split {self.name!r}: unseen class(es) {dup} are repeated.')
        if len(unseen) == len(classes):
            raise ValueError(
                f'Split {self.name!r}: all {len(classes)} classes are unseen; '
                'a split needs at least one seen class.')
        ordered = tuple(c for c in classes if c in set(unseen))
        object.__setattr__(self, 'classes', classes)
        object.__setattr__(self, 'unseen_names', ordered)

    @property
    def num_classes(self) -> int:
        """int: Number of classes of the dataset (seen + unseen)."""
        return len(self.classes)

    @property
    def unseen_indices(self) -> Tuple[int, ...]:
        """tuple[int]: Global class indices of the unseen classes, sorted."""
        unseen = set(self.unseen_names)
        return tuple(i for i, c in enumerate(self.classes) if c in unseen)

    @property
    def seen_indices(self) -> Tuple[int, ...]:
        """tuple[int]: Global class indices of the seen classes, sorted."""
        unseen = set(self.unseen_names)
        return tuple(i for i, c in enumerate(self.classes) if c not in unseen)

    @property
    def seen_names(self) -> Tuple[str, ...]:
        """tuple[str]: Names of the seen classes, in dataset order."""
        return tuple(self.classes[i] for i in self.seen_indices)


def _default_classes(dataset_type: str) -> Tuple[str, ...]:
    """The class list of an mmseg dataset class, e.g. ``PascalVOCDataset``."""
    import mmseg.datasets as mmseg_datasets
    return tuple(getattr(mmseg_datasets, dataset_type).METAINFO['classes'])


def get_split(name: str,
              k: Optional[int] = None,
              classes: Optional[Sequence[str]] = None) -> ZeroShotSplit:
    """Get a named split of a zero-shot protocol.

    Args:
        name (str): Protocol name: ``'zs3_voc'`` (alias ``'voc12'``),
            ``'zs3_context'`` (alias ``'context60'``), ``'spnet_voc'`` or
            ``'spnet_cocostuff'``.
        k (int, optional): Number of unseen classes. Required when the
            protocol defines several K; defaults to the only K otherwise.
        classes (Sequence[str], optional): The dataset's class names, in its
            order. Defaults to the class list of the protocol's mmseg dataset
            (``PascalVOCDataset``, ``PascalContextDataset`` with 60 classes,
            ``COCOStuffDataset``).

    Returns:
        ZeroShotSplit: The split, named e.g. ``'zs3_voc_k2'``.

    Raises:
        ValueError: If the name or K is not defined, or an unseen class is
            not in ``classes``.
    """
    canonical = _ALIASES.get(name, name)
    if canonical not in _PROTOCOLS:
        raise ValueError(f'Unknown split name {name!r}; valid names are '
                         f'{sorted(list_splits())}. For your own split, use '
                         "build_split(dict(unseen=[...]), classes).")
    dataset_type, table = _PROTOCOLS[canonical]
    valid_ks = sorted(table)
    if k is None:
        if len(valid_ks) != 1:
            raise ValueError(f'Split {name!r} needs k, one of {valid_ks}.')
        k = valid_ks[0]
    if isinstance(k, bool) or not isinstance(k, int) or k not in table:
        raise ValueError(f'Split {name!r} does not define k={k!r}; valid k '
                         f'are {valid_ks}.')
    if classes is None:
        classes = _default_classes(dataset_type)
    return ZeroShotSplit(
        classes=tuple(classes),
        unseen_names=table[k],
        name=f'{canonical}_k{k}')


SplitSpec = Union[ZeroShotSplit, dict]


def build_split(spec: SplitSpec,
                classes: Optional[Sequence[str]] = None) -> ZeroShotSplit:
    """Build a split from a config spec, resolved against a class list.

    Args:
        spec (ZeroShotSplit | dict): One of

            - ``dict(name='zs3_voc', k=2)``: a named protocol split;
            - ``dict(unseen=['cow', 'sofa'])``: a user-defined split (an
              optional ``name`` key names it; defaults to ``'custom'``);
            - a :class:`ZeroShotSplit`, re-resolved by name against
              ``classes`` when those differ from the split's own.
        classes (Sequence[str], optional): The dataset's class names.
            Required for user-defined splits; for named splits it defaults
            to the protocol's mmseg dataset.

    Returns:
        ZeroShotSplit: The resolved split.

    Raises:
        TypeError: If ``spec`` is neither a dict nor a ZeroShotSplit, or its
            unseen classes are not names (e.g. indices).
        ValueError: If the spec mixes or misses keys, or names are unknown.
    """
    if isinstance(spec, ZeroShotSplit):
        if classes is None or tuple(classes) == spec.classes:
            return spec
        return ZeroShotSplit(tuple(classes), spec.unseen_names, spec.name)
    if not isinstance(spec, dict):
        raise TypeError('split must be a ZeroShotSplit or a dict such as '
                        "dict(name='zs3_voc', k=2) or dict(unseen=[...]), "
                        f'got {type(spec).__name__}: {spec!r}.')
    spec = dict(spec)
    if 'unseen' in spec:
        extra = set(spec) - {'unseen', 'name'}
        if extra:
            raise ValueError(f'Custom split {spec!r}: unexpected keys '
                             f'{sorted(extra)}; valid keys are unseen, name.')
        unseen = spec['unseen']
        if isinstance(unseen, str) or not isinstance(unseen, (list, tuple)):
            raise ValueError('Custom split: `unseen` must be a list of class '
                             f'names, got {unseen!r}.')
        if classes is None:
            raise ValueError('Custom split: the dataset class list is needed '
                             'to resolve unseen names; pass classes=.')
        return ZeroShotSplit(
            tuple(classes), tuple(unseen), spec.get('name', 'custom'))
    if 'name' in spec:
        extra = set(spec) - {'name', 'k'}
        if extra:
            raise ValueError(f'Named split {spec!r}: unexpected keys '
                             f'{sorted(extra)}; valid keys are name, k.')
        return get_split(spec['name'], spec.get('k'), classes)
    raise ValueError(f'Split spec {spec!r} needs either `name` (with `k`) '
                     'or `unseen` (a list of class names).')
