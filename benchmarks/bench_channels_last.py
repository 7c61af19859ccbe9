"""Training speed on the CPU with channels-last image batches.

Times ``model.train_step`` (data preprocessor, forward, loss, backward,
optimizer step) of a config's model on a random batch, once with the
config's ``ZS3DataPreProcessor(channels_last=...)`` off and once on, in
alternating rounds (so that a busy machine slows both alike), and checks
that the two give the same losses from the same weights. Defaults: the
CamVid DeepLabV3+ / EfficientNet-Lite0 config (batch 8, 192x256) and the
demo's shapes UNet (batch 16, 64x64), one torch thread::

    python benchmarks/bench_channels_last.py
    python benchmarks/bench_channels_last.py --threads 2 --steps 20
"""
import argparse
import copy
import os.path as osp
import tempfile
import time

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = dict(
    camvid=('configs/zs3/seen-only_deeplabv3plus_effnet-lite0_1xb8-400it_'
            'camvid-u2-192x256.py', 8, (192, 256), 11),
    shapes=('configs/zs3/seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-'
            '64x64.py', 16, (64, 64), 17))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--models', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--steps', type=int, default=10, help='timed steps per round')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args(argv)
    for name in ('threads', 'steps', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    return args


def make_batch(batch: int, size, num_classes: int, seed: int = 0) -> dict:
    """A random image batch in the dataloader's format (uint8 images)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(
            torch.randint(0, 256, (3, *size), generator=g, dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *size), generator=g))
        s.set_metainfo(dict(img_shape=size, pad_shape=size, ori_shape=size))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def time_model(name: str, args) -> dict:
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    path, batch, size, num_classes = CONFIGS[name]
    cfg = Config.fromfile(osp.join(REPO, path))
    if cfg.model.get('auxiliary_head'):
        # the shapes stage 1's embedding auxiliary head reads class
        # embeddings: built here from the packaged GloVe vectors
        from mmseg_zs3.embeddings import (build_class_embeddings,
                                          load_packaged_glove)
        from mmseg_zs3.utils.jobs import set_everywhere
        classes = cfg.model.auxiliary_head.classifier.class_embedding.classes
        emb = osp.join(
            tempfile.mkdtemp(prefix='bench_cl_'), 'class_embeddings.npz')
        build_class_embeddings(
            classes, load_packaged_glove(), normalize='l2').save(emb)
        set_everywhere(cfg.model, 'embedding_file', emb)
    torch.manual_seed(0)
    base = MODELS.build(cfg.model)
    base.init_weights()
    models, wrappers = {}, {}
    for fmt in ('nchw', 'channels_last'):
        m = copy.deepcopy(base)
        m.data_preprocessor.channels_last = fmt == 'channels_last'
        m.train()
        models[fmt] = m
        wrappers[fmt] = build_optim_wrapper(m, cfg.optim_wrapper)
    data = make_batch(batch, size, num_classes)
    # same weights, same batch: the first step's losses agree
    first = {}
    for fmt, m in models.items():
        torch.manual_seed(1)
        losses = m.train_step(copy.deepcopy(data), wrappers[fmt])
        first[fmt] = float(
            sum(v.detach() for k, v in losses.items() if 'loss' in k))
    times = {fmt: [] for fmt in models}
    for _ in range(args.rounds):
        for fmt, m in models.items():
            m.train_step(copy.deepcopy(data), wrappers[fmt])  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.steps):
                m.train_step(copy.deepcopy(data), wrappers[fmt])
            times[fmt].append((time.perf_counter() - t0) / args.steps)
    return dict(
        batch=batch,
        size=size,
        first_loss=first,
        seconds_per_step={
            f: float(np.median(t))
            for f, t in times.items()
        })


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    # the plugin first: its CPU-stack fixes let mmseg import without
    # mmcv's compiled ops (mmcv-lite)
    import mmseg_zs3  # noqa: F401  isort: skip  (registers the plugin)
    from mmengine.logging import MMLogger
    from mmseg.utils import register_all_modules
    register_all_modules()
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    print(f'torch {torch.__version__}, {args.threads} thread(s), '
          f'{args.rounds} rounds of {args.steps} steps (median)')
    print('| model | batch | NCHW s/step | channels-last s/step | speed-up '
          '| first loss NCHW / channels-last |')
    print('|---|---|---|---|---|---|')
    for name in args.models:
        r = time_model(name, args)
        s = r['seconds_per_step']
        print(
            f'| {name} | {r["batch"]}x{r["size"][0]}x{r["size"][1]} '
            f'| {s["nchw"]:.3f} | {s["channels_last"]:.3f} '
            f'| {s["nchw"] / s["channels_last"]:.2f}x '
            f'| {r["first_loss"]["nchw"]:.6f} / '
            f'{r["first_loss"]["channels_last"]:.6f} |',
            flush=True)


if __name__ == '__main__':
    main()
