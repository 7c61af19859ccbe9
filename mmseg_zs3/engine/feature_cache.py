"""A memory-bounded per-class store of real pixel features."""
import logging
import os.path as osp
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from mmseg_zs3.compat import load_from_local
from mmseg_zs3.fileio import atomic_open


class FeatureCache:
    """Uniform per-class samples of real pixel features, bounded in memory.

    Each class keeps at most ``max_per_class`` features: a uniform sample
    without replacement of all features added for it (bottom-k sampling on
    random keys, so the result does not depend on the order of batches beyond
    the random source). The true number of features seen per class is kept
    too, so :meth:`sample` draws classes at their natural frequencies.

    Memory: ``num_classes * max_per_class * feat_dim * 4`` bytes at most.

    Args:
        num_classes (int): Number of classes.
        feat_dim (int): Feature dimension.
        max_per_class (int): Features kept per class. Defaults to 20000.
        seed (int): Seed of the sampling keys. Defaults to 0.
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
        self.pixels_per_batch = []
        self._flat_cache = None

    @property
    def nbytes(self) -> int:
        return sum(f.numel() * f.element_size() for f in self.feats)

    def add(self, feats: Tensor, labels: Tensor) -> None:
        """Add features ``[N, C]`` with labels ``[N]`` (one batch)."""
        feats, labels = feats.detach().float().cpu(), labels.cpu()
        if feats.shape[1] != self.feat_dim:
            raise ValueError(f'features of dim {feats.shape[1]}; the cache '
                             f'holds {self.feat_dim}-d features')
        self.pixels_per_batch.append(len(labels))
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

    def sample(self, n: int, generator: Optional[torch.Generator] = None
               ) -> Tuple[Tensor, Tensor]:
        """Draw ``n`` features, classes at their natural frequencies."""
        if self.counts.sum() == 0:
            raise RuntimeError('the feature cache is empty')
        flat, offsets, sizes = self._flat()
        cls = torch.multinomial(
            self.counts.double(), n, replacement=True, generator=generator)
        u = torch.rand(n, generator=generator)
        idx = offsets[cls] + (u * sizes[cls]).long().clamp_max(sizes[cls] - 1)
        return flat[idx], cls

    @property
    def mean_pixels_per_batch(self) -> int:
        if not self.pixels_per_batch:
            return 0
        return int(round(sum(self.pixels_per_batch) /
                         len(self.pixels_per_batch)))

    def state_dict(self) -> dict:
        return dict(
            num_classes=self.num_classes,
            feat_dim=self.feat_dim,
            max_per_class=self.max_per_class,
            feats=self.feats,
            keys=self.keys,
            counts=self.counts,
            pixels_per_batch=self.pixels_per_batch)

    def save(self, path: str, key: dict) -> None:
        """Write atomically (temporary file, then rename) with its ``key``."""
        with atomic_open(path) as f:
            torch.save(dict(key=key, cache=self.state_dict()), f)

    @classmethod
    def load(cls, path: str, key: dict) -> Optional['FeatureCache']:
        """The cache stored at ``path`` if its key equals ``key``, else None.

        An unreadable or inconsistent file (corrupt, half-written by an older
        version, edited) is not trusted: a warning, and None (recompute).
        """
        if not osp.isfile(path):
            return None
        try:
            blob = load_from_local(path, map_location='cpu')
            if blob.get('key') != key:
                return None
            state = blob['cache']
            self = cls(state['num_classes'], state['feat_dim'],
                       state['max_per_class'])
            feats, keys = list(state['feats']), list(state['keys'])
            counts = state['counts']
            if not (len(feats) == len(keys) == len(counts) ==
                    self.num_classes and all(
                        f.shape == (len(k), self.feat_dim)
                        for f, k in zip(feats, keys))):
                raise ValueError('per-class tensors do not match')
            self.feats, self.keys, self.counts = feats, keys, counts
            self.pixels_per_batch = list(state['pixels_per_batch'])
        except Exception as err:  # noqa: BLE001 - any damage: recompute
            print_log(f'FeatureCache: ignoring unreadable cache {path} '
                      f'({type(err).__name__}: {err}); recomputing.',
                      logger='current', level=logging.WARNING)
            return None
        return self
