"""The data of ZS3Net's cached stage 2: real pixel features, and batches of
them.

:class:`FeatureCache` is a memory-bounded per-class store of the frozen
network's seen-pixel features (one per rank under DDP, each holding the
features of its own exact share of the training images); :class:`PixelBatches`
draws one epoch of pixel batches from it. A pixel batch is ordinary model
data, ``dict(inputs=features [N, C], data_samples=labels [N])``, trained on
with ``model.train_step`` like an image batch (see ``ZS3EncoderDecoder``).
"""
import logging
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import print_log
from torch import Tensor

from mmseg_zs3.compat import load_from_local
from mmseg_zs3.fileio import atomic_open

# Bumped when the stored format or the meaning of a key field changes, so that
# a cache written by another version is recomputed, not trusted.
CACHE_FORMAT = 2


def derived_seed(*values: int) -> int:
    """A 64-bit seed derived from integers (e.g. seed, rank, epoch).

    Different tuples give unrelated streams (numpy's ``SeedSequence``), so
    ranks and epochs never share random draws, and a tuple always gives the
    same seed: a resumed run draws what the uninterrupted run drew.

    Args:
        *values (int): Non-negative integers.

    Returns:
        int: A seed for :meth:`torch.Generator.manual_seed`.
    """
    state = np.random.SeedSequence([int(v) for v in values
                                    ]).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


class FeatureCache:
    """Uniform per-class samples of real pixel features, bounded in memory.

    Each class keeps at most ``max_per_class`` features: a uniform sample
    without replacement of all features added for it (bottom-k sampling on
    random keys, so the result does not depend on the order of batches beyond
    the random source). The true number of features seen per class is kept
    too, so :meth:`sample` draws classes at their natural frequencies, and so
    is the number of images they came from (:attr:`pixels_per_image`).

    Memory: ``num_classes * max_per_class * feat_dim * 4`` bytes at most.

    Args:
        num_classes (int): Number of classes.
        feat_dim (int): Feature dimension.
        max_per_class (int): Features kept per class. Defaults to 20000.
        seed (int): Seed of the sampling keys. Defaults to 0.

    Raises:
        ValueError: ``max_per_class`` is not positive.
    """

    def __init__(self,
                 num_classes: int,
                 feat_dim: int,
                 max_per_class: int = 20000,
                 seed: int = 0):
        if max_per_class <= 0:
            raise ValueError(f'max_per_class={max_per_class} must be > 0')
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.max_per_class = max_per_class
        self.rng = torch.Generator().manual_seed(seed)
        self.feats = [torch.empty(0, feat_dim) for _ in range(num_classes)]
        self.keys = [torch.empty(0) for _ in range(num_classes)]
        self.counts = torch.zeros(num_classes, dtype=torch.long)
        self.image_indices: List[int] = []
        self._flat_cache = None

    @property
    def nbytes(self) -> int:
        """Bytes of the kept features."""
        return sum(f.numel() * f.element_size() for f in self.feats)

    @property
    def num_images(self) -> int:
        """Number of images whose pixels were added."""
        return len(self.image_indices)

    @property
    def pixels_per_image(self) -> float:
        """Mean number of (seen) pixels per added image; 0 when empty."""
        if not self.image_indices:
            return 0.
        return float(self.counts.sum()) / len(self.image_indices)

    def add(self,
            feats: Tensor,
            labels: Tensor,
            image_indices: Sequence[int] = ()) -> None:
        """Add the pixels of one batch of images.

        Args:
            feats (Tensor): ``[N, C]`` features.
            labels (Tensor): ``[N]`` their classes.
            image_indices (Sequence[int]): Dataset indices of the images they
                come from (recorded, to count images and check coverage).

        Raises:
            ValueError: The features are not ``feat_dim``-d, or do not match
                the labels in number.
        """
        feats, labels = feats.detach().float().cpu(), labels.cpu()
        if feats.dim() != 2 or feats.shape[1] != self.feat_dim:
            raise ValueError(f'features of shape {tuple(feats.shape)}; the '
                             f'cache holds [N, {self.feat_dim}] features')
        if labels.shape != feats.shape[:1]:
            raise ValueError(f'{len(feats)} features but labels of shape '
                             f'{tuple(labels.shape)}')
        self.image_indices.extend(int(i) for i in image_indices)
        self._flat_cache = None
        keys = torch.rand(len(labels), generator=self.rng)
        for c in labels.unique().tolist():
            m = labels == c
            self.counts[c] += int(m.sum())
            k = torch.cat([self.keys[c], keys[m]])
            f = torch.cat([self.feats[c], feats[m]])
            if len(k) > self.max_per_class:
                idx = torch.topk(k, self.max_per_class, largest=False).indices
                k, f = k[idx], f[idx]
            self.keys[c], self.feats[c] = k, f

    def _flat(self) -> Tuple[Tensor, Tensor, Tensor]:
        """All kept features in one tensor, with per-class offsets/sizes."""
        if self._flat_cache is None:
            sizes = torch.tensor([len(f) for f in self.feats])
            offsets = torch.cumsum(sizes, 0) - sizes
            self._flat_cache = (torch.cat(self.feats), offsets, sizes)
        return self._flat_cache

    def sample(
            self,
            n: int,
            generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor]:
        """Draw ``n`` features, classes at their natural frequencies.

        Args:
            n (int): Number of features.
            generator (torch.Generator, optional): Random source.

        Returns:
            tuple[Tensor, Tensor]: ``[n, C]`` features and their ``[n]``
            classes.

        Raises:
            RuntimeError: The cache holds no feature.
        """
        if self.counts.sum() == 0:
            raise RuntimeError('the feature cache is empty')
        flat, offsets, sizes = self._flat()
        # One uniform draw per feature: v in [0, total pixels) picks the
        # class whose pixel-count interval holds it (probability count /
        # total), and v's place inside that interval, uniform in [0, 1),
        # picks one of the class's kept features. Exact, and ~5x cheaper
        # than torch.multinomial plus a second draw.
        ends = torch.cumsum(self.counts.double(), 0)
        v = torch.rand(n, generator=generator, dtype=torch.float64) * ends[-1]
        cls = torch.searchsorted(
            ends, v, right=True).clamp_max(self.num_classes - 1)
        counts = self.counts[cls].double()
        within = (v - (ends[cls] - counts)) / counts
        pos = (within * sizes[cls]).long().minimum(sizes[cls] - 1)
        idx = offsets[cls] + pos
        # index_select: ~4x faster than flat[idx] on CPU
        return flat.index_select(0, idx), cls

    def state_dict(self) -> dict:
        """Everything to rebuild the cache (tensors, lists and ints)."""
        return dict(
            num_classes=self.num_classes,
            feat_dim=self.feat_dim,
            max_per_class=self.max_per_class,
            feats=self.feats,
            keys=self.keys,
            counts=self.counts,
            image_indices=self.image_indices)

    def save(self, path: str, key: dict) -> None:
        """Write atomically (temporary file, then rename) with its ``key``.

        Args:
            path (str): Destination file.
            key (dict): What the features depend on (see
                :func:`describe_key_change`); :meth:`load` compares it.
        """
        with atomic_open(path) as f:
            torch.save(dict(key=key, cache=self.state_dict()), f)

    @classmethod
    def load(cls, path: str,
             key: dict) -> Tuple[Optional['FeatureCache'], str]:
        """The cache stored at ``path`` if its key equals ``key``.

        An unreadable or inconsistent file (corrupt, half-written by an older
        version, edited) is not trusted: a warning, and no cache.

        Args:
            path (str): The cache file.
            key (dict): The key the features must have been computed for.

        Returns:
            tuple[FeatureCache | None, str]: The cache and ``''``; or None and
            why it cannot be used (no file, what changed, or the damage).
        """
        if not osp.isfile(path):
            return None, f'there is no cache file {path} yet'
        try:
            blob = load_from_local(path, map_location='cpu')
            if not isinstance(blob, dict) or 'key' not in blob:
                raise ValueError('not a feature cache (no key)')
            if blob['key'] != key:
                return None, describe_key_change(blob['key'], key)
            state = blob['cache']
            self = cls(state['num_classes'], state['feat_dim'],
                       state['max_per_class'])
            feats, keys = list(state['feats']), list(state['keys'])
            counts = state['counts']
            if not (len(feats) == len(keys) == len(counts) == self.num_classes
                    and all(f.shape == (len(k), self.feat_dim)
                            for f, k in zip(feats, keys))):
                raise ValueError('per-class tensors do not match')
            self.feats, self.keys, self.counts = feats, keys, counts
            self.image_indices = [int(i) for i in state['image_indices']]
        except Exception as err:  # noqa: BLE001 - any damage: recompute
            print_log(
                f'FeatureCache: ignoring unreadable cache {path} '
                f'({type(err).__name__}: {err}); recomputing.',
                logger='current',
                level=logging.WARNING)
            return None, f'{path} is unreadable ({type(err).__name__})'
        return self, ''


def describe_key_change(old: dict, new: dict) -> str:
    """Say, in words, which fields of a cache key differ.

    Args:
        old (dict): The stored key.
        new (dict): The current key.

    Returns:
        str: E.g. ``'the annotations changed (3 of 12 files, e.g.
        ann_dir/train/2.png)'``; ``''`` when the keys are equal.
    """
    if not isinstance(old, dict) or old.get('format') != new.get('format'):
        return 'it was written by another version of mmseg_zs3'
    changed = []
    for field in new:
        if old.get(field) == new[field]:
            continue
        if field == 'annotations':
            a, b = old.get(field) or {}, new[field]
            paths = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
            changed.append(f'the annotations changed ({len(paths)} of '
                           f'{len(b)} files, e.g. {paths[0]})')
        else:
            changed.append(f'{_KEY_WORDS.get(field, field)} changed')
    changed += [f'{f} changed' for f in old if f not in new]
    return '; '.join(changed)


_KEY_WORDS: Dict[str, str] = dict(
    weights='the frozen network weights',
    images='the training images',
    pipeline='the data pipeline',
    preprocessor='the data preprocessor settings',
    frozen_mode='frozen_mode',
    features='the feature normalisation (feature_norm/feature_scale)',
    world_size='the number of processes (world size)')


class PixelBatches:
    """One epoch of pixel batches drawn from a :class:`FeatureCache`.

    The cached counterpart of an image dataloader: iterating yields
    ``num_batches`` batches ``dict(inputs=[batch_pixels, C] features,
    data_samples=[batch_pixels] labels)``, classes at their natural
    frequencies, from a generator seeded with ``seed`` (so the same seed
    gives the same batches, e.g. after a resume).

    Args:
        cache (FeatureCache): The cache to draw from.
        num_batches (int): Batches per epoch.
        batch_pixels (int): Pixels per batch.
        seed (int): Seed of this epoch's draws.
    """

    def __init__(self, cache: FeatureCache, num_batches: int,
                 batch_pixels: int, seed: int) -> None:
        self.cache = cache
        self.num_batches = num_batches
        self.batch_pixels = batch_pixels
        self.seed = seed

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict]:
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.num_batches):
            feats, labels = self.cache.sample(self.batch_pixels, generator)
            yield dict(inputs=feats, data_samples=labels)
