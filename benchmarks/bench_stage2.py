"""Seconds per epoch of ZS3Net's stage 2 on the shapes data, on this CPU.

Compares, on the same generated data, stage-1 checkpoint and model config
(``configs/zs3/zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py``,
strict layout):

- ``uncached``: mmengine's ``EpochBasedTrainLoop`` with
  ``ZS3EncoderDecoder.loss`` (the frozen network runs on every batch);
- ``cache pass`` / ``cached epochs``: ``ZS3FeatureCacheTrainLoop``, which
  extracts the seen pixels of every image once (``extract_pixels``, into the
  feature cache; its peak RSS is measured too), then trains every epoch on
  pixel batches drawn from the cache (mean over the epochs);
- ``frozen forward``: one pass of the frozen network over the same images
  (data loading included), the floor that no stage 2 can beat; the whole
  cached run (``Runner.train``) is reported as a multiple of it;
- ``official``: the official per-(image, class) schedule (ZS3NET.md section
  3) in plain PyTorch calling our modules: batch size 1; for each image the
  frozen features are recomputed, then for each seen class in the image one
  Adam step of the generator on 128 real vs 128 generated features (MMD), and
  one SGD step of the classifier on the image's real features plus generated
  unseen features.

Timing does not depend on accuracy, so the stage-1 checkpoint is an
initialised model. Data loading runs in the main process (``num_workers=0``)
everywhere. One torch thread by default: on a shared 2-core machine two
OpenMP threads per process oversubscribe the cores and make timings erratic
(``--threads 0`` keeps torch's default). The official schedule is timed on
``--official-images`` images and scaled to the epoch; cached runs and
official timings alternate ``--repeats`` times and their medians are
compared. Run::

    python benchmarks/bench_stage2.py [--num-train 600] [--epochs 10]
        [--repeats 3]
"""
import argparse
import os
import os.path as osp
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE1_CONFIG = osp.join(
    REPO, 'configs', 'zs3',
    'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
STAGE2_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument(
        '--num-train',
        type=int,
        default=600,
        help='generated training images (64x64)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=16,
        help='images per batch (the config: 16)')
    parser.add_argument(
        '--epochs',
        type=int,
        default=10,
        help='epochs of the cache loop (the config: 10)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='cached runs and official timings, alternating (medians)')
    parser.add_argument(
        '--official-images',
        type=int,
        default=100,
        help='time the official schedule on this many images '
        'and scale to an epoch (0: the whole epoch)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads (0: torch default)')
    parser.add_argument(
        '--keep', action='store_true', help='keep the temporary work dir')
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f'--repeats must be >= 1, got {args.repeats}')
    return args


def prepare(work_dir: str, num_train: int) -> dict:
    """Data, class embeddings and an (initialised) stage-1 checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmseg_zs3.datasets import generate_shapes_dataset
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    data = osp.join(work_dir, 'zs3_shapes')
    if not osp.isdir(data):
        generate_shapes_dataset(
            data,
            num_train=num_train,
            num_val=8,
            num_calib=8,
            image_size=64,
            seed=0)
    emb = osp.join(work_dir, 'class_embeddings.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(emb)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    stage1 = Config.fromfile(STAGE1_CONFIG)
    # stage 1's embedding auxiliary head
    stage1.model.auxiliary_head.classifier.class_embedding.embedding_file = \
        emb
    model = MODELS.build(stage1.model)
    model.init_weights()
    ckpt = osp.join(work_dir, 'stage1_init.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return dict(data=data, emb=emb, ckpt=ckpt)


def stage2_config(files: dict, work_dir: str, loop: str, epochs: int,
                  batch_size: int):
    from mmengine.config import Config
    cfg = Config.fromfile(STAGE2_CONFIG)
    cfg.work_dir = work_dir
    cfg.log_level = 'ERROR'
    cfg.load_from = files['ckpt']
    cfg.model.class_embedding.embedding_file = files['emb']
    loader = cfg.train_dataloader
    loader.batch_size = batch_size
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.dataset.data_root = files['data']
    train_cfg = dict(type=loop, max_epochs=epochs, val_interval=epochs + 1)
    if loop == 'ZS3FeatureCacheTrainLoop':
        train_cfg['max_per_class'] = cfg.train_cfg.max_per_class
    cfg.train_cfg = train_cfg
    for scheduler in cfg.param_scheduler:
        scheduler.end = epochs
    cfg.default_hooks.checkpoint.interval = epochs + 1  # no checkpoints
    cfg.default_hooks.checkpoint.save_last = False
    cfg.default_hooks.logger.interval = 10**6
    cfg.custom_hooks = list(cfg.get('custom_hooks',
                                    [])) + [dict(type='BenchEpochTimerHook')]
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.randomness = dict(seed=0)
    return cfg


def register_timer_hook():
    from mmengine.hooks import Hook
    from mmseg.registry import HOOKS

    @HOOKS.register_module(force=True)
    class BenchEpochTimerHook(Hook):
        """Wall seconds of each training epoch (hooks included)."""
        priority = 'HIGHEST'

        def before_train_epoch(self, runner):
            self._start = time.perf_counter()

        def after_train_epoch(self, runner):
            runner.bench_epoch_seconds = getattr(
                runner, 'bench_epoch_seconds',
                []) + [time.perf_counter() - self._start]


class PeakRSS:
    """Peak resident memory of this process while the context is open,
    sampled every millisecond (``/proc/self/statm``, Linux)."""

    def __enter__(self):
        self.page = resource.getpagesize()
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self.page

    def _watch(self):
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def run_runner(files, work_dir, loop, epochs, batch_size):
    """Train; returns (epoch seconds, images, Runner.train seconds, the
    cache's peak RSS increase and kept bytes, or None)."""
    from mmengine.runner import Runner

    from mmseg_zs3.engine.runner import ZS3FeatureCacheTrainLoop
    runner = Runner.from_cfg(
        stage2_config(files, work_dir, loop, epochs, batch_size))
    measured = {}
    compute = ZS3FeatureCacheTrainLoop.compute_cache

    def measured_compute(self, key):
        with PeakRSS() as rss:
            cache = compute(self, key)
        measured.update(
            rss=rss.peak - rss.start,
            nbytes=cache.nbytes,
            seconds=self.cache_seconds)
        return cache

    ZS3FeatureCacheTrainLoop.compute_cache = measured_compute
    try:
        start = time.perf_counter()
        runner.train()
        total = time.perf_counter() - start
    finally:
        ZS3FeatureCacheTrainLoop.compute_cache = compute
    return (runner.bench_epoch_seconds, len(runner.train_dataloader.dataset),
            total, measured or None)


def run_frozen_forward(files, work_dir, batch_size):
    """Seconds of one frozen forward pass over the training images (data
    loading and preprocessing included), as the cache pass loads them."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint
    init_default_scope('mmseg')
    cfg = stage2_config(files, work_dir, 'EpochBasedTrainLoop', 1, batch_size)
    loader = Runner.build_dataloader(cfg.train_dataloader)
    from mmseg.registry import MODELS
    model = MODELS.build(cfg.model)
    load_checkpoint(model, files['ckpt'], map_location='cpu', logger='silent')
    model.train()  # frozen modules stay in eval (frozen_mode='eval')
    start = time.perf_counter()
    with torch.no_grad():
        for data in loader:
            data = model.data_preprocessor(data, True)
            model.decode_head.forward_features(
                model.extract_feat(data['inputs']))
    return time.perf_counter() - start


def run_official(files, work_dir, batch_size, num_images=None):
    """One epoch of the official per-(image, class) schedule; returns
    (seconds scaled to the epoch, images timed, images in the epoch)."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import DATASETS, MODELS
    init_default_scope('mmseg')
    cfg = stage2_config(files, work_dir, 'EpochBasedTrainLoop', 1, batch_size)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    load_checkpoint(model, files['ckpt'], map_location='cpu', logger='silent')
    model.train()  # frozen modules stay in eval (frozen_mode='eval')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    gen_head = model.generative_head
    classifier = model.decode_head.classifier
    gen_optim = torch.optim.Adam(
        gen_head.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cls_optim = torch.optim.SGD(classifier.parameters(), lr=0.07, momentum=0.9)
    emb = model.class_embedding()
    seen, unseen = model.seen_ids, model.unseen_ids
    weight = model._class_weight(emb)
    order = torch.randperm(len(dataset)).tolist()
    total = len(order)
    order = order[:num_images] if num_images else order
    start = time.perf_counter()
    for i in order:
        data = model.data_preprocessor(pseudo_collate([dataset[i]]), True)
        feats, labels = model.seen_pixels(*model.extract_pixel_features(
            data['inputs'], data['data_samples']))
        for c in labels.unique().tolist():  # seen classes of the image
            gen_optim.zero_grad()
            loss = gen_head.loss(feats, labels, emb, [c])['loss_mmd']
            loss.backward()
            gen_optim.step()
        n_gen = model._num_generated(labels)
        with torch.no_grad():
            fake = gen_head.generate(unseen, n_gen, emb).flatten(0, 1)
        x = torch.cat([feats, fake])
        y = torch.cat([labels, unseen.repeat_interleave(n_gen)])
        cls_optim.zero_grad()
        F.cross_entropy(
            model.decode_head.classify(x), y, weight=weight).backward()
        cls_optim.step()
    seconds = time.perf_counter() - start
    assert set(seen.tolist()) >= set(labels.unique().tolist())
    return seconds * total / len(order), len(order), total


def main():
    args = parse_args()
    sys.path.insert(0, REPO)
    from mmengine.logging import MMLogger

    import mmseg_zs3  # noqa: F401  (registrations)
    register_timer_hook()
    if args.threads:
        torch.set_num_threads(args.threads)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='bench_stage2_')
    os.makedirs(work_dir, exist_ok=True)
    print('command:', ' '.join([osp.basename(sys.executable)] + sys.argv))
    print(f'machine: {platform.platform()}, {platform.processor() or "cpu"}, '
          f'{os.cpu_count()} CPUs, torch {torch.__version__}, '
          f'torch threads {torch.get_num_threads()}, '
          f'load average {os.getloadavg()[0]:.1f} at start')
    try:
        t = time.perf_counter()
        files = prepare(work_dir, args.num_train)
        print(f'prepared data/embeddings/checkpoint in '
              f'{time.perf_counter() - t:.1f} s ({work_dir})')
        MMLogger.get_current_instance().setLevel('WARNING')

        uncached, n_images, _, _ = run_runner(files,
                                              osp.join(work_dir, 'uncached'),
                                              'EpochBasedTrainLoop', 1,
                                              args.batch_size)
        forward = run_frozen_forward(files, work_dir, args.batch_size)
        # the two sides of the ratio alternate, so that a busier moment of a
        # shared machine slows both; medians over the repeats
        epochs, officials, totals, cache = [], [], [], None
        for r in range(args.repeats):
            cached, _, total, measured = run_runner(
                files, osp.join(work_dir, f'cached{r}'),
                'ZS3FeatureCacheTrainLoop', args.epochs, args.batch_size)
            epochs.append(sum(cached) / len(cached))
            totals.append(total)
            cache = cache or measured
            official, n_timed, _ = run_official(files, work_dir,
                                                args.batch_size,
                                                args.official_images)
            officials.append(official)
            print(
                f'repeat {r + 1}/{args.repeats}: cached {epochs[-1]:.3f} '
                f's/epoch, official {official:.2f} s/epoch, '
                f'{official / epochs[-1]:.1f}x',
                flush=True)
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)

    epoch = float(np.median(epochs))
    official = float(np.median(officials))
    cached_total = float(np.median(totals))
    print('\n' + '=' * 72)
    print(f'stage 2, {n_images} seen-only training images (of '
          f'{args.num_train}), batch {args.batch_size}, 64x64, strict layout')
    rows = [
        ('uncached (EpochBasedTrainLoop, image batches), s/epoch',
         uncached[0]),
        ('ZS3FeatureCacheTrainLoop, cache pass (once), s', cache['seconds']),
        ('ZS3FeatureCacheTrainLoop, cached epochs (median over repeats of '
         f'the mean of {args.epochs}), s/epoch', epoch),
        ('official per-(image, class) schedule, batch 1, median' +
         (f' ({n_timed} images, scaled)' if n_timed < n_images else '') +
         ', s/epoch', official),
        ('one frozen forward pass over the images, s', forward),
        (f'whole cached run ({args.epochs} epochs, Runner.train, median), '
         's', cached_total),
    ]
    width = max(len(r[0]) for r in rows)
    for name, sec in rows:
        print(f'{name:<{width}}  {sec:8.2f}')
    print(f'official / cached epochs:    {official / epoch:6.1f}x '
          '(target >= 10x)')
    print(f'uncached / cached epochs:    {uncached[0] / epoch:6.1f}x')
    print(f'whole cached run / frozen forward pass: '
          f'{cached_total / forward:6.1f}x (floor: 1x)')
    print(f'feature cache: {cache["nbytes"] / 2**20:.1f} MiB kept, peak RSS '
          f'+{cache["rss"] / 2**20:.1f} MiB while it is computed')
    print(f'load average at end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
