"""Epoch loop of ZS3Net's stage 2 that caches the frozen features."""
import hashlib
import json
import os
import os.path as osp
import time
from typing import Optional

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.utils import ProgressBar
from mmseg.registry import LOOPS

from ..feature_cache import FeatureCache


@LOOPS.register_module()
class ZS3FeatureCacheLoop(EpochBasedTrainLoop):
    """Stage-2 training that computes the frozen features only once.

    In ZS3Net's stage 2 the feature extractor is frozen in eval mode, so the
    features of an image do not change between epochs (no augmentation, or a
    fixed set of augmented views). The first epoch runs on images as usual
    and stores a per-class sample of the real seen-pixel features in a
    :class:`FeatureCache` (bounded by ``max_per_class``), written to
    ``work_dir/<cache_name>``; every later epoch trains the generator and the
    classifier on pixel batches drawn from the cache, at the classes' natural
    frequencies and with as many pixels per step as an image batch had: the
    backbone never runs again. A cache on disk whose key (checkpoint, data
    set, model shapes, cache size) matches is reused by later runs.

    Only for ``ZS3EncoderDecoder`` with ``unseen_layout='strict'`` (the
    official layout needs images).

    Args:
        runner, dataloader, max_epochs, val_begin, val_interval: As
            :class:`EpochBasedTrainLoop`.
        max_per_class (int): Features kept per class. Defaults to 20000.
        cache_name (str): File name under ``work_dir``. Defaults to
            'zs3_feature_cache.pth'.
        seed (int): Seed of cache sampling. Defaults to 0.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 max_per_class: int = 20000,
                 cache_name: str = 'zs3_feature_cache.pth',
                 seed: int = 0,
                 dynamic_intervals=None) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self.max_per_class = max_per_class
        self.cache_path = osp.join(runner.work_dir, cache_name)
        self.seed = seed
        self.cache: Optional[FeatureCache] = None
        self._sampler = torch.Generator().manual_seed(seed)
        self.epoch_seconds = []

    @property
    def segmentor(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def cache_key(self) -> dict:
        model = self.segmentor
        load_from = self.runner._load_from
        stat = None
        if load_from and osp.isfile(load_from):
            st = os.stat(load_from)
            stat = [osp.abspath(load_from), st.st_size, int(st.st_mtime)]
        dataset = self.dataloader.dataset
        names = [dataset.get_data_info(i).get('seg_map_path', i)
                 for i in range(len(dataset))]
        digest = hashlib.sha1(json.dumps(names, default=str).encode())
        return dict(
            checkpoint=stat,
            dataset=[len(dataset), digest.hexdigest()],
            seen=model.seen_ids.tolist(),
            feat_dim=model.decode_head.channels,
            feature=[model.decode_head.feature_norm,
                     model.decode_head.feature_scale],
            max_per_class=self.max_per_class)

    def run(self):
        model = self.segmentor
        if getattr(model, 'unseen_layout', None) != 'strict':
            raise ValueError('ZS3FeatureCacheLoop needs a ZS3EncoderDecoder '
                             "with unseen_layout='strict'")
        from mmseg_zs3.models import ZS3DataPreProcessor
        if not isinstance(model.data_preprocessor, ZS3DataPreProcessor):
            raise TypeError(
                'ZS3FeatureCacheLoop trains on cached pixel batches: set '
                "model.data_preprocessor.type='ZS3DataPreProcessor' (got "
                f'{type(model.data_preprocessor).__name__})')
        if self.cache is None:
            self.cache = FeatureCache.load(self.cache_path, self.cache_key())
            if self.cache is not None:
                self.runner.logger.info(
                    f'ZS3 feature cache: reusing {self.cache_path} '
                    f'({self.cache.nbytes / 2**20:.1f} MiB)')
        return super().run()

    def run_epoch(self) -> None:
        start = time.perf_counter()
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        if self.cache is None:
            self._run_image_epoch()
        else:
            self._run_cached_epoch()
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        self.epoch_seconds.append(time.perf_counter() - start)

    def _run_image_epoch(self) -> None:
        model = self.segmentor
        cache = FeatureCache(model.num_classes, model.decode_head.channels,
                             self.max_per_class, self.seed)
        self.runner.logger.info('ZS3 feature cache: computing the frozen '
                                'features of every training image once')
        bar = ProgressBar(len(self.dataloader))
        for idx, data_batch in enumerate(self.dataloader):
            data = model.data_preprocessor(data_batch, True)
            feats, labels = model.seen_pixels(
                *model.extract_pixel_features(data['inputs'],
                                              data['data_samples']))
            cache.add(feats, labels)
            self.run_iter(
                idx, dict(inputs=feats, data_samples=None,
                          pixel_labels=labels))
            bar.update()
        self.cache = cache
        cache.save(self.cache_path, self.cache_key())
        self.runner.logger.info(
            f'ZS3 feature cache: {int(cache.counts.sum())} seen pixels, '
            f'{cache.nbytes / 2**20:.1f} MiB kept, saved to '
            f'{self.cache_path}')

    def _run_cached_epoch(self) -> None:
        n = max(1, self.cache.mean_pixels_per_batch)
        for idx in range(len(self.dataloader)):
            feats, labels = self.cache.sample(n, self._sampler)
            self.run_iter(
                idx, dict(inputs=feats, data_samples=None,
                          pixel_labels=labels))
