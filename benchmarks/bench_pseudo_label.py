"""Benchmark ZS5Net's pseudo-label pass (PseudoLabelHook).

1. On the demo data (the shapes training images, ``make demo``'s
   ``data/zs3_shapes``): the pass's throughput (images/s) and peak memory,
   against a validation pass of the same model over the same images (the
   same dataloader and ``model.val_step``, no files written); target: the
   pass takes at most 1.5x the validation pass.
2. The class thresholds' memory on a synthetic score stream: 1,000 and
   10,000 candidate maps, histograms (what the hook keeps) against keeping
   every score (an exact sort). The histograms' memory must not grow with
   the number of images.

Usage::

    python benchmarks/bench_pseudo_label.py \
        [--checkpoint work_dirs/demo/zs3net/epoch_10.pth] \
        [--data-root data/zs3_shapes] [--repeats 2]

Without the checkpoint the model keeps its initial weights (the timing is
the same; the pseudo-labels are meaningless).
"""
import argparse
import os
import os.path as osp
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'zs3',
                  'zs5net_unet-s2-fcn_1xb16-8e_shapes-u4-64x64.py')


def _runner(args, work_dir):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.load_from = None
    pseudo_dir = osp.join(work_dir, 'pseudo_labels')
    for t in cfg.train_dataloader.dataset.dataset.pipeline:
        if t.type == 'LoadPseudoLabels':
            t.pseudo_label_dir = pseudo_dir
    cfg.train_dataloader.dataset.dataset.data_root = args.data_root
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.custom_hooks = [
        dict(h, pseudo_label_dir=pseudo_dir, batch_size=args.batch_size)
        for h in cfg.custom_hooks if h.type == 'PseudoLabelHook'
    ]
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    # what Runner.train() does before its hooks run, without training
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    if args.checkpoint and osp.isfile(args.checkpoint):
        runner.load_checkpoint(args.checkpoint)
    else:
        print(f'[bench] no checkpoint {args.checkpoint!r}: initial weights')
    hook = next(
        h for h in runner.hooks if type(h).__name__ == 'PseudoLabelHook')
    hook.before_run(runner)
    return runner, hook


def _val_pass(model, hook) -> float:
    """A validation pass over the pass's images and dataloader."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader
    loader = DataLoader(
        hook.dataset,
        batch_size=hook.batch_size,
        sampler=list(range(len(hook.dataset))),
        collate_fn=pseudo_collate)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for batch in loader:
            model.val_step(batch)
    return time.perf_counter() - start


def bench_pass(args) -> None:
    import mmseg_zs3  # noqa: F401
    from mmseg_zs3.engine.hooks.runner_state import unwrapped_model
    work_dir = tempfile.mkdtemp(prefix='bench_pseudo_label_')
    try:
        runner, hook = _runner(args, work_dir)
        model = unwrapped_model(runner)
        n = len(hook.dataset)
        val_times, pass_times, peaks = [], [], []
        for r in range(args.repeats):
            val_times.append(_val_pass(model, hook))
            shutil.rmtree(hook.out_dir)
            os.makedirs(hook.out_dir)
            tracemalloc.start()
            hook.run_pass(runner, r)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            pass_times.append(hook.last_pass['seconds'])
        val_s, pass_s = min(val_times), min(pass_times)
        gen = osp.join(hook.out_dir, hook.last_pass['folder'])
        size = sum(osp.getsize(osp.join(gen, f)) for f in os.listdir(gen))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f'[bench] pass over {n} training images of {args.data_root} '
              f'(batch {hook.batch_size}, best of {args.repeats}, torch '
              f'threads {torch.get_num_threads()}):')
        print(f'  validation pass  {val_s:6.2f} s  {n / val_s:7.1f} images/s')
        print(f'  pseudo-label pass {pass_s:6.2f} s  {n / pass_s:7.1f} '
              f'images/s  = {pass_s / val_s:.2f}x the validation pass '
              '(target <= 1.5x)')
        print(f'  maps written: {size / 2**20:.1f} MiB; peak Python/numpy '
              f'memory of the pass (tracemalloc) {max(peaks) / 2**20:.1f} '
              f'MiB; peak RSS of the process {rss:.0f} MiB')
        print(f'  kept: {hook.last_pass["kept"]} of candidates '
              f'{hook.last_pass["candidates"]}')
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def bench_quantile(args) -> None:
    from mmseg_zs3.utils import pseudo_labels as pl
    unseen = [1, 6, 11, 16]
    print('[bench] class thresholds on a synthetic score stream '
          f'({args.map_size}x{args.map_size} maps, {len(unseen)} unseen '
          'classes, about a third of the pixels candidates):')
    for n in (1000, 10000):
        rng = np.random.default_rng(n)
        # histograms, as PseudoLabelHook keeps them
        tracemalloc.start()
        hist = np.zeros((len(unseen), pl.SCORE_LEVELS + 1), np.int64)
        seconds = 0.0
        shape = (args.map_size, args.map_size)
        for _ in range(n):
            cls = rng.choice(unseen + [pl.NO_LABEL] * 8, size=shape)
            score = rng.integers(0, pl.SCORE_LEVELS + 1, shape)
            cand = pl.encode(cls.astype(np.uint8), score.astype(np.uint16))
            start = time.perf_counter()
            pl.add_to_histograms(hist, cand, unseen)
            seconds += time.perf_counter() - start
        start = time.perf_counter()
        th = [pl.threshold_of_histogram(h, 25.0) for h in hist]
        seconds += time.perf_counter() - start
        peak_hist = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # the alternative: every score in memory, then an exact sort
        tracemalloc.start()
        kept = [[] for _ in unseen]
        rng2 = np.random.default_rng(n)
        for _ in range(n):
            cls = rng2.choice(unseen + [pl.NO_LABEL] * 8, size=shape)
            score = rng2.integers(0, pl.SCORE_LEVELS + 1, shape)
            for row, c in enumerate(unseen):
                kept[row].append(score[cls == c].astype(np.uint16))
        exact = [pl.threshold_of_scores(np.concatenate(k), 25.0) for k in kept]
        peak_all = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del kept
        print(f'  {n:6d} maps: histograms peak {peak_hist / 2**20:6.1f} MiB '
              f'(counting {seconds:.1f} s); all scores peak '
              f'{peak_all / 2**20:7.1f} MiB; same thresholds as the exact '
              f'sort: {th == exact}')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--checkpoint', default='work_dirs/demo/zs3net/epoch_10.pth')
    parser.add_argument('--data-root', default='data/zs3_shapes')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--map-size', type=int, default=64)
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument('--skip-pass', action='store_true')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.skip_pass:
        if not osp.isdir(osp.join(args.data_root, 'img_dir', 'train')):
            sys.exit(f'{args.data_root} has no img_dir/train: run make demo '
                     '(or tools/generate_shapes_dataset.py) first')
        bench_pass(args)
    bench_quantile(args)


if __name__ == '__main__':
    main()
