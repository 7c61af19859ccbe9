"""The CPU demo: the whole ZS3Net pipeline on generated shapes."""
import copy
import json
import numbers
import os
import os.path as osp
import time
from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import Runner

from mmseg_zs3.datasets import generate_shapes_dataset
from mmseg_zs3.fileio import atomic_open
from mmseg_zs3.utils.config_package import installed_config_dir
from mmseg_zs3.utils.jobs import cores_share
from mmseg_zs3.utils.jobs import plan_jobs as _plan_jobs
from mmseg_zs3.utils.jobs import set_everywhere

from .checks import check_work_dir

# the configs installed with the package (a link to configs/ in a checkout)
CONFIG_DIR = osp.join(installed_config_dir(), 'zs3')
CONFIGS = dict(
    seen_only='seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py',
    devise='devise_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py',
    zs3net='zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py',
    zs5net='zs5net_unet-s2-fcn_1xb16-8e_shapes-u4-64x64.py',
    oracle='oracle_unet-s2-fcn_1xb16-1800it_shapes-64x64.py')
ROW_TITLES = dict(
    seen_only='seen-only (stage 1)',
    devise='DeViSE baseline',
    zs3net='ZS3Net',
    zs3net_calibrated='ZS3Net calibrated',
    zs5net='ZS5Net (self-training)',
    oracle='oracle (all classes)')
METRIC_KEYS = ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc')
EMBEDDING_NAME = 'class_embeddings_glove-6B-50d.npz'
# the U-Net of configs/zs3/_base_/models/unet-s2_fcn-tiny.py: a stride-2
# first stage and 3 downsamplings
IMAGE_SIZE_MULTIPLE = 16
# A row that starts from another row's checkpoint: that row, and the
# checkpoint's name in its work dir from the stage-1 iterations and the
# stage-2 epochs.
STARTS_FROM = dict(
    zs3net=('seen_only', lambda iters, epochs: f'iter_{iters}.pth'),
    zs5net=('zs3net', lambda iters, epochs: f'epoch_{epochs}.pth'))
# relative training cost of a row (a stage-1 row is 1.0), to balance the
# processes of ``jobs``
ROW_COST = dict(zs3net=0.25, zs5net=0.5)
# the demo's parameters that meta.json of the shapes dataset records
DATA_PARAMS = ('num_train', 'num_val', 'num_calib', 'image_size', 'seed')


def _flag(name: str) -> str:
    return '--' + name.replace('_', '-')


def image_size_arg(text: str) -> int:
    """argparse type of ``--image-size``: a positive multiple of
    ``IMAGE_SIZE_MULTIPLE``.

    Args:
        text (str): The command-line value.

    Returns:
        int: The image size.

    Raises:
        argparse.ArgumentTypeError: If it is not such a number.
    """
    import argparse
    try:
        size = int(text)
    except ValueError:
        size = None
    if size is None or size <= 0 or size % IMAGE_SIZE_MULTIPLE:
        raise argparse.ArgumentTypeError(
            f'invalid value {text!r}: the demo U-Net downsamples by '
            f'{IMAGE_SIZE_MULTIPLE}; expected a positive multiple of '
            f'{IMAGE_SIZE_MULTIPLE} (e.g. 64)')
    return size


def check_demo_args(work_dir: str,
                    data_root: str,
                    seed: int,
                    num_train: int,
                    num_val: int,
                    num_calib: int,
                    image_size: int,
                    stage1_iters: int,
                    stage2_epochs: int,
                    num_workers: int,
                    max_seen_drop: float,
                    rows: Sequence[str],
                    num_figure_images: int,
                    jobs: int = 1) -> None:
    """Check the arguments of :func:`run_demo` before any work is done.

    Each would otherwise fail minutes later (``stage2_epochs=0`` once stage
    1 has trained, ``num_workers=-1`` in torch's DataLoader, ``num_train=0``
    inside mmengine) or, worse, report an untrained model
    (``stage1_iters=0``).

    Raises:
        ValueError: Naming the argument (and its command-line flag), the
            value and what is expected.
        NotADirectoryError: If ``work_dir`` or ``data_root`` is a file.
        PermissionError: If either cannot be written.
        FileExistsError: If ``data_root`` holds a shapes dataset generated
            with other parameters, or files that are not one.
    """
    if (isinstance(image_size, bool)
            or not isinstance(image_size, numbers.Integral) or image_size <= 0
            or image_size % IMAGE_SIZE_MULTIPLE):
        raise ValueError(
            f'image_size={image_size}; the demo U-Net downsamples by '
            f'{IMAGE_SIZE_MULTIPLE}: expected a positive multiple of '
            f'{IMAGE_SIZE_MULTIPLE} (e.g. 64)')
    counts = dict(
        num_train=(num_train, 1, 'training images to generate'),
        num_val=(num_val, 1, 'validation images to generate'),
        num_calib=(num_calib, 1, 'calibration images to generate'),
        stage1_iters=(stage1_iters, 1, 'stage-1 training iterations'),
        stage2_epochs=(stage2_epochs, 1, 'stage-2 training epochs'),
        num_workers=(num_workers, 0, 'dataloader worker processes'),
        seed=(seed, 0, 'the random seed'),
        num_figure_images=(num_figure_images, 1,
                           'validation images in the figure'),
        jobs=(jobs, 1, 'processes that train rows side by side'))
    for name, (value, minimum, what) in counts.items():
        if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                or value < minimum):
            raise ValueError(
                f'{name}={value!r} ({_flag(name)}): expected an integer >= '
                f'{minimum} ({what})')
    if not (isinstance(max_seen_drop, numbers.Real)
            and 0 <= max_seen_drop < float('inf')):
        raise ValueError(f'max_seen_drop={max_seen_drop!r}: expected a '
                         'finite number >= 0 (mIoU points)')
    unknown = [r for r in rows if r not in CONFIGS]
    if unknown or not rows:
        raise ValueError(f'rows={list(rows)!r}: expected names from '
                         f'{list(CONFIGS)}')
    rows = list(rows)
    if len(set(rows)) != len(rows):
        raise ValueError(f'rows={rows!r}: a row is named twice')
    for row, (parent, _) in STARTS_FROM.items():
        if row in rows and parent not in rows[:rows.index(row)]:
            start = _start_checkpoint(row, work_dir, stage1_iters,
                                      stage2_epochs)
            if not osp.isfile(start):
                raise ValueError(
                    f'rows={rows!r}: {ROW_TITLES[row]} starts from the '
                    f'{ROW_TITLES[parent]} checkpoint {start!r}, which does '
                    f"not exist; put {parent!r} before {row!r}")
    check_work_dir(work_dir, '--work-dir')
    check_work_dir(data_root, '--data-root')
    _check_data_root(
        data_root,
        dict(
            num_train=num_train,
            num_val=num_val,
            num_calib=num_calib,
            image_size=image_size,
            seed=seed))


def _start_checkpoint(name: str, work_dir: str, stage1_iters: int,
                      stage2_epochs: int) -> str:
    """The checkpoint that row ``name`` starts from (``STARTS_FROM``)."""
    parent, filename = STARTS_FROM[name]
    return osp.join(work_dir, parent, filename(stage1_iters, stage2_epochs))


def _check_data_root(data_root: str, params: Dict[str, int]) -> None:
    """Refuse a ``data_root`` that the demo would not reuse as it is.

    The demo writes the shapes dataset there unless one with the same
    parameters exists, and never replaces another one (it holds the demo's
    class embeddings as well, and may hold the user's files).
    """
    if not osp.isdir(data_root) or not os.listdir(data_root):
        return
    meta = None
    try:
        with open(osp.join(data_root, 'meta.json'), encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        pass
    if not isinstance(meta, dict):
        raise FileExistsError(
            f'--data-root {data_root!r} holds files but no shapes dataset '
            '(no readable meta.json); the demo never writes into such a '
            'folder. Pass another --data-root.')
    differ = [
        f'{_flag(k)} {meta.get(k)!r} (this run: {v!r})'
        for k, v in params.items() if meta.get(k) != v
    ]
    if differ:
        raise FileExistsError(
            f'--data-root {data_root!r} holds a shapes dataset generated '
            f'with other parameters: {", ".join(differ)}. The demo does not '
            'replace it: rerun with those values, pass another --data-root, '
            'or remove that folder yourself if you no longer need it.')


class _Progress(Hook):
    """Prints one compact line every ``interval`` training iterations; in a
    process of :func:`run_demo`'s ``jobs``, also takes the cores of the
    processes that have ended (:func:`_share_cores`) every 10 iterations."""

    priority = 'LOW'

    def __init__(self, name: str, interval: int):
        self.name, self.interval = name, interval

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        it = runner.iter + 1
        total = runner.max_iters
        if _RUNNING is not None and it % 10 == 0:
            _share_cores()
        if it % self.interval == 0 or it == total:
            losses = ' '.join(f'{k}={float(torch.as_tensor(v).detach()):.3f}'
                              for k, v in (outputs or {}).items()
                              if k.startswith('loss'))
            print(f'  [{self.name}] iter {it}/{total} {losses}', flush=True)


def demo_config(name: str,
                work_dir: str,
                data_root: str,
                embedding_file: str,
                seed: int,
                stage1_iters: int,
                stage2_epochs: int,
                num_workers: int = 2,
                image_size: int = 64) -> Config:
    """The config of one demo row, pointed at the demo's data and work dir."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONFIGS[name]))
    set_everywhere(cfg.model.data_preprocessor, 'size',
                   (image_size, image_size))
    cfg.work_dir = osp.join(work_dir, name)
    cfg.experiment_name = f'demo_{name}'
    cfg.visualizer.name = f'demo_visualizer_{name}'
    cfg.log_level = 'ERROR'
    cfg.randomness = dict(seed=seed, deterministic=False)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        set_everywhere(loader, 'data_root', data_root)
        loader.num_workers = num_workers
        loader.persistent_workers = num_workers > 0
    set_everywhere(cfg.model, 'embedding_file', embedding_file)
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 10**6
    if name in STARTS_FROM:
        cfg.load_from = _start_checkpoint(name, work_dir, stage1_iters,
                                          stage2_epochs)
    if name == 'zs3net':
        # the schedule keeps its end relative to the training's (the config
        # ends PolyLR one epoch after training, so the last epoch trains)
        for s in cfg.param_scheduler:
            s.end += stage2_epochs - cfg.train_cfg.max_epochs
        cfg.train_cfg.max_epochs = stage2_epochs
        cfg.train_cfg.val_interval = stage2_epochs
        cfg.default_hooks.checkpoint.interval = stage2_epochs
    elif name == 'zs5net':
        # its own epochs (the config's); the pass labels the training images
        # in batches of the test loader's size, in the row's work dir
        set_everywhere(cfg.custom_hooks, 'pseudo_label_dir',
                       osp.join(cfg.work_dir, 'pseudo_labels'))
        set_everywhere(cfg.train_dataloader, 'pseudo_label_dir',
                       osp.join(cfg.work_dir, 'pseudo_labels'))
        for hook in cfg.custom_hooks:
            if hook.type == 'PseudoLabelHook':
                hook.setdefault('batch_size', cfg.test_dataloader.batch_size)
    else:
        old_iters = cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = stage1_iters
        cfg.train_cfg.val_interval = stage1_iters
        cfg.default_hooks.checkpoint.interval = stage1_iters
        # the schedule ends with the training; a warm-up longer than a tiny
        # run is cut to it
        schedulers = []
        for s in cfg.param_scheduler:
            if s.end == old_iters or s.end > stage1_iters:
                s.end = stage1_iters
            if s.get('begin', 0) < s.end:
                schedulers.append(s)
        cfg.param_scheduler = schedulers
    return cfg


def _calib_loader(cfg: Config) -> dict:
    loader = copy.deepcopy(cfg.test_dataloader)
    loader.dataset.data_prefix = dict(
        img_path='img_dir/calib', seg_map_path='ann_dir/calib')
    return loader


def _predict(model, dataset, indices: List[int]) -> List[np.ndarray]:
    batch = pseudo_collate([dataset[i] for i in indices])
    model.eval()
    with torch.no_grad():
        out = model.test_step(batch)
    return [o.pred_sem_seg.data[0].cpu().numpy() for o in out]


def _metrics(raw: Dict[str, float]) -> Dict[str, float]:
    out = {k: float(raw[k]) for k in METRIC_KEYS if k in raw}
    return out


def format_table(summary: Dict[str, dict]) -> str:
    """The summary as a markdown table."""
    lines = [
        '| model | mIoU seen | mIoU unseen | hIoU | pixel acc '
        '| train time (s) |', '|---|---|---|---|---|---|'
    ]
    for key, title in ROW_TITLES.items():
        if key not in summary:
            continue
        r = summary[key]
        lines.append(f'| {title} | {r["mIoU_seen"]:.1f} | '
                     f'{r["mIoU_unseen"]:.1f} | {r["hIoU"]:.1f} | '
                     f'{r["aAcc"]:.1f} | {r["train_seconds"]:.0f} |')
    return '\n'.join(lines)


def _write_atomic(path: str, text: str) -> None:
    with atomic_open(path, 'w') as f:
        f.write(text)


def _figure_indices(dataset, unseen: Sequence[int], num: int,
                    seed: int) -> List[int]:
    """Validation images for the figure: images showing an unseen class
    first (what the demo is about), the rest at random; fixed by ``seed``.
    Ground truth is read here for display only."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(dataset)).tolist()
    shows_unseen = {
        i:
        np.isin(
            cv2.imread(
                dataset.get_data_info(i)['seg_map_path'],
                cv2.IMREAD_UNCHANGED), unseen).any()
        for i in order
    }
    order.sort(key=lambda i: not shows_unseen[i])  # stable: random within
    return sorted(order[:num])


def _save_figures(
    work_dir: str,
    dataset,
    indices,
    preds: Dict[str, list],
    loss_history: Dict[str, tuple],
    unseen: Sequence[int] = ()) -> List[str]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    palette = np.asarray(dataset.metainfo['palette'], np.uint8)
    cols = ['image', 'ground truth'] + [ROW_TITLES[k] for k in preds]
    fig, axes = plt.subplots(
        len(indices),
        len(cols),
        figsize=(1.8 * len(cols), 1.9 * len(indices)),
        squeeze=False)
    for r, idx in enumerate(indices):
        info = dataset.get_data_info(idx)
        img = cv2.imread(info['img_path'])[..., ::-1]
        gt = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
        gt_rgb = palette[np.where(gt == 255, 0, gt)]
        panels = [img, gt_rgb] + [palette[p[r]] for p in preds.values()]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=7)
    # a legend of the palette: which colour is which class, unseen marked
    from matplotlib.patches import Patch
    classes = dataset.metainfo['classes']
    handles = [
        Patch(
            facecolor=palette[i] / 255.,
            label=classes[i] + (' (unseen)' if i in unseen else ''))
        for i in range(len(classes))
    ]
    fig.legend(
        handles=handles, loc='lower center', ncol=6, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    pred_png = osp.join(work_dir, 'predictions.png')
    fig.savefig(pred_png, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, (values, _) in loss_history.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name, lw=0.8)
    ax.set_xlabel('stage-2 iteration')
    ax.set_ylabel('loss')
    ax.set_title('ZS3Net stage 2: generator (MMD) and classifier (CE) losses')
    ax.legend()
    fig.tight_layout()
    loss_png = osp.join(work_dir, 'stage2_losses.png')
    fig.savefig(loss_png, dpi=110)
    plt.close(fig)
    return [pred_png, loss_png]


# Set in the processes of run_demo's ``jobs``: a shared count of the
# processes still training (``multiprocessing.Value``), or None.
_RUNNING = None


def _init_job(running) -> None:
    """Initializer of a :func:`run_demo` job process: the shared count of
    running processes, and (Linux) a SIGTERM when the parent process ends,
    however it ends, so that no training outlives the demo."""
    global _RUNNING
    _RUNNING = running
    # the configs' mp_start_method (mmseg's runtime: 'fork'), which mmengine
    # would otherwise force on this spawned process with a UserWarning
    import multiprocessing
    if 'fork' in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method('fork', force=True)
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: Ctrl-C still stops all
        pass


def _share_cores() -> None:
    """Set torch's threads to this process's share of the CPUs among the
    job processes still training (at least 1)."""
    with _RUNNING.get_lock():
        running = max(1, _RUNNING.value)
    threads = cores_share(running)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def plan_jobs(rows: Sequence[str], jobs: int) -> List[List[str]]:
    """Rows in at most ``jobs`` groups that can train side by side
    (:func:`mmseg_zs3.utils.jobs.plan_jobs`): the chain seen-only ->
    ZS3Net -> ZS5Net (``STARTS_FROM``) in one group, in that order; the
    other rows spread over the others.

    Args:
        rows (Sequence[str]): The rows, in training order.
        jobs (int): The most groups.

    Returns:
        list[list[str]]: Non-empty groups, each in ``rows``' order.
    """
    return _plan_jobs(rows, jobs, {
        row: parent
        for row, (parent, _) in STARTS_FROM.items()
    }, ROW_COST)


def _run_jobs(groups: List[List[str]], common: dict) -> list:
    """Train each group in its own process (spawned), side by side; each
    starts with its share of the CPUs and takes the cores of the groups
    that have ended. The first failure stops the other processes."""
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
    ctx = multiprocessing.get_context('spawn')
    running = ctx.Value('i', len(groups))
    threads = cores_share(len(groups))
    print(
        f'[demo] {len(groups)} processes side by side, {threads} torch '
        f'thread(s) each: ' + ' | '.join(', '.join(g) for g in groups),
        flush=True)
    pool = ProcessPoolExecutor(
        len(groups),
        mp_context=ctx,
        initializer=_init_job,
        initargs=(running, ))
    futures = []
    try:
        futures = [
            pool.submit(_train_job, g, threads=threads, **common)
            for g in groups
        ]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            raise failed[0].exception()
        return [f.result() for f in futures]
    finally:
        if any(not f.done() for f in futures):
            for proc in list(getattr(pool, '_processes', {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _train_job(rows: Sequence[str], **kwargs) -> tuple:
    """:func:`_train_rows` in a job process; its cores go to the others
    when it ends."""
    try:
        return _train_rows(rows, **kwargs)
    finally:
        with _RUNNING.get_lock():
            _RUNNING.value -= 1


def _train_rows(rows: Sequence[str],
                work_dir: str,
                data_root: str,
                embedding_file: str,
                seed: int,
                stage1_iters: int,
                stage2_epochs: int,
                num_workers: int,
                image_size: int,
                max_seen_drop: float,
                figure_indices: List[int],
                threads: int = 0) -> tuple:
    """Train and test ``rows`` one after another in this process.

    Returns:
        tuple: The rows' summaries, their predictions on the figure's
        images, and ZS3Net's stage-2 loss history.
    """
    if threads:
        torch.set_num_threads(threads)
    summary, preds, loss_history = {}, {}, {}
    val_dataset = None
    for name in rows:
        cfg = demo_config(name, work_dir, data_root, embedding_file, seed,
                          stage1_iters, stage2_epochs, num_workers, image_size)
        runner = Runner.from_cfg(cfg)
        # oneDNN's convolutions run ~20% faster on CPU with channels-last
        # weights (the activations follow them); the weights' values, and so
        # the checkpoints, are the same
        runner.model.to(memory_format=torch.channels_last)
        if 'max_epochs' in cfg.train_cfg:
            total = cfg.train_cfg.max_epochs * len(runner.train_dataloader)
        else:
            total = cfg.train_cfg.max_iters
        runner.register_hook(_Progress(name, max(1, total // 6)))
        print(f'[demo] training {ROW_TITLES[name]} '
              f'({CONFIGS[name]})',
              flush=True)
        t0 = time.perf_counter()
        runner.train()
        train_seconds = time.perf_counter() - t0
        metrics = _metrics(runner.test())
        summary[name] = dict(metrics, train_seconds=round(train_seconds, 1))
        print(
            f'[demo] {ROW_TITLES[name]}: ' +
            ', '.join(f'{k} {v:.1f}' for k, v in summary[name].items()),
            flush=True)
        if val_dataset is None:
            val_dataset = runner.test_dataloader.dataset
        preds[name] = _predict(runner.model, val_dataset, figure_indices)
        if name == 'zs3net':
            hub = runner.message_hub
            for key in ('train/loss_mmd', 'train/loss_cls'):
                if key in hub.log_scalars:
                    values, counts = hub.get_scalar(key).data
                    loss_history[key.split('/')[1]] = (values, counts)
            from .calibration import choose_calibration, collect_logits
            calib = Runner.build_dataloader(_calib_loader(cfg))
            scores, labels = collect_logits(runner.model, calib)
            choice = choose_calibration(scores, labels,
                                        runner.model.decode_head.seen_indices,
                                        max_seen_drop)
            runner.model.decode_head.calibration = choice['gamma']
            metrics = _metrics(runner.test())
            summary['zs3net_calibrated'] = dict(
                metrics,
                train_seconds=round(train_seconds, 1),
                calibration=round(choice['gamma'], 4))
            preds['zs3net_calibrated'] = _predict(runner.model, val_dataset,
                                                  figure_indices)
            print(
                f'[demo] calibration gamma={choice["gamma"]:.3f} (seen '
                f'mIoU on calib {choice["seen_mIoU_uncalibrated"]:.1f} -> '
                f'{choice["seen_mIoU_calibrated"]:.1f}); ZS3Net calibrated: ' +
                ', '.join(f'{k} {v:.1f}' for k, v in metrics.items()),
                flush=True)
        del runner
    return summary, preds, loss_history


def run_demo(work_dir: str = 'work_dirs/demo',
             data_root: str = 'data/zs3_shapes',
             seed: int = 0,
             num_train: int = 2400,
             num_val: int = 300,
             num_calib: int = 150,
             image_size: int = 64,
             stage1_iters: int = 1800,
             stage2_epochs: int = 10,
             num_workers: int = 2,
             max_seen_drop: float = 2.0,
             rows=('seen_only', 'devise', 'zs3net', 'zs5net', 'oracle'),
             num_figure_images: int = 4,
             jobs: int = 1) -> Dict[str, dict]:
    """Run the demo and write ``summary.json``, ``summary.md`` and figures.

    Generates the shapes data (reused when it exists with the same
    parameters), builds the class embeddings from the packaged GloVe vectors,
    trains every row through the configs ``configs/zs3/*_shapes-*.py``
    with mmengine's Runner, evaluates on ``val``, and chooses the calibration
    of ZS3Net on the held-out seen-only ``calib`` images. Every argument is
    checked first (:func:`check_demo_args`).

    Args:
        work_dir (str): Where the runs, summaries and figures go. Defaults
            to 'work_dirs/demo'.
        data_root (str): Where the shapes dataset is generated (or reused).
            Defaults to 'data/zs3_shapes'.
        seed (int): Seed of the data and of training. Defaults to 0.
        num_train (int): Training images. Defaults to 2400.
        num_val (int): Validation images. Defaults to 300.
        num_calib (int): Held-out seen-only images. Defaults to 150.
        image_size (int): Image side, a multiple of 16. Defaults to 64.
        stage1_iters (int): Iterations of the stage-1 rows. Defaults to 1800.
        stage2_epochs (int): Epochs of ZS3Net's stage 2. Defaults to 10.
        num_workers (int): Dataloader workers. Defaults to 2.
        max_seen_drop (float): Largest drop of seen mIoU (points) that the
            calibration may cost on ``calib``. Defaults to 2.0.
        rows (Sequence[str]): Rows to train, keys of ``CONFIGS``; 'zs3net'
            needs 'seen_only' before it and 'zs5net' needs 'zs3net' (or
            their checkpoints in ``work_dir``). Defaults to all five.
        num_figure_images (int): Validation images in the figure. Defaults
            to 4.
        jobs (int): Processes that train rows side by side (spawned; the
            chain seen-only -> ZS3Net -> ZS5Net in one, the other rows in
            the others, :func:`plan_jobs`), each with its share of the CPUs
            and the cores of those that have ended. 1: every row in this
            process, one after another, with torch's threads. Each row seeds
            itself: at one torch thread ``jobs=1`` gives exactly the results
            of ``jobs=2`` on 2 cores; another thread count rounds otherwise,
            which can change a demo row noticeably. Defaults to 1
            (``tools/demo.py``: 2, which on 2 cores trains the demo faster
            than one process with two threads).

    Returns:
        dict: One entry per row (``seen_only``, ``devise``, ``zs3net``,
        ``zs3net_calibrated``, ``zs5net``, ``oracle``), each with
        ``mIoU_seen``, ``mIoU_unseen``, ``hIoU``, ``aAcc`` (percent) and
        ``train_seconds``.

    Raises:
        ValueError: See :func:`check_demo_args`, which names the argument.
        FileExistsError: If ``data_root`` holds another dataset.
    """
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    from mmseg_zs3.splits import build_split
    check_demo_args(work_dir, data_root, seed, num_train, num_val, num_calib,
                    image_size, stage1_iters, stage2_epochs, num_workers,
                    max_seen_drop, rows, num_figure_images, jobs)
    start = time.perf_counter()
    print(
        f'[demo] data: {data_root} ({num_train} train / {num_val} val / '
        f'{num_calib} calib images, {image_size}px, seed {seed})',
        flush=True)
    generate_shapes_dataset(data_root, num_train, num_val, num_calib,
                            image_size, seed)
    os.makedirs(work_dir, exist_ok=True)
    embedding_file = osp.join(data_root, EMBEDDING_NAME)
    emb = build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2')
    emb.save(embedding_file)
    print(
        f'[demo] class embeddings: mean of GloVe-6B-50d word vectors -> '
        f'{embedding_file}',
        flush=True)

    cfg = demo_config(rows[0], work_dir, data_root, embedding_file, seed,
                      stage1_iters, stage2_epochs, num_workers, image_size)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    val_dataset = DATASETS.build(cfg.test_dataloader.dataset)
    split = build_split(cfg.zs3_split, val_dataset.metainfo['classes'])
    figure_indices = _figure_indices(val_dataset, split.unseen_indices,
                                     num_figure_images, seed)
    common = dict(
        work_dir=work_dir,
        data_root=data_root,
        embedding_file=embedding_file,
        seed=seed,
        stage1_iters=stage1_iters,
        stage2_epochs=stage2_epochs,
        num_workers=num_workers,
        image_size=image_size,
        max_seen_drop=max_seen_drop,
        figure_indices=figure_indices)
    groups = plan_jobs(rows, jobs)
    if len(groups) == 1:
        results = [_train_rows(groups[0], **common)]
    else:
        results = _run_jobs(groups, common)
    summary, preds, loss_history = {}, {}, {}
    for group_summary, group_preds, group_losses in results:
        summary.update(group_summary)
        preds.update(group_preds)
        loss_history.update(group_losses)

    ordered = {k: summary[k] for k in ROW_TITLES if k in summary}
    table = format_table(ordered)
    _write_atomic(
        osp.join(work_dir, 'summary.json'),
        json.dumps(ordered, indent=2) + '\n')
    _write_atomic(
        osp.join(work_dir, 'summary.md'),
        '# ZS3Net CPU demo (generated shapes, val split)\n\n' + table + '\n')
    order = [k for k in ROW_TITLES if k in preds]
    figures = _save_figures(work_dir, val_dataset, figure_indices,
                            {k: preds[k]
                             for k in order}, loss_history,
                            split.unseen_indices)
    print('\n' + table + '\n', flush=True)
    print(
        f'[demo] wrote {osp.join(work_dir, "summary.json")}, summary.md, '
        f'{", ".join(osp.basename(f) for f in figures)}; total '
        f'{time.perf_counter() - start:.0f} s',
        flush=True)
    return ordered
