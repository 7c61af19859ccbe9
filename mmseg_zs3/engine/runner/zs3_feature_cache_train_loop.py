"""Epoch loop of ZS3Net's stage 2 that computes the frozen features once."""
import copy
import hashlib
import os.path as osp
import time
from typing import Dict, List, Optional

import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import all_gather_object, get_dist_info, is_main_process
from mmengine.fileio import get as read_bytes
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import LOOPS
from torch.utils.data import DataLoader

from ...utils.progress import Progress
from ..feature_cache import (CACHE_FORMAT, FeatureCache, PixelBatches,
                             derived_seed)


def _log(msg: str) -> None:
    """Log ``msg`` once (rank 0)."""
    if is_main_process():
        print_log(msg, logger='current')


@LOOPS.register_module()
class ZS3FeatureCacheTrainLoop(EpochBasedTrainLoop):
    """Stage-2 training on pixel batches of features computed only once.

    In ZS3Net's stage 2 the feature extractor is frozen in eval mode, so the
    features of an image do not change between epochs (the stage-2 pipelines
    have no random augmentation). Before the first epoch this loop turns
    every training image into its seen pixels once
    (``model.extract_pixels``) and keeps a per-class sample of them in a
    :class:`FeatureCache` (bounded by ``max_per_class``); every epoch then
    trains the generator and the classifier with ``model.train_step`` on
    :class:`PixelBatches` drawn from the cache, classes at their natural
    frequencies, as many pixels per step as an image batch has, as many steps
    as the image dataloader has. The backbone never runs again.

    .. code:: text

     run(): cache_key() -> FeatureCache.load() or compute_cache() -> epochs
     compute_cache(): this rank's images -> model.extract_pixels()
                      -> FeatureCache.add() -> FeatureCache.save()
     run_epoch(): PixelBatches(cache, seed of (seed, rank, epoch))
                  -> run_iter() -> model.train_step(pixel batch)

    **DDP.** Each rank extracts an exact share of the images (rank ``r``
    takes images ``r, r + W, ...`` of ``W`` ranks: none twice, none
    missing), keeps its own shard ``<cache_name stem>_rank{r}-of-{W}.pth``
    (``cache_name`` itself in a one-process run), and samples it with seeds
    of (``seed``, rank, epoch). Progress and log lines are rank 0's.

    **Reuse.** A shard on disk is reused when its key matches: the frozen
    weights (a digest of their values), the contents of every annotation
    file, the images, the pipeline, the data preprocessor, ``frozen_mode``,
    the feature settings, ``max_per_class``, ``seed`` and the world size
    (see :meth:`cache_key`). Otherwise it is recomputed and the log says what
    changed. Every rank reuses, or none does. Image files are identified by
    path, their contents are not hashed.

    **Resume.** The pixel batches of an epoch depend only on (``seed``,
    rank, epoch), and the cache is reused, so a resumed run trains on what the
    uninterrupted run trained on. With ``--resume``, ``load_from`` names the
    stage-1 network, from which mmengine would try to resume (and fail): this
    loop makes mmengine resume from the latest checkpoint of the work dir
    instead, or start from ``load_from`` when the work dir has none (see
    :func:`resume_from_work_dir`).

    Only for ``ZS3EncoderDecoder`` with ``unseen_layout='strict'`` (the
    official layout needs images) and ``frozen_mode='eval'`` (in train mode
    the features change at every forward), with a ``ZS3DataPreProcessor``.

    Args:
        runner, dataloader, max_epochs, val_begin, val_interval,
            dynamic_intervals: As :class:`EpochBasedTrainLoop`.
        max_per_class (int): Features kept per class (per rank). Defaults to
            20000.
        cache_name (str): File name under ``work_dir``. Defaults to
            'zs3_feature_cache.pth'.
        seed (int): Seed of the cache's sampling and of the pixel batches'
            draws, combined with the rank (and the epoch); not
            ``randomness.seed``. Defaults to 0.

    Raises:
        TypeError: The model is not a ``ZS3EncoderDecoder`` with a
            ``ZS3DataPreProcessor``.
        ValueError: ``unseen_layout`` or ``frozen_mode`` do not allow a
            cache.
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
        self._dataloader_cfg = copy.deepcopy(dataloader) if isinstance(
            dataloader, dict) else None
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self._check_model()
        if max_per_class <= 0:
            raise ValueError(f'max_per_class={max_per_class} must be > 0')
        self.max_per_class = max_per_class
        self.seed = seed
        rank, world_size = get_dist_info()
        stem, ext = osp.splitext(cache_name)
        name = cache_name if world_size == 1 else \
            f'{stem}_rank{rank}-of-{world_size}{ext}'
        self.cache_path = osp.join(runner.work_dir, name)
        self.cache: Optional[FeatureCache] = None
        self.cache_seconds: Optional[float] = None
        resume_from_work_dir(runner)

    @property
    def segmentor(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _check_model(self) -> None:
        model = self.segmentor
        from mmseg_zs3.models import ZS3DataPreProcessor
        from mmseg_zs3.models.segmentors import ZS3EncoderDecoder
        if not isinstance(model, ZS3EncoderDecoder):
            raise TypeError('ZS3FeatureCacheTrainLoop trains a '
                            'ZS3EncoderDecoder, got '
                            f'{type(model).__name__}')
        if model.unseen_layout != 'strict':
            raise ValueError(
                "ZS3FeatureCacheTrainLoop needs unseen_layout='strict' (got "
                f"{model.unseen_layout!r}): the official layout lays "
                'generated features on image masks; use EpochBasedTrainLoop')
        if model.frozen_mode != 'eval':
            raise ValueError(
                "ZS3FeatureCacheTrainLoop needs frozen_mode='eval' (got "
                f"{model.frozen_mode!r}): in train mode the frozen features "
                'change at every forward, so they cannot be cached; use '
                'EpochBasedTrainLoop')
        if not isinstance(model.data_preprocessor, ZS3DataPreProcessor):
            raise TypeError(
                'ZS3FeatureCacheTrainLoop trains on pixel batches: set '
                "model.data_preprocessor.type='ZS3DataPreProcessor' (got "
                f'{type(model.data_preprocessor).__name__})')

    # ------------------------------------------------------------------
    # the key
    def cache_key(self) -> dict:
        """What the cached features depend on; any change recomputes them.

        Under DDP every rank must call it (the annotation files are hashed
        by all ranks, each a share).

        Returns:
            dict: ``format``, ``weights`` (SHA-256 of the frozen modules'
            state), ``frozen_mode``, ``features``, ``classes``, ``images``
            (paths), ``annotations`` (path: SHA-256 of the file),
            ``pipeline``, ``preprocessor``, ``max_per_class``, ``seed`` and
            ``world_size``.

        Raises:
            ValueError: A training image has no ``seg_map_path``.
        """
        model = self.segmentor
        head = model.decode_head
        images, annotations = self._data_files()
        return dict(
            format=CACHE_FORMAT,
            weights=frozen_weights_digest(model),
            frozen_mode=model.frozen_mode,
            features=[head.feature_norm, head.feature_scale, head.channels],
            classes=[model.num_classes,
                     model.seen_ids.tolist()],
            images=images,
            annotations=annotations,
            pipeline=self._pipeline_spec(),
            preprocessor=plain_settings(model.data_preprocessor),
            max_per_class=self.max_per_class,
            seed=self.seed,
            world_size=get_dist_info()[1])

    def _data_files(self):
        dataset = self.dataloader.dataset
        images, seg_maps = [], []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if not info.get('seg_map_path'):
                raise ValueError(
                    f'training image {i} ({info.get("img_path")}) has no '
                    'seg_map_path: stage 2 needs its annotation')
            images.append(str(info.get('img_path')))
            seg_maps.append(str(info['seg_map_path']))
        rank, world_size = get_dist_info()
        mine = {
            path: hashlib.sha256(read_bytes(path)).hexdigest()
            for path in seg_maps[rank::world_size]
        }
        digests: Dict[str, str] = {}
        for part in all_gather_object(mine):
            digests.update(part)
        return images, {path: digests[path] for path in seg_maps}

    def _pipeline_spec(self) -> list:
        """The ``pipeline`` configs of the dataset config (nested wrappers
        included), or the repr of the built pipelines."""
        if self._dataloader_cfg is not None:
            found: list = []
            _find_key(self._dataloader_cfg.get('dataset'), 'pipeline', found)
            return plain_settings(found)
        found = []
        _find_pipelines(self.dataloader.dataset, found)
        return found

    # ------------------------------------------------------------------
    # the run
    def run(self) -> torch.nn.Module:
        """Load (or compute) the cache, then train as
        :class:`EpochBasedTrainLoop`.

        Returns:
            nn.Module: The trained model.

        Raises:
            RuntimeError: A rank's shard holds no seen pixel.
        """
        key = self.cache_key()
        cache, why = FeatureCache.load(self.cache_path, key)
        reasons = all_gather_object(why)
        if not any(reasons):
            self.cache = cache
            _log(f'ZS3 feature cache: reusing {self.cache_path} '
                 f'({cache.num_images} images, '
                 f'{cache.nbytes / 2**20:.1f} MiB)')
        else:
            rank, why = next((r, w) for r, w in enumerate(reasons) if w)
            who = f' (rank {rank})' if len(reasons) > 1 else ''
            _log(f'ZS3 feature cache: computing the frozen features of '
                 f'every training image once, since {why}{who}')
            self.cache = self.compute_cache(key)
        self._check_shards()
        return super().run()

    def compute_cache(self, key: dict) -> FeatureCache:
        """Extract this rank's share of the images into a saved cache.

        The random state of torch is restored afterwards: a run that
        computes the cache trains exactly as one that reuses it.

        Args:
            key (dict): The key to save the cache with.

        Returns:
            FeatureCache: The cache, saved to :attr:`cache_path`.
        """
        start = time.perf_counter()
        model = self.segmentor
        rank, world_size = get_dist_info()
        cache = FeatureCache(model.num_classes, model.decode_head.channels,
                             self.max_per_class, derived_seed(self.seed, rank))
        loader = self._extraction_loader()
        indices: List[int] = list(loader.sampler)
        batch_size = loader.batch_size
        bar = Progress(len(loader), 'ZS3 feature cache: image batches') \
            if is_main_process() else None
        devices = [torch.cuda.current_device()] if (
            torch.cuda.is_available() and torch.cuda.is_initialized()) else []
        self.runner.model.train()
        # separate optimizers (an OptimWrapperDict has no context of its
        # own): the classifier's (autocast), as the model's train_step uses
        wrapper = self.runner.optim_wrapper
        if isinstance(wrapper, OptimWrapperDict):
            wrapper = dict(wrapper.items()).get('classifier',
                                                next(iter(wrapper.values())))
        with torch.random.fork_rng(devices=devices):
            for i, data_batch in enumerate(loader):
                with wrapper.optim_context(model):
                    pixels = model.extract_pixels(data_batch)
                cache.add(pixels['inputs'], pixels['data_samples'],
                          indices[i * batch_size:(i + 1) * batch_size])
                if bar is not None:
                    bar.update()
        cache.save(self.cache_path, key)
        self.cache_seconds = time.perf_counter() - start
        totals = all_gather_object(
            (cache.num_images, int(cache.counts.sum()), cache.nbytes))
        where = self.cache_path if world_size == 1 else \
            f'{world_size} shards like {self.cache_path}'
        _log(f'ZS3 feature cache: {sum(t[1] for t in totals)} seen pixels '
             f'of {sum(t[0] for t in totals)} images, '
             f'{sum(t[2] for t in totals) / 2**20:.1f} MiB kept, saved to '
             f'{where} in {self.cache_seconds:.1f} s')
        return cache

    def _extraction_loader(self) -> DataLoader:
        """The training images of this rank once each, in order."""
        loader = self.dataloader
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size or 1,
            sampler=DefaultSampler(
                loader.dataset, shuffle=False, round_up=False),
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            worker_init_fn=loader.worker_init_fn)

    def _check_shards(self) -> None:
        empty = all_gather_object(int(self.cache.counts.sum()) == 0)
        if any(empty):
            raise RuntimeError(
                f'ZS3 feature cache: rank(s) '
                f'{[r for r, e in enumerate(empty) if e]} hold no seen pixel '
                f'(their {len(self.dataloader.dataset)} training images have '
                'none, or are fewer than the processes): nothing to train on')

    @property
    def batch_pixels(self) -> int:
        """Pixels per step: an image batch's worth of this rank's shard."""
        images = self.dataloader.batch_size or 1
        return max(1, round(self.cache.pixels_per_image * images))

    def run_epoch(self) -> None:
        """Train one epoch on pixel batches drawn from the cache."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batches = PixelBatches(
            self.cache, len(self.dataloader), self.batch_pixels,
            derived_seed(self.seed,
                         get_dist_info()[0], self._epoch))
        for idx, data_batch in enumerate(batches):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1


def resume_from_work_dir(runner) -> None:
    """Make ``--resume`` continue a stage-2 run, not resume stage 1.

    mmengine resumes from ``load_from`` whenever it is set, but in stage 2
    ``load_from`` names the stage-1 checkpoint (the frozen network), whose
    optimizer does not fit. With ``--resume`` (``resume=True``) and a
    ``load_from`` outside the work dir, this follows mmdet's ``--resume``
    (auto): if the work dir has a checkpoint (``last_checkpoint``), mmengine
    resumes from the latest one as if ``load_from`` were unset; if not, the
    run starts from ``load_from``. ``load_from`` stays in the config, and a
    ``load_from`` inside the work dir is resumed from, as mmengine does.

    It sets the two attributes that ``Runner.load_or_resume`` reads
    (mmengine has no public setter), so it must run between the runner's
    construction and ``load_or_resume``: the train loop's constructor.

    Args:
        runner (Runner): The runner, before it loads or resumes.
    """
    load_from = runner._load_from
    if not (runner._resume and load_from):
        return
    work_dir = osp.abspath(runner.work_dir)
    if '://' not in load_from and \
            osp.dirname(osp.abspath(load_from)) == work_dir:
        return
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        runner._load_from = None
        _log(f'--resume: resuming from the latest checkpoint of {work_dir}, '
             f'not from load_from={load_from} (the network stage 2 starts '
             'from)')
    else:
        runner._resume = False
        _log(f'--resume: {work_dir} has no checkpoint yet; starting from '
             f'load_from={load_from}')


def frozen_weights_digest(model) -> str:
    """SHA-256 of the frozen modules' state (parameters and buffers).

    Args:
        model (ZS3EncoderDecoder): The segmentor.

    Returns:
        str: Hex digest of the names, dtypes, shapes and values.
    """
    digest = hashlib.sha256()
    for i, module in enumerate(model.frozen_modules()):
        for name, value in module.state_dict().items():
            value = value.detach().cpu().contiguous()
            digest.update(
                f'{i}.{name}:{value.dtype}:{tuple(value.shape)};'.encode())
            digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def plain_settings(obj):
    """``obj`` as plain, comparable data (for a cache key).

    Tensors become lists; a module becomes its type, buffers and public
    attributes; any other object its type name (never a repr with an
    address, which would differ between runs).
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): plain_settings(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_settings(v) for v in obj]
    if isinstance(obj, torch.nn.Module):
        spec = dict(type=type(obj).__qualname__)
        spec.update({
            k: plain_settings(v)
            for k, v in sorted(vars(obj).items())
            if not k.startswith('_') and k != 'training'
        })
        spec.update({k: v.tolist() for k, v in obj.named_buffers()})
        return spec
    return type(obj).__qualname__


def _find_key(node, key: str, found: list) -> None:
    """Append every value of ``key`` in the nested dicts/lists ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            else:
                _find_key(v, key, found)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _find_key(v, key, found)


def _find_pipelines(dataset, found: list) -> None:
    """Append the repr of the pipeline of ``dataset`` and of the datasets it
    wraps."""
    if getattr(dataset, 'pipeline', None) is not None:
        found.append(repr(dataset.pipeline))
    for inner in [getattr(dataset, 'dataset', None)] + list(
            getattr(dataset, 'datasets', None) or []):
        if inner is not None:
            _find_pipelines(inner, found)
