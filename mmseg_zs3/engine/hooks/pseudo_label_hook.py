"""ZS5Net's self-training: pseudo-label passes over the training images."""
import collections
import copy
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import (all_reduce, barrier, broadcast, get_dist_info,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import DATASETS, HOOKS
from torch.utils.data import DataLoader

from ...fileio import atomic_open, host_name
from ...splits import SplitSpec, ZeroShotSplit, build_split
from ...utils import pseudo_labels as pl
from ...utils.progress import Progress
from ..runner.zs3_feature_cache_train_loop import resume_from_work_dir
from .runner_state import is_training, unwrapped_model

_GEN_PREFIX = 'pass-'
_MAX_PENDING = 64  # maps waiting for a writer thread


def _log(msg: str, level: str = 'INFO') -> None:
    if is_main_process():
        import logging
        print_log(msg, logger='current', level=getattr(logging, level))


def _walk_dicts(node, found: list, key: str, value=None) -> None:
    """Collect the dicts nested in ``node`` that have ``key`` (equal to
    ``value`` when given)."""
    if isinstance(node, dict):
        if key in node and (value is None or node[key] == value):
            found.append(node)
        for child in node.values():
            _walk_dicts(child, found, key, value)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _walk_dicts(child, found, key, value)


def pseudo_label_dirs(node) -> List[str]:
    """The ``pseudo_label_dir`` of every ``LoadPseudoLabels`` in a config."""
    found: list = []
    _walk_dicts(node, found, 'type', 'LoadPseudoLabels')
    return [str(t.get('pseudo_label_dir')) for t in found]


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state (parameters and buffers)."""
    h = hashlib.sha256()
    for name, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            continue
        value = value.detach().cpu().contiguous()
        h.update(f'{name}:{value.dtype}:{tuple(value.shape)};'.encode())
        h.update(value.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """ZS5Net's pseudo-labels (Bucher et al., "Zero-Shot Semantic
    Segmentation", NeurIPS 2019, section 3.3): label the unlabeled pixels of
    the training images with the model's confident unseen-class predictions.

    At each pass the current model predicts every training image with the
    settings of validation (``model.val_step``: its ``test_cfg``, whole or
    slide, and the classifier's calibration), through a test pipeline (the
    validation dataloader's, by default) in which the unseen classes of the
    labels are mapped to ignore right after ``LoadAnnotations``
    (``MapUnseenToIgnore``): no unseen ground truth reaches the hook, and
    every image is labeled (none is chosen by its ground truth). A pixel whose
    prediction is an unseen class and whose label is ignore is a candidate;
    of each unseen class only the top ``percent`` most confident candidates
    are kept, ranked over the whole pass (``ranking='class'``, one threshold
    per class from fixed-size score histograms: memory does not grow with the
    number of images) or within each image (``ranking='image'``, the
    official ``top_by_image`` maps). Seen labels are never replaced:
    :class:`~mmseg_zs3.datasets.transforms.LoadPseudoLabels` fills only
    ignored pixels. See :mod:`mmseg_zs3.utils.pseudo_labels` for the files.

    .. code:: text

     before_train_epoch / before_train_iter (a pass is due):
       run_pass(): key -> generation folder -> this rank's images
         -> model.val_step() -> candidate maps (atomic) + histograms
         -> all_reduce(histograms) -> thresholds -> manifest (atomic)

    **When.** ``before_train=True`` runs a pass before the first training
    step; ``interval=N`` one more before every N-th iteration (or epoch,
    with ``by_epoch=True``). A pass runs at the start of its iteration, so a
    checkpoint saved at the end of the previous one holds the same weights:
    a run resumed from it repeats the pass with the same weights.

    **Files.** Each pass writes into its own folder
    ``<pseudo_label_dir>/pass-<iter|epoch><step>-<key>``, one map per image,
    each written atomically; when every rank is done, rank 0 writes
    ``<pseudo_label_dir>/pseudo_labels.json`` (atomically), naming the
    folder, the split, the class list and the thresholds. Until then the
    previous manifest (and its folder) stays in use, so a crash mid-pass
    leaves nothing that training would read. The folder of the pass before
    the current one is kept (dataloader workers may still read it); older
    ones that this hook wrote in this process are removed.

    **Resume.** A pass's key is a digest of the model's weights, the step,
    the settings and the image list: an interrupted pass rerun with the same
    key keeps the maps already written (they are complete, being atomic) and
    reads their scores back into the histograms, then labels the rest. A
    complete pass with the same key is reused as it is.

    With ``--resume``, the run continues from the latest checkpoint of its
    work dir, not from ``load_from`` (the network it started from; see
    :func:`~mmseg_zs3.engine.runner.resume_from_work_dir`), and uses the
    folder's pass when its settings match (otherwise it labels again).

    **DDP.** Rank ``r`` of ``W`` labels images ``r, r + W, ...``; the score
    histograms are summed with ``all_reduce``; every rank waits at a barrier
    until the manifest is written. ``pseudo_label_dir`` must be on storage
    that every rank sees. Progress and log lines are rank 0's.

    **Order in the training pipeline.** The training pipeline's
    ``LoadPseudoLabels`` reads the newest complete pass. Batches that
    dataloader workers prefetched before a pass finished carry the previous
    pass's pseudo-labels; before the first pass, workers wait for the
    manifest (an ``EpochBasedTrainLoop`` with ``by_epoch=True`` starts its
    workers after the pass, an ``IterBasedTrainLoop`` before it).

    Args:
        pseudo_label_dir (str, optional): Where the passes are written.
            Defaults to the ``pseudo_label_dir`` of the training pipeline's
            ``LoadPseudoLabels``, else ``<work_dir>/pseudo_labels``.
        percent (float): Share of each unseen class's candidates kept, in
            (0, 100]. Defaults to 25 (the paper's VOC value; 75 for
            Pascal-Context).
        ranking (str): ``'class'`` (over the whole pass) or ``'image'``
            (within each image). Defaults to 'class'.
        split (dict, optional): The seen/unseen split (see
            :func:`~mmseg_zs3.splits.build_split`). Defaults to the split of
            the model's ``ZeroShotDecodeHead``.
        before_train (bool): Run a pass before the first training step.
            Defaults to True.
        interval (int): Also run a pass every ``interval`` iterations (or
            epochs); 0 for none. Defaults to 0.
        by_epoch (bool): ``interval`` counts epochs and passes run before an
            epoch. Defaults to False.
        dataset (dict, optional): Config of the images to label. Defaults to
            the training dataloader's dataset. A ``SeenOnlyDataset`` with
            ``policy='drop_image'`` is refused: it chooses images by their
            unseen ground truth.
        pipeline (list[dict], optional): The pipeline the images are read
            with; it replaces every ``pipeline`` of ``dataset``. Defaults to
            the validation dataloader's (validation's inference settings).
        batch_size (int, optional): Images per forward pass. Defaults to
            the validation dataloader's batch size, else 1.
        num_workers (int): Dataloader workers of the pass. Defaults to 0.

    Raises:
        ValueError: ``percent`` outside (0, 100], an unknown ``ranking``, a
            negative ``interval``, nothing scheduled; and, before training
            starts, a split without unseen classes, a dataset that chooses
            images by ground truth, a pipeline without ``LoadAnnotations``,
            two images with the same file stem, or a training pipeline whose
            ``LoadPseudoLabels`` reads another folder.
        OSError: ``pseudo_label_dir`` cannot be written (before training).
    """
    priority = 'NORMAL'

    def __init__(self,
                 pseudo_label_dir: Optional[str] = None,
                 percent: float = 25.0,
                 ranking: str = 'class',
                 split: Optional[SplitSpec] = None,
                 before_train: bool = True,
                 interval: int = 0,
                 by_epoch: bool = False,
                 dataset: Optional[dict] = None,
                 pipeline: Optional[List[dict]] = None,
                 batch_size: Optional[int] = None,
                 num_workers: int = 0) -> None:
        self.percent = pl.check_percent(percent, 'PseudoLabelHook')
        self.ranking = pl.check_ranking(ranking, 'PseudoLabelHook')
        if isinstance(interval, bool) or not isinstance(interval, int) or \
                interval < 0:
            raise ValueError(f'PseudoLabelHook: interval={interval!r}; '
                             'expected an integer >= 0 (0: no periodic pass)')
        if not before_train and not interval:
            raise ValueError('PseudoLabelHook: before_train=False and '
                             'interval=0 schedule no pass; set either')
        if batch_size is not None and (not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f'PseudoLabelHook: batch_size={batch_size!r}; '
                             'expected a positive integer')
        self.pseudo_label_dir = pseudo_label_dir
        self.split_spec = split
        self.before_train_pass = bool(before_train)
        self.interval = interval
        self.by_epoch = bool(by_epoch)
        self.dataset_cfg = dataset
        self.pipeline_cfg = pipeline
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.split: Optional[ZeroShotSplit] = None
        self.dataset = None
        self._written: List[str] = []  # generation folders of this process
        self.last_pass: Optional[dict] = None  # summary of the latest pass

    # ------------------------------------------------------------------
    # set-up: every check before any work
    def before_run(self, runner) -> None:
        """Resolve the folder, the split and the images; check them all.

        Raises:
            ValueError, OSError: See the class docstring.
        """
        if not is_training(runner):
            return  # tools/test.py with a ZS5Net config: nothing to label
        # `load_from` is the network self-training starts from (ZS3Net):
        # --resume continues from this run's own latest checkpoint
        resume_from_work_dir(runner)
        self.out_dir = self._resolve_dir(runner)
        model = unwrapped_model(runner)
        self.ignore_index = int(
            getattr(getattr(model, 'decode_head', None), 'ignore_index', 255))
        # the class list, to resolve the split (the labels are not read)
        classes = tuple(
            DATASETS.build(self._dataset_config(runner,
                                                None)).metainfo['classes'])
        spec = self.split_spec
        if spec is None:
            spec = getattr(getattr(model, 'decode_head', None), 'split', None)
        if spec is None:
            raise ValueError(
                'PseudoLabelHook: no split: set split=dict(unseen=[...]) (or '
                "a named split) on the hook, or use a model whose "
                "ZeroShotDecodeHead has one. ZS5Net labels unseen classes; "
                'a config without them has nothing to pseudo-label.')
        self.split = build_split(spec, classes)
        if not self.split.unseen_indices:
            raise ValueError(
                f'PseudoLabelHook: split {self.split.name!r} has no unseen '
                'class: there is nothing to pseudo-label (pseudo-labels fill '
                'only unseen-class predictions).')
        too_big = [i for i in self.split.unseen_indices if i >= pl.NO_LABEL]
        if too_big:
            raise ValueError(
                f'PseudoLabelHook: unseen class indices {too_big} do not fit '
                'the 8-bit maps (at most 254)')
        self._check_writable(self.out_dir)
        cfg = self._dataset_config(runner, self.split.unseen_indices)
        self.dataset = DATASETS.build(cfg)
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self.names = [
            pl.map_name(self.dataset.get_data_info(i)['img_path'])
            for i in range(len(self.dataset))
        ]
        if len(set(self.names)) != len(self.names):
            seen: Dict[str, int] = {}
            for i, name in enumerate(self.names):
                if name in seen:
                    a = self.dataset.get_data_info(seen[name])['img_path']
                    b = self.dataset.get_data_info(i)['img_path']
                    raise ValueError(
                        f'PseudoLabelHook: images {a} and {b} have the same '
                        f'file stem, so their maps would share the name '
                        f'{name!r}; give the images distinct names')
                seen[name] = i
        if self.batch_size is None:
            val = runner.cfg.get('val_dataloader') or {}
            self.batch_size = int(val.get('batch_size') or 1)
        self.settings = dict(
            format=pl.MANIFEST_FORMAT,
            percent=self.percent,
            ranking=self.ranking,
            split=dict(
                name=self.split.name, unseen=list(self.split.unseen_names)),
            classes=list(classes),
            ignore_index=self.ignore_index,
            test_cfg=_plain(getattr(model, 'test_cfg', None)),
            pipeline=_plain(cfg),
            images=pl.digest(self.names))
        self.settings_digest = pl.digest(self.settings)

    def _resolve_dir(self, runner) -> str:
        in_pipeline = sorted(
            set(
                osp.abspath(d) for d in pseudo_label_dirs(
                    runner.cfg.get('train_dataloader'))))
        if self.pseudo_label_dir is None:
            if len(in_pipeline) == 1:
                return in_pipeline[0]
            return osp.abspath(osp.join(runner.work_dir, 'pseudo_labels'))
        out = osp.abspath(self.pseudo_label_dir)
        other = [d for d in in_pipeline if d != out]
        if other:
            raise ValueError(
                f'PseudoLabelHook writes {out}, but the training pipeline\'s '
                f'LoadPseudoLabels reads {other}: training would never see '
                'the pseudo-labels. Give both the same pseudo_label_dir.')
        return out

    @staticmethod
    def _check_writable(folder: str) -> None:
        try:
            os.makedirs(folder, exist_ok=True)
            # one name per process: the ranks of a DDP run probe at once
            probe = osp.join(folder,
                             f'.write_probe-{host_name()}-{os.getpid()}')
            with atomic_open(probe, 'w') as f:
                f.write('')
            os.remove(probe)
        except OSError as e:
            raise OSError(
                e.errno, f'PseudoLabelHook: cannot write pseudo-labels to '
                f'{folder}: {e.strerror or e}. Choose a writable '
                'pseudo_label_dir.') from None

    def _dataset_config(self, runner, unseen) -> dict:
        if self.dataset_cfg is not None:
            cfg = copy.deepcopy(self.dataset_cfg)
        else:
            cfg = copy.deepcopy(runner.cfg.train_dataloader.dataset)
        cfg = _plain(cfg)
        found: list = []
        _walk_dicts(cfg, found, 'type', 'SeenOnlyDataset')
        for wrapper in found:
            if wrapper.get('policy', 'drop_image') == 'drop_image':
                raise ValueError(
                    "PseudoLabelHook: the images to label are a "
                    "SeenOnlyDataset with policy='drop_image', which chooses "
                    'images by their unseen ground truth (and drops exactly '
                    "those with unseen classes). Use policy='ignore': all "
                    'images, unseen pixels unlabeled.')
        pipeline = self.pipeline_cfg
        if unseen is None:  # for the class list only: nothing is loaded
            pipeline = [dict(type='LoadAnnotations')]
        elif pipeline is None:
            val = runner.cfg.get('val_dataloader')
            pipes: list = []
            _walk_dicts(val, pipes, 'pipeline')
            if not pipes:
                raise ValueError(
                    'PseudoLabelHook: no pipeline to read the training '
                    'images with: set pipeline= on the hook (the test '
                    'pipeline), or give the config a val_dataloader')
            pipeline = pipes[-1]['pipeline']
        if unseen is not None:
            pipeline = self._safe_pipeline(_plain(pipeline), unseen)
        holders: list = []
        _walk_dicts(cfg, holders, 'pipeline')
        if not holders:
            raise ValueError('PseudoLabelHook: the dataset config has no '
                             f'pipeline: {cfg}')
        for holder in holders:
            holder['pipeline'] = copy.deepcopy(pipeline)
        return cfg

    def _safe_pipeline(self, pipeline: List[dict], unseen) -> List[dict]:
        """``pipeline`` without pseudo-labels, with the ``unseen`` labels
        mapped to ignore right after ``LoadAnnotations``."""
        out = []
        for t in pipeline:
            if t.get('type') == 'LoadPseudoLabels':
                continue
            if t.get('type') == 'MapUnseenToIgnore':
                continue  # inserted below, for this split
            out.append(t)
            if t.get('type') == 'LoadAnnotations':
                out.append(
                    dict(
                        type='MapUnseenToIgnore',
                        unseen_indices=list(unseen),
                        ignore_index=self.ignore_index))
        if not any(t.get('type') == 'LoadAnnotations' for t in out):
            raise ValueError(
                'PseudoLabelHook: the pipeline has no LoadAnnotations; the '
                'pass needs the labels to know which pixels are unlabeled '
                f'(got {[t.get("type") for t in pipeline]})')
        return out

    # ------------------------------------------------------------------
    # schedule
    def _due(self, step: int) -> bool:
        if step == 0:
            return self.before_train_pass
        return bool(self.interval) and step % self.interval == 0

    def _last_due(self, step: int) -> Optional[int]:
        """The latest step <= ``step`` at which a pass is due."""
        if self.interval:
            last = step - step % self.interval
            if last > 0 or self.before_train_pass:
                return last
            return None
        return 0 if self.before_train_pass else None

    def before_train(self, runner) -> None:
        """On a resumed run between passes, check the folder holds the pass
        this run would have made; make one now if not."""
        step = runner.epoch if self.by_epoch else runner.iter
        if step == 0 or self._due(step):
            return  # the pass runs at the start of this step
        manifest = pl.read_manifest(self.out_dir)
        if manifest is not None and manifest.get(
                'settings') == self.settings_digest:
            _log(f'PseudoLabelHook: resumed at {self._unit()} {step}; using '
                 f'the pass {manifest["folder"]} of {self.out_dir}')
            return
        _log(
            f'PseudoLabelHook: resumed at {self._unit()} {step}, but '
            f'{self.out_dir} holds no complete pass with these settings; '
            'labeling now with the resumed weights', 'WARNING')
        self.run_pass(runner, step)

    def before_train_epoch(self, runner) -> None:
        """Run a pass before a due epoch (``by_epoch=True``)."""
        if self.by_epoch and self._due(runner.epoch):
            self.run_pass(runner, runner.epoch)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """Run a pass before a due iteration (``by_epoch=False``)."""
        if not self.by_epoch and self._due(runner.iter):
            self.run_pass(runner, runner.iter)

    def _unit(self) -> str:
        return 'epoch' if self.by_epoch else 'iter'

    # ------------------------------------------------------------------
    # the pass
    def run_pass(self, runner, step: int) -> dict:
        """Label every training image with the current model.

        Args:
            runner (Runner): The runner (its model, on every rank).
            step (int): The iteration (or epoch) the pass belongs to.

        Returns:
            dict: The manifest of the pass.

        Raises:
            RuntimeError: An unseen label reached the pass, or a map's size
                differs from its image.
        """
        start = time.perf_counter()
        model = unwrapped_model(runner)
        if get_dist_info()[1] > 1:
            # DDP keeps each rank's BN statistics (broadcast_buffers=False);
            # the pass predicts with rank 0's, which its checkpoints hold, so
            # that the maps do not depend on the number of processes
            for buf in model.buffers():
                broadcast(buf, 0)
        key = dict(
            settings=self.settings_digest,
            weights=weights_digest(model),
            step=[self._unit(), step])
        key_digest = pl.digest(key)
        folder = f'{_GEN_PREFIX}{self._unit()}{step:06d}-{key_digest[:12]}'
        gen_dir = osp.join(self.out_dir, folder)
        manifest = pl.read_manifest(self.out_dir)
        if manifest is not None and manifest.get('folder') == folder and \
                manifest.get('key') == key_digest:
            _log(f'PseudoLabelHook: {self.out_dir} already holds this pass '
                 f'({folder}); reusing it')
            self.last_pass = dict(manifest, seconds=0.0, reused=True)
            return manifest
        if is_main_process():
            os.makedirs(gen_dir, exist_ok=True)
            state = osp.join(gen_dir, 'pass.json')
            if not osp.isfile(state):
                with atomic_open(state, 'w', encoding='utf-8') as f:
                    json.dump(
                        dict(key, settings_full=self.settings), f, indent=1)
        barrier()
        if not osp.isdir(gen_dir):
            raise RuntimeError(
                f'PseudoLabelHook: rank {get_dist_info()[0]} does not see '
                f'{gen_dir}, made by rank 0: pseudo_label_dir must be on '
                'storage that every process sees')
        unseen = list(self.split.unseen_indices)
        hist = np.zeros((len(unseen), pl.SCORE_LEVELS + 1), dtype=np.int64)
        rank, world_size = get_dist_info()
        mine = list(range(rank, len(self.dataset), world_size))
        done, todo = [], []
        for i in mine:  # an interrupted pass: its maps are complete
            cand = self._written_map(osp.join(gen_dir, self.names[i]))
            if cand is None:
                todo.append(i)
            else:
                pl.add_to_histograms(hist, cand, unseen)
                done.append(i)
        num_done = all_gather_sum(len(done))
        if num_done:
            _log(f'PseudoLabelHook: resuming {folder}: {num_done} maps of '
                 'an interrupted pass kept')
        self._label(model, todo, gen_dir, hist, unseen)
        counts = torch.from_numpy(hist)
        if world_size > 1:
            all_reduce(counts)  # sums the histograms of the ranks
        hist = counts.numpy()
        if self.ranking == 'class':
            thresholds = [
                pl.threshold_of_histogram(h, self.percent) for h in hist
            ]
        else:  # the maps hold only each image's kept candidates
            thresholds = [0] * len(unseen)
        names = [self.split.classes[c] for c in unseen]
        manifest = dict(
            format=pl.MANIFEST_FORMAT,
            folder=folder,
            key=key_digest,
            settings=self.settings_digest,
            step=[self._unit(), step],
            percent=self.percent,
            ranking=self.ranking,
            split=self.settings['split'],
            classes=self.settings['classes'],
            ignore_index=self.ignore_index,
            num_images=len(self.dataset),
            score_levels=pl.SCORE_LEVELS,
            thresholds=dict(zip(names, thresholds)),
            candidates={
                n: int(h.sum())
                for n, h in zip(names, hist)
            },
            kept={
                n: int(h[min(t, pl.SCORE_LEVELS + 1):].sum())
                for n, h, t in zip(names, hist, thresholds)
            })
        # the maps were not synced one by one (~10 ms each): once now, before
        # the manifest says they are complete
        os.sync()
        barrier()  # every map is written
        if is_main_process():
            with atomic_open(
                    osp.join(self.out_dir, pl.MANIFEST_NAME),
                    'w',
                    encoding='utf-8') as f:
                json.dump(manifest, f, indent=1)
            self._remove_old_passes(folder)
        barrier()
        seconds = time.perf_counter() - start
        self.last_pass = dict(manifest, seconds=seconds, reused=False)
        _log('PseudoLabelHook: ' + self._summary(manifest) +
             f' ({len(self.dataset)} images in {seconds:.1f} s, maps in '
             f'{gen_dir})')
        return manifest

    def _label(self, model, todo: List[int], gen_dir: str, hist: np.ndarray,
               unseen: List[int]) -> None:
        """Predict the images ``todo``, write their maps, count scores."""
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=todo,
            num_workers=self.num_workers,
            collate_fn=pseudo_collate)
        bar = Progress(len(loader), 'PseudoLabelHook: image batches') \
            if is_main_process() and len(loader) else None
        was_training = model.training
        model.eval()
        devices = [torch.cuda.current_device()] if (
            torch.cuda.is_available() and torch.cuda.is_initialized()) else []
        # maps are encoded and written by a thread (PNG encoding and file
        # system calls release the GIL) while the model predicts the next
        # batch; at most _MAX_PENDING maps wait in memory. One thread only:
        # atomic_open reads the process umask by setting it, which two
        # threads at once could leave at 0
        pool = ThreadPoolExecutor(max_workers=1)
        pending: collections.deque = collections.deque()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                pos = 0
                for data_batch in loader:
                    outputs = model.val_step(data_batch)
                    for sample in outputs:
                        name = self.names[todo[pos]]
                        pos += 1
                        cand = self._candidates(sample, unseen)
                        if self.ranking == 'image':
                            cand = pl.keep_top_by_image(
                                cand, unseen, self.percent)
                        pl.add_to_histograms(hist, cand, unseen)
                        pending.append(
                            pool.submit(_write_map, osp.join(gen_dir, name),
                                        cand))
                        while len(pending) > _MAX_PENDING:
                            pending.popleft().result()
                    if bar is not None:
                        bar.update()
            while pending:
                pending.popleft().result()  # raises a failed write's error
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            model.train(was_training)

    def _written_map(self, path: str) -> Optional[np.ndarray]:
        """The map an interrupted pass wrote at ``path``, or None
        to label it (none written, or unreadable after a power loss: maps
        are synced only at the end of a pass)."""
        if not osp.isfile(path):
            return None
        try:
            return pl.read_map(path)
        except (OSError, ValueError):
            return None

    def _candidates(self, sample, unseen: List[int]) -> np.ndarray:
        logits = sample.seg_logits.data
        label = sample.gt_sem_seg.data[0]
        path = sample.metainfo.get('img_path')
        if tuple(label.shape) != tuple(logits.shape[1:]):
            raise RuntimeError(
                f'PseudoLabelHook: the prediction of {path} is '
                f'{tuple(logits.shape[1:])} but its label '
                f'{tuple(label.shape)}; the pipeline must load the label '
                'at the size predictions are resized to (ori_shape)')
        if logits.shape[0] > 1:
            conf, pred = logits.softmax(0).max(0)
        else:
            raise RuntimeError('PseudoLabelHook needs one score per class '
                               f'(got {logits.shape[0]} channel)')
        label = label.cpu().numpy()
        if np.isin(label, unseen).any():
            raise RuntimeError(
                f'PseudoLabelHook: the label of {path} holds unseen classes '
                'after MapUnseenToIgnore; the pipeline must not change labels '
                'after LoadAnnotations')
        return pl.candidates(pred.cpu().numpy(),
                             conf.float().cpu().numpy(), label, unseen,
                             self.ignore_index)

    def _summary(self, manifest: dict) -> str:
        parts = []
        for name, n in manifest['candidates'].items():
            t = manifest['thresholds'][name]
            kept = manifest['kept'][name]
            where = '' if self.ranking == 'image' or t > pl.SCORE_LEVELS \
                else f', score >= {t / pl.SCORE_LEVELS:.3f}'
            parts.append(f'{name}: {kept}/{n} px{where}')
        how = 'per class over the pass' if self.ranking == 'class' \
            else 'per image'
        return (f'kept the top {self.percent:g}% ({how}) of the unlabeled '
                'pixels predicted as each unseen class: ' + '; '.join(parts))

    def _remove_old_passes(self, current: str) -> None:
        """Remove this process's pass folders older than the previous one
        (the previous one may still be read by dataloader workers)."""
        if current not in self._written:
            self._written.append(current)
        while len(self._written) > 2:
            old = self._written.pop(0)
            path = osp.join(self.out_dir, old)
            if osp.isdir(path) and old.startswith(_GEN_PREFIX):
                shutil.rmtree(path, ignore_errors=True)


def _write_map(path: str, cand: np.ndarray) -> None:
    """Write a candidate map atomically (synced later, once per pass)."""
    with atomic_open(path, sync=False) as f:
        f.write(pl.encode_png(cand))


def all_gather_sum(value: int) -> int:
    """Sum of an integer over the ranks."""
    _, world_size = get_dist_info()
    if world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64)
    all_reduce(t)
    return int(t.item())


def _plain(obj):
    """``obj`` (a Config/ConfigDict tree) as plain dicts and lists."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
