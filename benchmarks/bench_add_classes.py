"""Adding a class by name to a trained ZS3Net, against training it in.

On the shapes demo (``make demo`` trains into ``work_dirs/demo``), for one of
the demo's unseen classes (``--held-out``, default ``'yellow cross'``):

1. **full ZS3Net**: the demo's stage 2 (``zs3net/epoch_10.pth``), where the
   class is one of the 4 unseen classes: its IoU on the validation images;
2. **held out**: stage 2 trained again from the same stage-1 network with
   the class left out of the class list (16 classes, the other 3 unseen; its
   pixels are labelled 255, ignored, in a copy of the annotations): the
   model does not know the class exists;
3. **added**: ``add_classes`` gives the held-out model the class by name
   (GloVe vector of its words), with the seen classes represented by
   generated features (``seen_source='generated'``) or by the stored real
   ones of the stage-2 feature cache (``'real'``), training the new row only
   (``retrain='new'``, default) or every row (``'all'``).

It prints the held-out class's IoU in each, the mean and the largest drop of
the other classes' IoU from the held-out model to the added one (all models
scored on the same 17-class ground truth: before adding, the class's pixels
count against whatever the model predicts there), and the seconds
``add_classes_to_checkpoint`` takes (loading, word vectors, retrain,
writing). Run::

    python benchmarks/bench_add_classes.py [--demo-dir work_dirs/demo]
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Sequence

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE2_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')


# ---------------------------------------------------------------------------
# the held-out protocol (tests/test_add_classes.py uses these too)
def held_out_data(src_root: str, dst_root: str, held_out: Sequence[str]):
    """A view of a shapes dataset whose annotations do not know
    ``held_out``: images are linked, label maps rewritten with the other
    classes renumbered in order and ``held_out`` pixels set to 255.

    Args:
        src_root (str): A shapes dataset (``generate_shapes_dataset``).
        dst_root (str): Where the view goes (created).
        held_out (Sequence[str]): Class names to leave out.

    Returns:
        tuple[list[str], list[list[int]]]: The remaining classes and their
        palette.
    """
    from PIL import Image

    from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
    classes = list(ZS3ShapesDataset.METAINFO['classes'])
    palette = [list(p) for p in ZS3ShapesDataset.METAINFO['palette']]
    keep = [c for c in classes if c not in held_out]
    lut = np.full(256, 255, dtype=np.uint8)
    for i, c in enumerate(keep):
        lut[classes.index(c)] = i
    os.makedirs(osp.join(dst_root, 'ann_dir'), exist_ok=True)
    if not osp.exists(osp.join(dst_root, 'img_dir')):
        os.symlink(
            osp.join(osp.abspath(src_root), 'img_dir'),
            osp.join(dst_root, 'img_dir'))
    for split in sorted(os.listdir(osp.join(src_root, 'ann_dir'))):
        src = osp.join(src_root, 'ann_dir', split)
        dst = osp.join(dst_root, 'ann_dir', split)
        os.makedirs(dst, exist_ok=True)
        for name in sorted(os.listdir(src)):
            seg = np.asarray(Image.open(osp.join(src, name)))
            Image.fromarray(lut[seg]).save(osp.join(dst, name))
    return keep, [palette[classes.index(c)] for c in keep]


def held_out_stage1(stage1: str, out: str, held_out: Sequence[str]) -> str:
    """The stage-1 checkpoint with the classifier rows of ``held_out``
    removed, for a stage 2 that does not know those classes (stage 1 never
    trained them: their images are dropped; stage 2 re-initialises the
    classifier anyway).

    Args:
        stage1 (str): The seen-only checkpoint of the full class list.
        out (str): Where the reduced checkpoint goes.
        held_out (Sequence[str]): The classes to remove.

    Returns:
        str: ``out``.
    """
    from mmseg_zs3.compat import load_from_local
    from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
    classes = list(ZS3ShapesDataset.METAINFO['classes'])
    keep = torch.tensor(
        [i for i, c in enumerate(classes) if c not in held_out])
    ckpt = load_from_local(stage1, map_location='cpu')
    state = {}
    for key, value in ckpt['state_dict'].items():
        if key.endswith(('conv_seg.weight', 'conv_seg.bias',
                         'classifier.conv.weight', 'classifier.conv.bias')):
            value = value[keep]
        state[key] = value
    meta = dict(ckpt.get('meta') or {})
    meta['dataset_meta'] = dict(
        classes=[classes[i] for i in keep],
        palette=[list(ZS3ShapesDataset.METAINFO['palette'][i]) for i in keep])
    torch.save(dict(state_dict=state, meta=meta), out)
    return out


def held_out_stage2_config(data_root: str, view_root: str, work_dir: str,
                           stage1: str, held_out: Sequence[str],
                           embedding_file: str) -> 'Config':  # noqa: F821
    """The shipped shapes stage-2 config without the ``held_out`` classes.

    Trained on the view of :func:`held_out_data` (an mmseg
    ``BaseSegDataset`` with the remaining classes), starting from
    ``stage1``; the class embeddings come from ``embedding_file``, which
    must hold exactly the remaining classes. Its test loader reads the
    original dataset with ``metainfo`` classes (mmseg maps the held-out
    labels to 255), so a config with the class added back tests on all.

    Args:
        data_root (str): The shapes dataset.
        view_root (str): Its view by :func:`held_out_data`.
        work_dir (str): The run's work dir.
        stage1 (str): The seen-only checkpoint (``load_from``) of the
            remaining classes (:func:`held_out_stage1`).
        held_out (Sequence[str]): The classes left out (unseen ones).
        embedding_file (str): Class embeddings of the remaining classes.

    Returns:
        Config: The config (validation off, no worker processes).
    """
    from mmengine.config import Config

    from mmseg_zs3.apis.add_classes import config_for_classes
    from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
    classes = list(ZS3ShapesDataset.METAINFO['classes'])
    palette = [list(p) for p in ZS3ShapesDataset.METAINFO['palette']]
    cfg = Config.fromfile(STAGE2_CONFIG)
    keep = [c for c in classes if c not in held_out]
    keep_palette = [palette[classes.index(c)] for c in keep]
    unseen = [c for c in cfg.zs3_split['unseen'] if c not in held_out]
    cfg = config_for_classes(cfg, classes, keep, unseen, keep_palette,
                             cfg.model.class_embedding.dim, embedding_file)
    train = cfg.train_dataloader.dataset
    train.split = dict(unseen=unseen)
    train.dataset = dict(
        type='BaseSegDataset',
        data_root=view_root,
        img_suffix='.png',
        seg_map_suffix='.png',
        metainfo=dict(classes=keep, palette=keep_palette),
        data_prefix=train.dataset.data_prefix,
        pipeline=copy.deepcopy(train.dataset.pipeline))
    for step in train.dataset.pipeline:
        if step.get('type') == 'CheckSegMap':
            step.num_classes = len(keep)
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.work_dir = work_dir
    cfg.load_from = stage1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    return cfg


def per_class_iou(model,
                  data_root: str,
                  split: str = 'val',
                  limit: int = None,
                  batch_size: int = 16) -> Dict[str, float]:
    """IoU (%) of each shapes class for ``model``'s predictions, by name.

    Ground truth is the full shapes class list; a model's predicted index is
    mapped to the dataset's through the class names
    (``model.dataset_meta['classes']``), so models of other class lists and
    orders are scored on the same labels.

    Args:
        model: A segmentor with ``dataset_meta``.
        data_root (str): The shapes dataset.
        split (str): Image folder. Defaults to 'val'.
        limit (int, optional): Only the first images.
        batch_size (int): Images per forward pass. Defaults to 16.

    Returns:
        dict[str, float]: Per class, NaN for a class absent from ground
        truth and prediction.
    """
    from PIL import Image

    from mmseg_zs3.apis import inference_model
    from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
    classes = list(ZS3ShapesDataset.METAINFO['classes'])
    to_dataset = np.array(
        [classes.index(c) for c in model.dataset_meta['classes']])
    names = sorted(os.listdir(osp.join(data_root, 'img_dir', split)))[:limit]
    n = len(classes)
    hist = np.zeros((n, n), dtype=np.int64)
    for i in range(0, len(names), batch_size):
        chunk = names[i:i + batch_size]
        results = inference_model(
            model, [osp.join(data_root, 'img_dir', split, c) for c in chunk])
        for name, result in zip(chunk, results):
            pred = to_dataset[result.pred_sem_seg.data[0].cpu().numpy()]
            gt = np.asarray(
                Image.open(osp.join(data_root, 'ann_dir', split, name)))
            valid = gt != 255
            hist += np.bincount(
                gt[valid].astype(np.int64) * n + pred[valid],
                minlength=n * n).reshape(n, n)
    inter = np.diag(hist)
    union = hist.sum(0) + hist.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = 100.0 * inter / union
    return {c: float(v) for c, v in zip(classes, iou)}


def compare(before: Dict[str, float], after: Dict[str, float],
            held_out: Sequence[str]) -> dict:
    """Mean and largest IoU drop of the classes other than ``held_out``."""
    drops = {
        c: before[c] - after[c]
        for c in before if c not in held_out and np.isfinite(before[c])
    }
    worst = max(drops, key=drops.get)
    return dict(
        mean_drop=float(np.mean(list(drops.values()))),
        max_drop=float(drops[worst]),
        max_drop_class=worst)


# ---------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--demo-dir',
        default='work_dirs/demo',
        help='the work dir of make demo (seen_only/, zs3net/)')
    parser.add_argument('--data-root', default='data/zs3_shapes')
    parser.add_argument(
        '--held-out',
        default='yellow cross',
        help='an unseen class of the demo split')
    parser.add_argument(
        '--stage1', help='default: DEMO_DIR/seen_only/iter_1800.pth')
    parser.add_argument(
        '--full',
        help="the full ZS3Net stage 2; 'train': train it here from --stage1 "
        '(the demo schedule); default: DEMO_DIR/zs3net/epoch_10.pth')
    parser.add_argument(
        '--stage2-epochs',
        type=int,
        default=10,
        help='epochs of the stage 2 runs trained here')
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out-json', help='also write the results here')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mmengine.runner import Runner

    import mmseg_zs3  # noqa: F401
    from mmseg_zs3.apis import init_model
    from mmseg_zs3.apis.add_classes import add_classes_to_checkpoint
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    if args.threads:
        torch.set_num_threads(args.threads)
    stage1 = args.stage1 or osp.join(args.demo_dir, 'seen_only',
                                     'iter_1800.pth')
    full = args.full or osp.join(args.demo_dir, 'zs3net', 'epoch_10.pth')
    for path in (stage1, full):
        if path != 'train' and not osp.isfile(path):
            sys.exit(f'{path} not found: run `make demo` first')
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_add_classes_')
    held = [args.held_out]
    rows: List[dict] = []

    def train_stage2(held_out, name):
        view = osp.join(work, f'data_{name}')
        keep, _ = held_out_data(args.data_root, view, held_out)
        emb = osp.join(work, f'emb_{name}.npz')
        build_class_embeddings(
            keep, load_packaged_glove(), normalize='l2').save(emb)
        s1 = held_out_stage1(stage1, osp.join(work, f'stage1_{name}.pth'),
                             held_out)
        cfg = held_out_stage2_config(args.data_root, view,
                                     osp.join(work, name), s1, held_out, emb)
        cfg.log_level = 'WARNING'
        epochs = args.stage2_epochs
        cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
        for scheduler in cfg.param_scheduler:
            scheduler.end = epochs + 1
        cfg.default_hooks.checkpoint.interval = epochs
        t0, c0 = time.perf_counter(), time.process_time()
        Runner.from_cfg(cfg).train()
        seconds = (time.perf_counter() - t0, time.process_time() - c0)
        config = osp.join(work, f'{name}.py')
        cfg.dump(config)
        return config, osp.join(work, name, f'epoch_{epochs}.pth'), seconds

    if full == 'train':
        full_config, full, _ = train_stage2([], 'full')
    else:
        full_config = STAGE2_CONFIG
    full_model = init_model(full_config, full, device='cpu')
    iou_full = per_class_iou(full_model, args.data_root)
    rows.append(
        dict(
            model='full ZS3Net (class unseen in stage 2)',
            iou=iou_full[args.held_out]))

    cfg_path, held_ckpt, (stage2_seconds,
                          stage2_cpu) = train_stage2(held, 'held_out')
    before = per_class_iou(
        init_model(cfg_path, held_ckpt, 'cpu'), args.data_root)
    rows.append(
        dict(
            model='held out (16 classes)',
            iou=before[args.held_out],
            seconds=stage2_seconds,
            cpu_seconds=stage2_cpu))

    # (seen source, rows retrained, new-class weight; None: unseen_weight)
    variants = [(s, r, None) for s in ('generated', 'real')
                for r in ('new', 'all')]
    variants += [(s, 'new', w) for s in ('generated', 'real') for w in (5, 1)]
    for seen_source, retrain, weight in variants:
        out = osp.join(work, f'added_{seen_source}_{retrain}_{weight}.pth')
        res = add_classes_to_checkpoint(
            held_ckpt,
            held,
            out,
            seen_source=seen_source,
            retrain=retrain,
            new_class_weight=weight)
        after = per_class_iou(
            init_model(res['config'], out, 'cpu'), args.data_root)
        rows.append(
            dict(
                model=f'added: seen {seen_source}, retrain {retrain}, '
                f'weight {weight or "unseen_weight"}',
                iou=after[args.held_out],
                seconds=res['seconds'],
                cpu_seconds=res['cpu_seconds'],
                **compare(before, after, held)))
    print(f'held-out class {args.held_out!r}, validation images of '
          f'{args.data_root}; IoU in %, drops in IoU points of the 16 other '
          'classes from the held-out model')
    print('| model | IoU held-out class | mean drop others | max drop '
          '(class) | seconds (wall / CPU) |')
    print('|---|---|---|---|---|')
    for r in rows:
        drop = (f'{r["mean_drop"]:.2f} | {r["max_drop"]:.2f} '
                f'({r["max_drop_class"]})' if 'mean_drop' in r else '- | -')
        sec = f'{r["seconds"]:.1f}' if 'seconds' in r else '-'
        if 'cpu_seconds' in r:
            sec += f' / {r["cpu_seconds"]:.1f}'
        print(f'| {r["model"]} | {r["iou"]:.1f} | {drop} | {sec} |')
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(rows, f, indent=1)
    return dict(rows=rows, before=before)


if __name__ == '__main__':
    main()
