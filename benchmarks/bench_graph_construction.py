"""Cost of ZS3Net + GC's graphs: construction per map, and per stage-2 step.

1. **Graph construction per 78x78 label map** (the feature map of a 312x312
   crop at stride 4): :func:`mmseg_zs3.utils.graph.build_label_graph`
   (scipy and torch backends) against :func:`python_dfs_graph` below, a
   straightforward Python DFS of the same definition (nodes: 8-connected
   components of equal label in raster order of their first pixel; edges:
   8-adjacent components of different labels), on three kinds of maps:
   ``scene`` (Voronoi regions of 12-25 classes with small blobs and an
   ignore border, like a Pascal-Context label map), ``shapes`` (the
   context-rich shapes data at 78x78) and ``noise`` (i.i.d. labels of 5
   classes, ~1,000 components, the worst case). The two results are checked
   equal on every map; the medians of the per-map times and their ratio
   are printed.
2. **Added cost per stage-2 iteration**: ``train_step`` of ZS3Net's stage 2
   on image batches (``configs/zs3/zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-
   64x64.py``, the frozen network runs on every batch) against ZS3Net + GC
   (the same with the head of ``zs3net-gc_...``), interleaved on the same
   batches in one process, median per round; and, for scale, the cached
   pixel-batch step that plain ZS3Net uses by default.

One torch thread (the machine's cores are shared). Run::

    python benchmarks/bench_graph_construction.py [--maps 30] [--steps 20]
"""
import argparse
import copy
import os.path as osp
import statistics
import tempfile
import time
from typing import List, Tuple

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ZS3NET_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
GC_CONFIG = osp.join(REPO, 'configs', 'zs3',
                     'zs3net-gc_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
IGNORE = 255


def python_dfs_graph(label: np.ndarray,
                     ignore_index: int = IGNORE) -> Tuple[np.ndarray, list]:
    """The region graph by a Python DFS over pixels (the reference).

    Returns:
        tuple: ``[h, w]`` node map (-1 for ignore pixels) and the sorted
        list of edges ``(a, b)``, ``a < b``.
    """
    h, w = label.shape
    node = np.full((h, w), -1, np.int64)
    n = 0
    for i in range(h):
        for j in range(w):
            if node[i, j] >= 0 or label[i, j] == ignore_index:
                continue
            cls = label[i, j]
            node[i, j] = n
            stack = [(i, j)]
            while stack:
                y, x = stack.pop()
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        v, u = y + dy, x + dx
                        if 0 <= v < h and 0 <= u < w and node[v, u] < 0 \
                                and label[v, u] == cls:
                            node[v, u] = n
                            stack.append((v, u))
            n += 1
    edges = set()
    for i in range(h):
        for j in range(w):
            a = node[i, j]
            if a < 0:
                continue
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                v, u = i + dy, j + dx
                if 0 <= v < h and 0 <= u < w:
                    b = node[v, u]
                    if b >= 0 and b != a:
                        edges.add((min(a, b), max(a, b)))
    return node, sorted(edges)


def scene_map(rng: np.random.Generator, size: int = 78) -> np.ndarray:
    """Voronoi regions of 12-25 random classes (of 60), some small blobs,
    an ignore border between a few regions."""
    k = rng.integers(12, 26)
    seeds = rng.uniform(0, size, (k, 2))
    classes = rng.integers(0, 60, k)
    yy, xx = np.mgrid[0:size, 0:size]
    d = (yy[..., None] - seeds[:, 0])**2 + (xx[..., None] - seeds[:, 1])**2
    order = np.sort(d, axis=-1)
    label = classes[d.argmin(-1)].astype(np.int64)
    label[np.sqrt(order[..., 1]) - np.sqrt(order[..., 0]) < 1.0] = IGNORE
    for _ in range(rng.integers(3, 10)):
        cy, cx = rng.integers(0, size, 2)
        r = rng.integers(1, 5)
        label[(yy - cy)**2 + (xx - cx)**2 <= r * r] = rng.integers(0, 60)
    return label


def shapes_map(rng: np.random.Generator, size: int = 78) -> np.ndarray:
    from mmseg_zs3.datasets.generate_shapes import render_shapes_image
    _, label = render_shapes_image(rng, 80, 3, context_rich=True)
    return label[:size, :size].astype(np.int64)


def noise_map(rng: np.random.Generator, size: int = 78) -> np.ndarray:
    return rng.integers(0, 5, (size, size))


def time_construction(num_maps: int) -> List[dict]:
    from mmseg_zs3.utils.graph import build_label_graph
    rng = np.random.default_rng(0)
    rows = []
    for kind, make in [('scene', scene_map), ('shapes', shapes_map),
                       ('noise', noise_map)]:
        maps = [make(rng) for _ in range(num_maps)]
        times = {'dfs': [], 'scipy': [], 'torch': []}
        nodes = []
        for m in maps:
            t0 = time.perf_counter()
            ref_node, ref_edges = python_dfs_graph(m)
            times['dfs'].append(time.perf_counter() - t0)
            t = torch.from_numpy(m)
            for backend in ('scipy', 'torch'):
                best = float('inf')
                for _ in range(3):
                    t0 = time.perf_counter()
                    g = build_label_graph(t, backend=backend)
                    best = min(best, time.perf_counter() - t0)
                times[backend].append(best)
                assert np.array_equal(g.node_map.numpy(), ref_node), kind
                assert [tuple(e) for e in g.edges.t().tolist()] == ref_edges
            nodes.append(g.num_nodes)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            dict(
                kind=kind,
                nodes=statistics.median(nodes),
                dfs_ms=med['dfs'] * 1e3,
                scipy_ms=med['scipy'] * 1e3,
                torch_ms=med['torch'] * 1e3,
                ratio_scipy=med['dfs'] / med['scipy'],
                ratio_torch=med['dfs'] / med['torch']))
    return rows


def _runner(cfg_path: str, data_root: str, emb: str, work: str, name: str):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = osp.join(work, name)
    cfg.experiment_name = f'bench_graph_{name}'
    cfg.visualizer.name = f'bench_graph_vis_{name}'
    cfg.log_level = 'ERROR'
    cfg.load_from = None
    cfg.model.class_embedding.embedding_file = emb
    loader = cfg.train_dataloader
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.dataset.data_root = data_root
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    runner = Runner.from_cfg(cfg)
    optim = runner.build_optim_wrapper(copy.deepcopy(cfg.optim_wrapper))
    return runner, optim


def time_iterations(steps: int) -> dict:
    from mmseg_zs3.datasets import generate_shapes_dataset
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    with tempfile.TemporaryDirectory() as work:
        data = osp.join(work, 'data')
        generate_shapes_dataset(
            data, num_train=400, num_val=0, num_calib=0, context_rich=True)
        emb = osp.join(work, 'emb.npz')
        build_class_embeddings(
            'ZS3ShapesDataset', load_packaged_glove(),
            normalize='l2').save(emb)
        # timing does not depend on accuracy: initialised weights, no
        # stage-1 checkpoint
        plain, plain_opt = _runner(ZS3NET_CONFIG, data, emb, work, 'plain')
        gc, gc_opt = _runner(GC_CONFIG, data, emb, work, 'gc')
        batches = []
        for batch in plain.train_dataloader:
            batches.append(batch)
            if len(batches) == steps + 2:
                break
        plain.model.train()
        gc.model.train()
        times = {'plain': [], 'gc': [], 'cached': []}
        for i, batch in enumerate(batches):
            pixels = plain.model.extract_pixels(batch)
            for key, model, opt, data_ in [
                ('plain', plain.model, plain_opt, batch),
                ('gc', gc.model, gc_opt, batch),
                ('cached', plain.model, plain_opt, pixels)
            ]:
                t0 = time.perf_counter()
                model.train_step(data_, opt)
                if i >= 2:  # warm-up
                    times[key].append(time.perf_counter() - t0)
        ratios = [g / p for g, p in zip(times['gc'], times['plain'])]
        return dict(
            batch_size=len(batches[0]['inputs']),
            plain_ms=statistics.median(times['plain']) * 1e3,
            gc_ms=statistics.median(times['gc']) * 1e3,
            cached_ms=statistics.median(times['cached']) * 1e3,
            ratio=statistics.median(ratios))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--maps', type=int, default=30, help='maps per kind')
    p.add_argument('--steps', type=int, default=20, help='timed stage-2 steps')
    p.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads (one: the cores are shared); 0 keeps the '
        'default')
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = time_construction(args.maps)
    print('graph construction per 78x78 map (median over '
          f'{args.maps} maps per kind; results checked equal to the DFS)')
    print('| maps | nodes | Python DFS ms | scipy ms | torch (CPU) ms '
          '| DFS / scipy | DFS / torch |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["kind"]} | {r["nodes"]:.0f} | {r["dfs_ms"]:.1f} | '
              f'{r["scipy_ms"]:.2f} | {r["torch_ms"]:.2f} | '
              f'{r["ratio_scipy"]:.0f}x | {r["ratio_torch"]:.0f}x |')
    it = time_iterations(args.steps)
    print(f'\nstage-2 train_step, shapes, batch {it["batch_size"]} (median '
          f'of {args.steps} interleaved steps)')
    print(f'ZS3Net on image batches: {it["plain_ms"]:.1f} ms; ZS3Net + GC: '
          f'{it["gc_ms"]:.1f} ms; ratio GC / plain {it["ratio"]:.2f}x; '
          f'(ZS3Net on a cached pixel batch: {it["cached_ms"]:.1f} ms)')


if __name__ == '__main__':
    main()
