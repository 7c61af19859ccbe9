"""A training-set wrapper that hides every unseen class from training."""
import hashlib
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import LoadAnnotations as MMCVLoadAnnotations
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.dist import barrier, get_dist_info
from mmengine.fileio import get as get_bytes
from mmengine.logging import print_log

from mmseg.registry import DATASETS
from ..splits import SplitSpec, ZeroShotSplit, build_split
from ..fileio import atomic_open
from ..utils.progress import track
from .transforms import CheckSegMap, MapUnseenToIgnore

POLICIES = ('drop_image', 'ignore')
# 2: values above 255 are refused by the scan, not cached wrapped
CACHE_VERSION = 2
# Names of a class 0 that is a real class, which `reduce_zero_label=True`
# (label 0 = unlabelled) contradicts; checked against the label values.
BACKGROUND_NAMES = ('background', '_background_', 'bg')


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
      removed. The label values present in each annotation are scanned once
      (with a progress bar) and cached, independently of the split, in
      ``<cache_dir>/class_presence_<hash of the annotation list>.json``,
      written atomically. An entry is reused only while its file's size and
      modification time are unchanged, so changed annotations are rescanned
      and a changed annotation list gets its own cache. As a guard, the
      pipeline also raises if a kept image ever shows an unseen pixel.
    - ``'ignore'`` (SPNet, CaGNet, ZegCLIP): images are kept and unseen
      pixels become the ignore index.

    In both policies a :class:`CheckSegMap` (label values, size and channels
    of each label map, with the dataset's class count) and a
    :class:`MapUnseenToIgnore` transform are inserted right after every
    ``LoadAnnotations`` of the inner pipelines, before any augmentation (so
    after the ``reduce_zero_label`` shift).

    ``reduce_zero_label=True`` on a dataset whose class 0 is a background
    class (named in ``BACKGROUND_NAMES``) is checked against the label
    values: when no training annotation holds the value of the last class
    after the shift, the files already hold class indices with 0 =
    background, and the shift would move every class by one, unseen ones
    included (they would leak into seen-only training): refused.

    Args:
        dataset (dict | BaseDataset): The inner training dataset or its
            config. A built dataset's pipelines are modified in place.
        split (dict | ZeroShotSplit): The split, e.g.
            ``dict(name='zs3_voc', k=2)`` or ``dict(unseen=['cow'])``,
            resolved against the inner dataset's class names.
        policy (str): ``'drop_image'`` or ``'ignore'``.
            Defaults to ``'drop_image'`` (the paper).
        cache_dir (str, optional): Folder of the class-presence cache.
            Defaults to ``.zs3_cache`` in the folder that holds the
            annotation folders (next to the data).

    Raises:
        ValueError: On an unknown policy, an unknown class name, a relabelled
            inner dataset, a ``CheckSegMap`` for another class count, an
            unreadable annotation, ``reduce_zero_label=True`` on annotations
            whose 0 is the background class, or an empty training set.
        FileNotFoundError: If an annotation file is missing.
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
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
        self.dataset = dataset
        self._leaves: List[BaseDataset] = []
        self._samples = self._flatten(dataset)  # [N, 2]: (leaf, local idx)
        for leaf in self._leaves:
            if getattr(leaf, 'label_map', None) is not None:
                raise ValueError(
                    'SeenOnlyDataset: the inner dataset relabels classes '
                    f'(metainfo classes {list(leaf.metainfo["classes"])} '
                    'give it a label_map); zero-shot splits need the global '
                    'class indices, so leave its classes unchanged and name '
                    'the unseen ones in `split`.')
        self.split: ZeroShotSplit = build_split(
            split, dataset.metainfo['classes'])
        self._check_annotations()
        self._insert_label_checks()

        num_total = len(self._samples)
        self.cache_dir = cache_dir
        presence = None
        if self._reduce_zero_label_suspects() or (
                policy == 'drop_image' and self.split.unseen_indices):
            self.cache_dir = cache_dir or self._default_cache_dir()
            presence = self._presence()
            self._check_reduce_zero_label(presence)
            self._check_label_values(presence)
        if policy == 'drop_image' and self.split.unseen_indices:
            keep = self._images_without_unseen(presence)
        else:
            keep = np.ones(num_total, dtype=bool)
        self._kept = self._samples[keep]
        self.num_dropped = int(num_total - keep.sum())
        print_log(
            f'SeenOnlyDataset: split {self.split.name!r} with unseen '
            f'{list(self.split.unseen_names)}, policy {policy!r}: dropped '
            f'{self.num_dropped} of {num_total} training images, '
            f'{len(self._kept)} kept.',
            logger='current')
        if len(self._kept) == 0:
            raise ValueError(
                f'SeenOnlyDataset: no training image left: all {num_total} '
                f'images contain an unseen class of split {self.split.name!r} '
                f'{list(self.split.unseen_names)} (policy {policy!r}).')

    # ------------------------------------------------------------------
    # dataset interface
    @property
    def metainfo(self) -> dict:
        """dict: The inner dataset's meta information (global classes)."""
        return self.dataset.metainfo

    def full_init(self) -> None:
        """Nothing to do: the wrapper is fully initialised on creation."""

    def __len__(self) -> int:
        return len(self._kept)

    def _leaf_sample(self, idx: int) -> Tuple[BaseDataset, int]:
        leaf, local = self._kept[idx]
        return self._leaves[leaf], int(local)

    def get_data_info(self, idx: int) -> dict:
        """Get the annotation info of the ``idx``-th kept image.

        Args:
            idx (int): Index into the kept images.

        Returns:
            dict: The inner dataset's data info.
        """
        leaf, local = self._leaf_sample(idx)
        return leaf.get_data_info(local)

    def __getitem__(self, idx: int) -> dict:
        """Run the pipeline on the ``idx``-th kept image.

        Like ``BaseDataset.__getitem__``, a ``None`` pipeline result is
        retried on another random image, but only among the kept ones.
        """
        leaf, local = self._leaf_sample(idx)
        for _ in range(leaf.max_refetch + 1):
            try:
                data = leaf.prepare_data(local)
            except Exception as err:
                info = leaf.get_data_info(local)
                raise RuntimeError(
                    'SeenOnlyDataset: failed to load training image '
                    f'{info.get("img_path")!r} with annotation '
                    f'{info.get("seg_map_path")!r}: {err}') from err
            if data is not None:
                return data
            leaf, local = self._leaf_sample(np.random.randint(len(self)))
        raise RuntimeError(
            f'SeenOnlyDataset: no valid image after {leaf.max_refetch} '
            'refetches; check the pipeline.')

    # ------------------------------------------------------------------
    # set-up
    def _flatten(self, dataset) -> np.ndarray:
        """Map every sample to ``(leaf dataset number, index in the leaf)``."""
        if isinstance(dataset, ConcatDataset):
            parts = [self._flatten(d) for d in dataset.datasets]
            return np.concatenate(parts) if parts else np.zeros((0, 2), int)
        if not isinstance(dataset, BaseDataset):
            raise TypeError('SeenOnlyDataset supports BaseDataset leaves '
                            'nested in ConcatDataset, got '
                            f'{type(dataset).__name__}.')
        self._leaves.append(dataset)
        leaf = len(self._leaves) - 1
        return np.stack([np.full(len(dataset), leaf),
                         np.arange(len(dataset))], axis=1).astype(np.int64)

    def _infos(self):
        """Yield ``(leaf, data_info)`` for every sample, in order."""
        for leaf, local in self._samples:
            ds = self._leaves[leaf]
            yield ds, ds.get_data_info(int(local))

    def _check_annotations(self) -> None:
        """Fail early on missing annotation files."""
        missing = []
        for _, info in self._infos():
            path = info.get('seg_map_path')
            if path is None:
                raise ValueError('SeenOnlyDataset: training image '
                                 f'{info.get("img_path")!r} has no '
                                 'annotation (seg_map_path).')
            if not osp.isfile(path):
                missing.append(path)
        if missing:
            more = (f' (and {len(missing) - 1} more)'
                    if len(missing) > 1 else '')
            raise FileNotFoundError(
                f'SeenOnlyDataset: annotation file {missing[0]!r} does not '
                f'exist{more}.')

    def _insert_label_checks(self) -> None:
        """Insert ``CheckSegMap`` and ``MapUnseenToIgnore`` after every
        ``LoadAnnotations``, in this order (a ``CheckSegMap`` already there
        is kept if it has the dataset's class count)."""
        on_unseen = 'raise' if self.policy == 'drop_image' else 'ignore'
        num_classes = len(self.split.classes)
        for ds in self._leaves:
            transforms = ds.pipeline.transforms
            positions = [
                i for i, t in enumerate(transforms)
                if isinstance(t, MMCVLoadAnnotations)
            ]
            if not positions:
                raise ValueError(
                    'SeenOnlyDataset: the training pipeline has no '
                    'LoadAnnotations, so unseen labels cannot be hidden: '
                    f'{[type(t).__name__ for t in transforms]}.')
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
                    transforms.insert(
                        i + 1, CheckSegMap(num_classes, ignore_index))
                nxt = transforms[i + 2] if i + 2 < len(transforms) else None
                if isinstance(nxt, MapUnseenToIgnore):
                    transforms[i + 2] = guard
                else:
                    transforms.insert(i + 2, guard)

    def _check_label_values(self, presence: Dict[str, List[int]]) -> None:
        """Refuse, before training, a label value that is no class.

        The scanned raw values, after ``reduce_zero_label`` as
        ``LoadAnnotations`` applies it, must be class indices or the ignore
        index (``CheckSegMap`` checks the same per sample, when it is
        loaded).

        Raises:
            ValueError: Naming the first bad file and its values.
        """
        num_classes = len(self.split.classes)
        for ds, info in self._infos():
            raw = np.asarray(presence[osp.abspath(info['seg_map_path'])],
                             dtype=np.int64)
            labels = raw
            if info.get('reduce_zero_label', False):
                labels = np.where((raw == 0) | (raw == 255), 255, raw - 1)
            ignore = getattr(ds, 'ignore_index', 255)
            bad = labels[(labels >= num_classes) & (labels != ignore)]
            if bad.size:
                shift = (' (file values '
                         f'{sorted(raw[np.isin(labels, bad)].tolist())}, '
                         'before the reduce_zero_label shift)'
                         if info.get('reduce_zero_label', False) else '')
                raise ValueError(
                    f'SeenOnlyDataset: annotation file '
                    f'{info["seg_map_path"]!r} holds the label value(s) '
                    f'{sorted(bad.tolist())}{shift}, but '
                    f'{type(ds).__name__} has {num_classes} classes (labels '
                    f'0..{num_classes - 1}) and ignore index {ignore}. Fix '
                    "the label file, or check the dataset's class list and "
                    'reduce_zero_label.')

    # ------------------------------------------------------------------
    # reduce_zero_label on annotations whose 0 is the background class
    def _reduce_zero_label_suspects(self) -> List[BaseDataset]:
        """Leaves with ``reduce_zero_label=True`` and a background class 0."""
        return [
            leaf for leaf in self._leaves
            if getattr(leaf, 'reduce_zero_label', False) and str(
                leaf.metainfo['classes'][0]).strip().lower() in
            BACKGROUND_NAMES
        ]

    def _check_reduce_zero_label(self, presence: Dict[str, List[int]]
                                 ) -> None:
        """Refuse ``reduce_zero_label=True`` that the label values belie.

        With ``reduce_zero_label=True`` the file value ``v`` is class
        ``v - 1``, so the last class needs the value ``len(classes)``. If no
        annotation of a leaf holds it while class 0 is named background, the
        files hold class indices already.

        Raises:
            ValueError: Naming the dataset, the values found and the fix.
        """
        for leaf in self._reduce_zero_label_suspects():
            classes = leaf.metainfo['classes']
            values = set()
            for i in range(len(leaf)):
                path = osp.abspath(leaf.get_data_info(i)['seg_map_path'])
                values.update(presence[path])
            values.discard(getattr(leaf, 'ignore_index', 255))
            if len(classes) in values:
                continue
            found = sorted(values)
            raise ValueError(
                f'SeenOnlyDataset: {type(leaf).__name__} has '
                'reduce_zero_label=True, which makes the file value 0 '
                '"unlabelled" and the value v class v-1, but its class 0 is '
                f'{classes[0]!r} and none of its {len(leaf)} training '
                f'annotations holds the value {len(classes)} that the last '
                f'class ({classes[-1]!r}) would need: the files hold the '
                f'values {found[:20]}{"..." if len(found) > 20 else ""}, '
                f'i.e. class indices already, with 0 = {classes[0]!r}. The '
                'shift would move every class by one (and hide unseen '
                'classes from the seen-only filter). Set '
                'reduce_zero_label=False.')

    # ------------------------------------------------------------------
    # drop_image: class presence, scanned once and cached
    def _default_cache_dir(self) -> str:
        """``.zs3_cache`` in the folder holding the annotation folders."""
        dirs = set()
        for leaf in self._leaves:
            seg_dir = leaf.data_prefix.get('seg_map_path')
            if seg_dir:
                dirs.add(osp.dirname(osp.abspath(seg_dir)))
        if not dirs:  # no prefix: the folders of the annotation files
            dirs = {osp.dirname(osp.abspath(i['seg_map_path']))
                    for _, i in self._infos()}
        return osp.join(osp.commonpath(sorted(dirs)), '.zs3_cache')

    def _presence(self) -> Dict[str, List[int]]:
        """The raw label values of every annotation (rank 0 scans first)."""
        rank, world_size = get_dist_info()
        if rank == 0:
            presence = self._load_or_scan_presence()
        if world_size > 1:
            barrier()
        if rank != 0:
            presence = self._load_or_scan_presence()
        return presence

    def _images_without_unseen(self, presence: Dict[str, List[int]]
                               ) -> np.ndarray:
        """Whether each sample is free of unseen classes."""
        unseen = np.zeros(256, dtype=bool)
        unseen[list(self.split.unseen_indices)] = True
        keep = np.ones(len(self._samples), dtype=bool)
        for n, (_, info) in enumerate(self._infos()):
            raw = np.asarray(presence[osp.abspath(info['seg_map_path'])],
                             dtype=np.int64)
            if info.get('reduce_zero_label', False):
                # as LoadAnnotations: 0 -> 255 (ignore), v -> v - 1
                raw = raw[(raw != 0) & (raw != 255)] - 1
            keep[n] = not unseen[raw].any()
        return keep

    def _cache_file(self, paths: Sequence[str]) -> str:
        rel = sorted(osp.relpath(p, self.cache_dir) for p in paths)
        digest = hashlib.sha1('\n'.join(rel).encode()).hexdigest()[:16]
        return osp.join(self.cache_dir, f'class_presence_{digest}.json')

    def _load_or_scan_presence(self) -> Dict[str, List[int]]:
        """Raw label values present in each annotation file, cached."""
        backends = {}
        for ds, info in self._infos():
            backends[osp.abspath(info['seg_map_path'])] = \
                self._decode_backend(ds)
        paths = sorted(backends)
        cache_file = self._cache_file(paths)
        cached = self._read_cache(cache_file)
        entries, presence, todo = {}, {}, []
        for path in paths:
            stat = os.stat(path)
            rel = osp.relpath(path, self.cache_dir)
            entry = cached.get(rel)
            if (isinstance(entry, list) and len(entry) == 3
                    and entry[:2] == [stat.st_size, stat.st_mtime_ns]):
                entries[rel] = entry
                presence[path] = entry[2]
            else:
                todo.append((path, rel, stat))
        if todo:
            print_log(
                f'SeenOnlyDataset: scanning {len(todo)} annotation files for '
                f'class presence (cache: {cache_file}).',
                logger='current')
            for path, rel, stat in track(
                    todo, description='SeenOnlyDataset: scanned'):
                values = self._scan(path, backends[path])
                entries[rel] = [stat.st_size, stat.st_mtime_ns, values]
                presence[path] = values
            self._write_cache(cache_file, entries)
        return presence

    @staticmethod
    def _decode_backend(ds: BaseDataset) -> str:
        for t in ds.pipeline.transforms:
            if isinstance(t, MMCVLoadAnnotations):
                return getattr(t, 'imdecode_backend', 'pillow')
        return 'pillow'

    @staticmethod
    def _scan(path: str, backend: str) -> List[int]:
        """The sorted raw values of one annotation, read as LoadAnnotations."""
        try:
            seg = mmcv.imfrombytes(
                get_bytes(path), flag='unchanged', backend=backend)
        except Exception as err:
            raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                             f'{path!r}: {err}') from err
        if seg is None:
            raise ValueError(f'SeenOnlyDataset: cannot read annotation file '
                             f'{path!r}: not a decodable image.')
        if seg.size and int(seg.max()) > 255:
            raise ValueError(
                f'SeenOnlyDataset: annotation file {path!r} holds the value '
                f'{int(seg.max())} ({seg.dtype} PNG), but mmseg\'s '
                'LoadAnnotations reads labels as 8-bit and would wrap it to '
                f'{int(seg.max()) % 256}. Save the labels as 8-bit class '
                'indices.')
        return np.unique(seg.squeeze().astype(np.uint8)).tolist()

    @staticmethod
    def _read_cache(cache_file: str) -> dict:
        if not osp.isfile(cache_file):
            return {}
        try:
            with open(cache_file, encoding='utf-8') as f:
                content = json.load(f)
            if content.get('version') != CACHE_VERSION:
                return {}
            return dict(content['files'])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            print_log(f'SeenOnlyDataset: ignoring unreadable cache '
                      f'{cache_file}; rescanning.',
                      logger='current', level=logging.WARNING)
            return {}

    @staticmethod
    def _write_cache(cache_file: str, entries: dict) -> None:
        """Write the cache atomically (temporary file + ``os.replace``)."""
        try:
            with atomic_open(cache_file, 'w', encoding='utf-8') as f:
                json.dump(dict(version=CACHE_VERSION, files=entries), f)
        except OSError as err:
            print_log(
                f'SeenOnlyDataset: could not write the class-presence cache '
                f'{cache_file} ({err}); the next start will rescan. Set '
                '`cache_dir` to a writable folder.',
                logger='current', level=logging.WARNING)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(split={self.split.name!r}, '
                f"policy='{self.policy}', num_images={len(self)}, "
                f'num_dropped={self.num_dropped})')
