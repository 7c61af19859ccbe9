"""A training-set wrapper that hides every unseen class from training."""
import hashlib
import io
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Union

import mmcv
import numpy as np
from mmcv.transforms import LoadAnnotations as MMCVLoadAnnotations
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.dist import barrier, get_dist_info
from mmengine.fileio import (HardDiskBackend, LocalBackend, get,
                             get_file_backend)
from mmengine.fileio.backends import backends, prefix_to_backends
from mmengine.logging import print_log
from mmseg.registry import DATASETS
from PIL import Image

from ..fileio import atomic_open
from ..splits import SplitSpec, ZeroShotSplit, build_split
from ..utils.cache_dir import user_cache_dir
from ..utils.progress import track
from .transforms import CheckSegMap, MapUnseenToIgnore

POLICIES = ('drop_image', 'ignore')
# 3: the label values as the pipeline's LoadAnnotations returns them (after
# reduce_zero_label), keyed by absolute path or URI, in a user cache folder.
CACHE_VERSION = 3
# Names of a class 0 that is a real class, which `reduce_zero_label=True`
# (label 0 = unlabelled) contradicts; checked against the label values.
BACKGROUND_NAMES = ('background', '_background_', 'bg')
# Plain local disks: a cache entry is checked by size and modification time.
# Any other storage (a registered backend, a URI prefix) has no portable
# modification time: its entries are checked by the SHA-256 of the file.
_LOCAL_BACKENDS = (LocalBackend, HardDiskBackend)
# Pillow modes of at most 8 bits per sample: no label value above 255.
_8_BIT_MODES = frozenset(('1', 'L', 'LA', 'La', 'P', 'PA', 'RGB', 'RGBA',
                          'RGBa', 'RGBX', 'CMYK', 'YCbCr', 'LAB', 'HSV'))


@DATASETS.register_module()
class SeenOnlyDataset:
    """Seen-only training data for zero-shot segmentation.

    Wraps any mmseg segmentation dataset (a ``BaseSegDataset`` or a
    ``ConcatDataset`` of them, e.g. mmseg's ``voc12aug``) and keeps every
    unseen class of ``split`` out of training. Class indices stay the inner
    dataset's global indices (no ``metainfo=dict(classes=...)`` relabelling).

    Two policies (Bucher et al., "Zero-Shot Semantic Segmentation",
    NeurIPS 2019, and its peers):

    - ``'drop_image'`` (ZS3Net): every image with any unseen pixel is
      removed, with mmengine's own bookkeeping: each inner dataset is cut to
      its kept images (``BaseDataset.get_subset_``) and a ``ConcatDataset``
      of them is rebuilt with mmengine's ``ConcatDataset``. As a guard, the
      pipeline also raises if a kept image ever shows an unseen pixel.
    - ``'ignore'`` (SPNet, CaGNet, ZegCLIP): images are kept and unseen
      pixels become the ignore index.

    The label values of each annotation are read once by the training
    pipeline's own ``LoadAnnotations`` (its ``backend_args``, so any mmengine
    file backend works, its ``imdecode_backend``, and the dataset's
    ``reduce_zero_label`` and ``label_map``), so the scan sees exactly what
    training sees. They are cached, independently of the split, in
    ``<cache_dir>/class_presence_<hash of the annotation list>.json``,
    written atomically. An entry is reused only while its file is unchanged:
    same size and modification time on a local disk, same SHA-256 on any
    other storage (which has no portable modification time), so changed
    annotations are rescanned and a changed annotation list gets its own
    cache. The scan runs on rank 0 first; the other ranks wait at a barrier
    and then read rank 0's cache.

    In both policies a :class:`CheckSegMap` (label values, size and channels
    of each label map, with the dataset's class count) and a
    :class:`MapUnseenToIgnore` transform are inserted right after every
    ``LoadAnnotations`` of the inner pipelines, before any augmentation (so
    after the ``reduce_zero_label`` shift). With ``'drop_image'`` every
    scanned label value is also checked against the class count before
    training starts.

    ``reduce_zero_label=True`` on a dataset whose class 0 is a background
    class (named in ``BACKGROUND_NAMES``) is checked against the label
    values: when no training annotation holds the value of the last class
    after the shift, the files already hold class indices with 0 =
    background, and the shift would move every class by one, unseen ones
    included (they would leak into seen-only training): refused.

    Args:
        dataset (dict | BaseDataset | ConcatDataset): The inner training
            dataset or its config. A built dataset is changed in place: its
            pipelines get the label checks, and its datasets are cut to the
            kept images (use :attr:`dataset`, not the object passed in).
        split (dict | ZeroShotSplit): The split, e.g.
            ``dict(name='zs3_voc', k=2)`` or ``dict(unseen=['cow'])``,
            resolved against the inner dataset's class names.
        policy (str): ``'drop_image'`` or ``'ignore'``.
            Defaults to ``'drop_image'`` (the paper).
        cache_dir (str, optional): Folder of the class-presence cache.
            Defaults to ``$MMSEG_ZS3_CACHE/class_presence`` when that
            variable is set, else ``~/.cache/mmseg_zs3/class_presence`` (a
            per-user folder, so read-only and shared dataset folders work;
            see :func:`~mmseg_zs3.utils.cache_dir.user_cache_dir`). An
            unwritable folder costs a warning and a rescan at every start.

    Attributes:
        dataset (BaseDataset | ConcatDataset): The seen-only training data.
        num_dropped (int): Images removed by ``'drop_image'``.

    Raises:
        ValueError: On an unknown policy, an unknown class name, a relabelled
            inner dataset, a pipeline without ``LoadAnnotations``, a
            ``CheckSegMap`` for another class count, an unreadable
            annotation, a label value that is no class, a label value above
            255 (which ``LoadAnnotations`` would wrap),
            ``reduce_zero_label=True`` on annotations whose 0 is the
            background class, or an empty training set.
        FileNotFoundError: If an annotation file is missing.
        TypeError: If ``dataset`` is no ``BaseDataset`` or
            ``ConcatDataset`` of them.
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset, ConcatDataset],
                 split: SplitSpec,
                 policy: str = 'drop_image',
                 cache_dir: Optional[str] = None) -> None:
        if policy not in POLICIES:
            raise ValueError(
                f'SeenOnlyDataset: policy={policy!r} is not supported; valid '
                f'policies are {list(POLICIES)}.')
        self.policy = policy
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not isinstance(dataset, (BaseDataset, ConcatDataset)):
            raise TypeError('SeenOnlyDataset wraps a BaseDataset or a '
                            'ConcatDataset (or their configs), got '
                            f'{type(dataset).__name__}.')
        dataset.full_init()
        leaves = _leaf_datasets(dataset)
        for leaf in leaves:
            if getattr(leaf, 'label_map', None) is not None:
                raise ValueError(
                    'SeenOnlyDataset: the inner dataset relabels classes '
                    f'(metainfo classes {list(leaf.metainfo["classes"])} '
                    'give it a label_map); zero-shot splits need the global '
                    'class indices, so leave its classes unchanged and name '
                    'the unseen ones in `split`.')
        self.split: ZeroShotSplit = build_split(split,
                                                dataset.metainfo['classes'])
        self.cache_dir = user_cache_dir('class_presence', cache_dir)
        loaders = [_annotation_loader(leaf) for leaf in leaves]
        infos = [[leaf.get_data_info(i) for i in range(len(leaf))]
                 for leaf in leaves]
        self._check_annotations(infos, loaders)
        self._insert_label_checks(leaves)

        presence = None
        if self._reduce_zero_label_suspects(leaves) or (
                policy == 'drop_image' and self.split.unseen_indices):
            presence = self._presence(leaves, infos, loaders)
            self._check_reduce_zero_label(leaves, presence)
            self._check_label_values(leaves, infos, presence)
        if policy == 'drop_image' and self.split.unseen_indices:
            keeps = self._images_without_unseen(presence)
        else:
            keeps = [np.ones(len(leaf), dtype=bool) for leaf in leaves]
        num_total = sum(len(leaf) for leaf in leaves)
        num_kept = int(sum(keep.sum() for keep in keeps))
        self.num_dropped = num_total - num_kept
        print_log(
            f'SeenOnlyDataset: split {self.split.name!r} with unseen '
            f'{list(self.split.unseen_names)}, policy {policy!r}: dropped '
            f'{self.num_dropped} of {num_total} training images, '
            f'{num_kept} kept.',
            logger='current')
        if num_kept == 0:
            raise ValueError(
                f'SeenOnlyDataset: no training image left: all {num_total} '
                f'images contain an unseen class of split {self.split.name!r} '
                f'{list(self.split.unseen_names)} (policy {policy!r}).')
        cut = set()  # a dataset object may appear twice in a ConcatDataset
        for leaf, keep in zip(leaves, keeps):
            if id(leaf) not in cut and not keep.all():
                leaf.get_subset_(np.flatnonzero(keep).tolist())
            cut.add(id(leaf))
        if isinstance(dataset, ConcatDataset):
            # the cut datasets have new lengths: mmengine's ConcatDataset
            # of them (a nested one flattened, in the same order)
            dataset = ConcatDataset(
                leaves, ignore_keys=_concat_ignore_keys(dataset) or None)
        self.dataset = dataset

    # ------------------------------------------------------------------
    # dataset interface
    @property
    def metainfo(self) -> dict:
        """dict: The inner dataset's meta information (global classes)."""
        return self.dataset.metainfo

    def full_init(self) -> None:
        """Nothing to do: the wrapper is fully initialised on creation."""

    def __len__(self) -> int:
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        """Get the annotation info of the ``idx``-th kept image.

        Args:
            idx (int): Index into the kept images.

        Returns:
            dict: The inner dataset's data info.
        """
        return self.dataset.get_data_info(idx)

    def __getitem__(self, idx: int) -> dict:
        """Run the pipeline on the ``idx``-th kept image.

        As ``BaseDataset.__getitem__`` (a ``None`` pipeline result is retried
        on another random image of the same inner dataset, all kept ones).

        Raises:
            IndexError: ``idx`` is out of range (ends an iteration).
            RuntimeError: The pipeline failed; the message names the image
                and its annotation.
        """
        if not -len(self) <= idx < len(self):
            raise IndexError(f'SeenOnlyDataset: index {idx} is out of range '
                             f'({len(self)} images).')
        try:
            return self.dataset[idx]
        except Exception as err:
            info = self.get_data_info(idx)
            raise RuntimeError(
                'SeenOnlyDataset: failed to load training image '
                f'{info.get("img_path")!r} with annotation '
                f'{info.get("seg_map_path")!r}: {err}') from err

    # ------------------------------------------------------------------
    # set-up
    def _check_annotations(self, infos: List[List[dict]],
                           loaders: List[MMCVLoadAnnotations]) -> None:
        """Fail early on missing annotation files (asked of the storage the
        pipeline reads them from; one that cannot tell is skipped, and the
        scan or the loading names a missing file)."""
        missing = []
        for leaf_infos, loader in zip(infos, loaders):
            for info in leaf_infos:
                path = info.get('seg_map_path')
                if path is None:
                    raise ValueError('SeenOnlyDataset: training image '
                                     f'{info.get("img_path")!r} has no '
                                     'annotation (seg_map_path).')
                isfile = getattr(_backend(path, loader), 'isfile', None)
                if isfile is not None and not isfile(path):
                    missing.append(path)
        if missing:
            more = (f' (and {len(missing) - 1} more)'
                    if len(missing) > 1 else '')
            raise FileNotFoundError(
                f'SeenOnlyDataset: annotation file {missing[0]!r} does not '
                f'exist or is no file{more}.')

    def _insert_label_checks(self, leaves: List[BaseDataset]) -> None:
        """Insert ``CheckSegMap`` and ``MapUnseenToIgnore`` after every
        ``LoadAnnotations``, in this order (a ``CheckSegMap`` already there
        is kept if it has the dataset's class count)."""
        on_unseen = 'raise' if self.policy == 'drop_image' else 'ignore'
        num_classes = len(self.split.classes)
        for ds in leaves:
            transforms = ds.pipeline.transforms
            positions = [
                i for i, t in enumerate(transforms)
                if isinstance(t, MMCVLoadAnnotations)
            ]
            ignore_index = getattr(ds, 'ignore_index', 255)
            guard = MapUnseenToIgnore(
                self.split.unseen_indices,
                ignore_index=ignore_index,
                on_unseen=on_unseen)
            for i in reversed(positions):
                nxt = transforms[i + 1] if i + 1 < len(transforms) else None
                if isinstance(nxt, CheckSegMap):
                    if nxt.num_classes != num_classes:
                        raise ValueError(
                            f'SeenOnlyDataset: the pipeline of '
                            f'{type(ds).__name__} has {nxt!r}, but the '
                            f'dataset has {num_classes} classes; set its '
                            f'num_classes to {num_classes}.')
                else:
                    transforms.insert(i + 1,
                                      CheckSegMap(num_classes, ignore_index))
                nxt = transforms[i + 2] if i + 2 < len(transforms) else None
                if isinstance(nxt, MapUnseenToIgnore):
                    transforms[i + 2] = guard
                else:
                    transforms.insert(i + 2, guard)

    def _check_label_values(self, leaves: List[BaseDataset],
                            infos: List[List[dict]],
                            presence: List[List[List[int]]]) -> None:
        """Refuse, before training, a label value that is no class.

        The scanned values (as ``LoadAnnotations`` returns them, after
        ``reduce_zero_label``) must be class indices or the ignore index
        (``CheckSegMap`` checks the same per sample, when it is loaded).

        Raises:
            ValueError: Naming the first bad file and its values.
        """
        num_classes = len(self.split.classes)
        for ds, leaf_infos, leaf_values in zip(leaves, infos, presence):
            ignore = getattr(ds, 'ignore_index', 255)
            for info, values in zip(leaf_infos, leaf_values):
                bad = [
                    v for v in values
                    if v < 0 or (v >= num_classes and v != ignore)
                ]
                if not bad:
                    continue
                # LoadAnnotations' shift: file value v + 1 became label v
                shift = (f' (file values {[v + 1 for v in bad]}, before the '
                         'reduce_zero_label shift)' if info.get(
                             'reduce_zero_label', False) else '')
                raise ValueError(
                    f'SeenOnlyDataset: annotation file '
                    f'{info["seg_map_path"]!r} holds the label value(s) '
                    f'{bad}{shift}, but {type(ds).__name__} has '
                    f'{num_classes} classes (labels 0..{num_classes - 1}) '
                    f'and ignore index {ignore}. Fix the label file, or '
                    "check the dataset's class list and reduce_zero_label.")

    # ------------------------------------------------------------------
    # reduce_zero_label on annotations whose 0 is the background class
    @staticmethod
    def _reduce_zero_label_suspects(leaves: List[BaseDataset]) -> List[int]:
        """Positions of the leaves with ``reduce_zero_label=True`` and a
        background class 0."""
        return [
            n for n, leaf in enumerate(leaves)
            if getattr(leaf, 'reduce_zero_label', False)
            and str(leaf.metainfo['classes']
                    [0]).strip().lower() in BACKGROUND_NAMES
        ]

    def _check_reduce_zero_label(self, leaves: List[BaseDataset],
                                 presence: List[List[List[int]]]) -> None:
        """Refuse ``reduce_zero_label=True`` that the label values belie.

        With ``reduce_zero_label=True`` the file value ``v`` is class
        ``v - 1``, so the last class needs the value ``len(classes)``. If no
        annotation of a leaf holds it while class 0 is named background, the
        files hold class indices already.

        Raises:
            ValueError: Naming the dataset, the values found and the fix.
        """
        for n in self._reduce_zero_label_suspects(leaves):
            leaf = leaves[n]
            classes = leaf.metainfo['classes']
            # 255: the file values 0 and 255 after the shift
            labels = set().union(
                *presence[n]) - {255, getattr(leaf, 'ignore_index', 255)}
            if len(classes) - 1 in labels:
                continue
            # LoadAnnotations' shift: file value v + 1 became label v
            found = sorted(v + 1 for v in labels)
            raise ValueError(
                f'SeenOnlyDataset: {type(leaf).__name__} has '
                'reduce_zero_label=True, which makes the file value 0 '
                '"unlabelled" and the value v class v-1, but its class 0 is '
                f'{classes[0]!r} and none of its {len(leaf)} training '
                f'annotations holds the value {len(classes)} that the last '
                f'class ({classes[-1]!r}) would need: besides 0 and 255 the '
                'files '
                f'hold the values {found[:20]}'
                f'{"..." if len(found) > 20 else ""}, i.e. class indices '
                f'already, with 0 = {classes[0]!r}. The shift would move '
                'every class by one (and hide unseen classes from the '
                'seen-only filter). Set reduce_zero_label=False.')

    # ------------------------------------------------------------------
    # drop_image: class presence, scanned once and cached
    def _presence(self, leaves: List[BaseDataset], infos: List[List[dict]],
                  loaders: List[MMCVLoadAnnotations]) -> List[List[List[int]]]:
        """The label values of every annotation, per leaf and sample.

        Rank 0 scans (or reads its cache) first, the other ranks wait at a
        barrier and then read the cache it wrote. A refusal on rank 0 is
        raised after the barrier, so that no rank waits for ever.
        """
        rank, world_size = get_dist_info()
        presence, error = None, None
        if rank == 0:
            try:
                presence = self._load_or_scan(leaves, infos, loaders)
            except Exception as err:  # raised after the barrier
                error = err
        if world_size > 1:
            barrier()
        if error is not None:
            raise error
        if rank != 0:
            presence = self._load_or_scan(leaves, infos, loaders)
        return presence

    def _images_without_unseen(
            self, presence: List[List[List[int]]]) -> List[np.ndarray]:
        """Whether each sample of each leaf is free of unseen classes."""
        unseen = set(self.split.unseen_indices)
        return [
            np.array([unseen.isdisjoint(values) for values in leaf_values],
                     dtype=bool).reshape(-1) for leaf_values in presence
        ]

    def _load_or_scan(
            self, leaves: List[BaseDataset], infos: List[List[dict]],
            loaders: List[MMCVLoadAnnotations]) -> List[List[List[int]]]:
        """Label values of each sample, from the cache or scanned.

        Annotations read with the same settings (loader, decoder,
        ``reduce_zero_label``, ``label_map``) share one cache file.
        """
        groups: Dict[str, dict] = {}
        keys = []
        for leaf, leaf_infos, loader in zip(leaves, infos, loaders):
            spec = _decode_spec(leaf, loader)
            group = groups.setdefault(spec, {})
            leaf_keys = []
            for info in leaf_infos:
                path = info['seg_map_path']
                local = isinstance(_backend(path, loader), _LOCAL_BACKENDS)
                key = osp.abspath(path) if local else str(path)
                group.setdefault(key, (path, loader, info, local))
                leaf_keys.append(key)
            keys.append((spec, leaf_keys))
        values = {
            spec: self._load_or_scan_group(spec, group)
            for spec, group in groups.items()
        }
        return [[values[spec][key] for key in leaf_keys]
                for spec, leaf_keys in keys]

    def _load_or_scan_group(self, spec: str,
                            group: dict) -> Dict[str, List[int]]:
        """Label values of the annotations of one decode setting."""
        digest = hashlib.sha1('\n'.join([spec] + sorted(group)).encode())
        cache_file = osp.join(
            self.cache_dir, f'class_presence_{digest.hexdigest()[:16]}.json')
        cached = self._read_cache(cache_file, spec)
        entries, presence, todo = {}, {}, []
        for key, (path, loader, info, local) in group.items():
            stamp = _stamp(path, loader, local)
            entry = cached.get(key)
            if _valid_entry(entry, stamp):
                entries[key] = entry
                presence[key] = entry[1]
            else:
                todo.append((key, path, loader, info, stamp))
        if todo:
            print_log(
                f'SeenOnlyDataset: scanning {len(todo)} annotation files for '
                f'class presence (cache: {cache_file}).',
                logger='current')
            for key, path, loader, info, stamp in track(
                    todo, description='SeenOnlyDataset: scanned'):
                values = self._scan(path, loader, info)
                entries[key] = [stamp, values]
                presence[key] = values
            self._write_cache(cache_file, spec, entries)
        return presence

    @staticmethod
    def _scan(path: str, loader: MMCVLoadAnnotations, info: dict) -> List[int]:
        """The sorted label values of one annotation, as training sees them.

        Values above 255, which mmseg's ``LoadAnnotations`` would wrap, are
        refused first (:func:`_check_8_bit`), then ``loader`` itself loads
        the file from the sample's data info (its ``backend_args`` and
        ``imdecode_backend``, the dataset's ``reduce_zero_label`` and
        ``label_map``).

        Raises:
            ValueError: The file cannot be read or decoded, holds a value
                above 255, or ``loader`` loads no label map or one of more
                than one channel.
        """
        _check_8_bit(path, loader)
        try:
            results = loader(dict(info, seg_fields=[]))
        except Exception as err:
            raise ValueError(
                f'SeenOnlyDataset: cannot read annotation file {path!r} with '
                f'the pipeline\'s {type(loader).__name__}: {err}') from err
        if not isinstance(results, dict) or 'gt_seg_map' not in results:
            raise ValueError(
                f'SeenOnlyDataset: the pipeline\'s {type(loader).__name__} '
                'loads no label '
                f'map (gt_seg_map) from {path!r}; seen-only training needs '
                'the annotations (with_seg=True).')
        seg = results['gt_seg_map']
        if seg.ndim != 2:
            backend = getattr(loader, 'imdecode_backend', None)
            hint = ("cv2 decodes a palette ('P' mode) PNG to its colours: "
                    "use imdecode_backend='pillow'" if backend != 'pillow' else
                    'the file itself has several channels: save the '
                    'label map as a single-channel (grey or palette) image '
                    'of class indices, not a colour image')
            raise ValueError(
                f'SeenOnlyDataset: annotation file {path!r} is loaded as '
                f'shape {tuple(seg.shape)} by the pipeline\'s '
                f'{type(loader).__name__} (imdecode_backend={backend!r}); '
                'mmseg needs a single-channel (H, W) map of class indices '
                f'({hint}).')
        return np.unique(seg).tolist()

    @staticmethod
    def _read_cache(cache_file: str, spec: str) -> dict:
        if not osp.isfile(cache_file):
            return {}
        try:
            with open(cache_file, encoding='utf-8') as f:
                content = json.load(f)
            if (content.get('version') != CACHE_VERSION
                    or content.get('decode') != json.loads(spec)):
                return {}
            return dict(content['files'])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            print_log(
                f'SeenOnlyDataset: ignoring unreadable cache '
                f'{cache_file}; rescanning.',
                logger='current',
                level=logging.WARNING)
            return {}

    @staticmethod
    def _write_cache(cache_file: str, spec: str, entries: dict) -> None:
        """Write the cache atomically (temporary file + ``os.replace``)."""
        try:
            with atomic_open(cache_file, 'w', encoding='utf-8') as f:
                json.dump(
                    dict(
                        version=CACHE_VERSION,
                        decode=json.loads(spec),
                        files=entries), f)
        except OSError as err:
            print_log(
                f'SeenOnlyDataset: could not write the class-presence cache '
                f'{cache_file} ({err}); the next start will rescan. Set '
                '`cache_dir` (or $MMSEG_ZS3_CACHE) to a writable folder.',
                logger='current',
                level=logging.WARNING)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(split={self.split.name!r}, '
                f"policy='{self.policy}', num_images={len(self)}, "
                f'num_dropped={self.num_dropped})')


def _leaf_datasets(dataset) -> List[BaseDataset]:
    """The ``BaseDataset`` leaves of ``dataset``, in sample order."""
    if isinstance(dataset, ConcatDataset):
        return [leaf for d in dataset.datasets for leaf in _leaf_datasets(d)]
    if not isinstance(dataset, BaseDataset):
        raise TypeError('SeenOnlyDataset supports BaseDataset leaves '
                        'nested in ConcatDataset, got '
                        f'{type(dataset).__name__}.')
    return [dataset]


def _concat_ignore_keys(dataset) -> List[str]:
    """The ``ignore_keys`` of every ``ConcatDataset`` level of ``dataset``."""
    if not isinstance(dataset, ConcatDataset):
        return []
    keys = set(dataset.ignore_keys)
    for d in dataset.datasets:
        keys.update(_concat_ignore_keys(d))
    return sorted(keys)


def _annotation_loader(leaf: BaseDataset) -> MMCVLoadAnnotations:
    """The first ``LoadAnnotations`` of ``leaf``'s pipeline.

    Raises:
        ValueError: The pipeline has none.
    """
    transforms = leaf.pipeline.transforms
    for t in transforms:
        if isinstance(t, MMCVLoadAnnotations):
            return t
    raise ValueError(
        'SeenOnlyDataset: the training pipeline has no LoadAnnotations, so '
        'unseen labels cannot be hidden: '
        f'{[type(t).__name__ for t in transforms]}.')


def _backend(path: str, loader: MMCVLoadAnnotations):
    """The mmengine file backend ``loader`` reads ``path`` with.

    Raises:
        ValueError: mmengine has no backend of that name or URI prefix.
    """
    try:
        return get_file_backend(
            path, backend_args=loader.backend_args, enable_singleton=True)
    except KeyError as err:
        name = (loader.backend_args or {}).get('backend')
        asked = (f"backend_args=dict(backend={name!r}, ...)"
                 if name is not None else f'the URI prefix of {path!r}')
        raise ValueError(
            f"SeenOnlyDataset: the pipeline's {type(loader).__name__} reads "
            f'annotations with {asked}, but mmengine has no such file '
            f'backend (registered: {sorted(backends)}, URI prefixes: '
            f'{sorted(p for p in prefix_to_backends if p)}). Register it '
            'with mmengine.fileio.register_backend.') from err


def _decode_spec(leaf: BaseDataset, loader: MMCVLoadAnnotations) -> str:
    """What, besides the file, decides the label values ``loader`` returns
    (a JSON text: the key of a cache file)."""
    label_map = getattr(leaf, 'label_map', None)
    return json.dumps(
        dict(
            loader=f'{type(loader).__module__}.{type(loader).__qualname__}',
            imdecode_backend=getattr(loader, 'imdecode_backend', None),
            reduce_zero_label=bool(getattr(leaf, 'reduce_zero_label', False)),
            label_map=None if label_map is None else sorted(
                [int(k), int(v)] for k, v in label_map.items())),
        sort_keys=True)


def _check_8_bit(path: str, loader: MMCVLoadAnnotations) -> None:
    """Refuse label values above 255, which mmseg's ``LoadAnnotations``
    wraps (``astype(np.uint8)``: 272 would become class 16).

    The file's header tells the sample depth (Pillow, without decoding the
    pixels); a file of more than 8 bits per sample, or one that Pillow cannot
    open, is decoded as ``loader`` decodes it (``backend_args``,
    ``imdecode_backend``) and its largest value checked.

    Raises:
        ValueError: The file cannot be read or decoded, or holds a value
            above 255.
    """
    try:
        data = get(path, backend_args=loader.backend_args)
    except Exception as err:
        raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                         f'{path!r}: {err}') from err
    if not data:
        raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                         f'{path!r}: it is empty (0 bytes).')
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.mode in _8_BIT_MODES:
                return
    except Exception:  # Pillow cannot tell: decode it as the pipeline does
        pass
    try:
        raw = mmcv.imfrombytes(
            data,
            flag='unchanged',
            backend=getattr(loader, 'imdecode_backend', 'cv2'))
    except Exception as err:
        raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                         f'{path!r}: {err}') from err
    if raw is None:
        raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                         f'{path!r}: not a decodable image.')
    if raw.size and int(raw.max()) > 255:
        raise ValueError(
            f'SeenOnlyDataset: annotation file {path!r} holds the value '
            f'{int(raw.max())} (a {raw.dtype} image), but mmseg\'s '
            'LoadAnnotations reads labels as 8-bit and would wrap it to '
            f'{int(raw.max()) % 256}. Save the labels as 8-bit class '
            'indices.')


def _valid_entry(entry, stamp: list) -> bool:
    """Whether ``entry`` is ``[stamp, sorted label values]`` (a cache file
    edited by hand or by another version is rescanned, not trusted)."""
    if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == stamp
            and isinstance(entry[1], list)):
        return False
    values = entry[1]
    return (all(type(v) is int and v >= 0 for v in values)
            and values == sorted(set(values)))


def _stamp(path: str, loader: MMCVLoadAnnotations, local: bool) -> list:
    """What a cache entry of ``path`` is valid for: ``[size, mtime_ns]`` on
    a local disk, ``['sha256', digest]`` on any other storage.

    Raises:
        ValueError: The file cannot be read.
    """
    try:
        if local:
            stat = os.stat(path)
            return [stat.st_size, stat.st_mtime_ns]
        data = get(path, backend_args=loader.backend_args)
    except Exception as err:
        raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                         f'{path!r}: {err}') from err
    return ['sha256', hashlib.sha256(data).hexdigest()]
