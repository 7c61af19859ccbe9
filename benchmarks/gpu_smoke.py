"""GPU smoke test: ZS3Net stage 1 + stage 2 + test on generated data with
mmseg's ResNet-50 DeepLabV3+, checked against a CPU run, timed against the
stock mmseg model of the same architecture.

What it runs, on the compositional-shapes data generated at ``--size``
(512x512 by default; the 17 shapes classes, 4 unseen), with mmseg's model
config ``_base_/models/deeplabv3plus_r50-d8.py`` (ResNet-50-D8, SyncBN,
512-d decoder features; no auxiliary head, dropout off, no pretrained
weights) in the plugin's shapes configs
(``configs/zs3/seen-only_unet-s2-fcn_*`` and ``zs3net_unet-s2-fcn_*``, whose
U-Net is swapped for it):

1. **Agreement** (fp32; TF32 off; seed 0; SGD, whose steps are linear in
   the gradients, unlike Adam's early sign-like steps): a few stage-1
   training steps on the CPU and on the device from the same initialisation
   and batches: the losses must agree within ``LOSS_RTOL`` (relative); then,
   from the CPU-trained weights, the stage-2 frozen features
   (``extract_pixels``) and the stage-1 network's test scores
   (``seg_logits``) within ``FEATURE_RTOL`` and ``SCORE_RTOL`` of their
   largest magnitude (the share of equal predicted labels is printed; a
   barely trained network has near-ties, so it is no criterion). In
   ``--device cpu`` mode the "device" run is a second CPU run (the plumbing
   is tested; the numbers must then be identical).
2. **Speed**, each through the plugin's training entry point
   (``mmseg_zs3.apis.setup_train_cfg``, as ``tools/train.py [--amp]``):
   stage 1 (seen-only) and the stock mmseg model (``EncoderDecoder``,
   mmseg's ``CrossEntropyLoss``, all images) for ``--stage1-iters``; stage 2
   cached (``ZS3FeatureCacheTrainLoop``: its cache pass and its epochs) and
   uncached (``EpochBasedTrainLoop``: the frozen network on every batch) for
   ``--stage2-epochs``; fp32 and, on a GPU, AMP (``--amp``: the
   frozen-feature pass runs in the optimizer wrapper's autocast too; the
   first AMP loss must be within ``AMP_FIRST_LOSS_RTOL`` of fp32's, and the
   stage-2 MMD loss of real frozen features under fp16 autocast within
   ``AMP_MMD_RTOL`` of fp32's). Then
   ``Runner.test()`` of the stage-2 model on the val images, and the
   inference of the ZS3Net model against the stock model
   (``bench_inference_overhead.measure``, interleaved, fp32 and AMP).
   Iterations/s exclude the first ``WARMUP_ITERS`` of a run; peak memory is
   ``torch.cuda.max_memory_allocated`` of the phase (weights included).

Exit status 1 when an agreement check fails, or (full size, on a GPU) when
the run takes 8 minutes or more. Run::

    tools/gpu_smoke.sh                      # one GPU, 512x512
    tools/gpu_smoke.sh --device cpu --tiny  # the CPU mode of the test suite
"""
import argparse
import copy
import datetime
import itertools
import os
import os.path as osp
import platform
import sys
import tempfile
import time
from argparse import Namespace
from typing import List, Optional

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import bench_inference_overhead as inference_bench  # noqa: E402

SEEN_ONLY_CONFIG = osp.join(
    REPO, 'configs', 'zs3',
    'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
ZS3NET_CONFIG = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
MMSEG_MODEL = '_base_/models/deeplabv3plus_r50-d8.py'
# stated tolerances of the CPU / device agreement (fp32, TF32 off)
LOSS_RTOL = 1e-3
FEATURE_RTOL = 1e-3
SCORE_RTOL = 1e-3
# AMP against fp32: the loss of the first step (before any update), and the
# stage-2 MMD loss of real frozen features under autocast
AMP_FIRST_LOSS_RTOL = 2e-2
AMP_MMD_RTOL = 1e-2
WARMUP_ITERS = 2
TIME_LIMIT_S = 8 * 60
_RUN_IDS = itertools.count()
SIZES = dict(
    full=dict(
        size=512,
        num_train=64,
        num_val=16,
        batch=8,
        stage1_iters=40,
        stage2_epochs=10,
        check_iters=3,
        check_batch=2,
        reps=30,
        width=64),
    tiny=dict(
        size=64,
        num_train=8,
        num_val=4,
        batch=2,
        stage1_iters=3,
        stage2_epochs=1,
        check_iters=2,
        check_batch=2,
        reps=3,
        width=16))


def mmseg_config_path(relative: str) -> str:
    """A config file shipped inside the installed mmseg."""
    import mmseg
    return osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', relative)


def _set_all(node, key: str, value) -> None:
    """Set ``key`` in every dict nested in ``node`` that has it."""
    if isinstance(node, dict):
        if key in node:
            node[key] = value
        for child in node.values():
            _set_all(child, key, value)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _set_all(child, key, value)


def r50_model(size: int,
              num_classes: int,
              loss_decode: dict,
              width: int = 64) -> dict:
    """mmseg's ResNet-50 DeepLabV3+ for ``num_classes`` at ``size``: no
    auxiliary head, no dropout, no pretrained weights; ``width`` (the
    backbone's ``base_channels``, 64 in mmseg) below 64 narrows the backbone
    and the head's channels in proportion (the CPU mode's 16: a quarter)."""
    from mmengine.config import Config
    model = Config.fromfile(mmseg_config_path(MMSEG_MODEL)).model
    model.pretrained = None
    if width != 64:
        head = model.decode_head
        model.backbone.update(stem_channels=width, base_channels=width)
        head.update(
            in_channels=head.in_channels * width // 64,
            channels=head.channels * width // 64,
            c1_in_channels=head.c1_in_channels * width // 64,
            c1_channels=max(8, head.c1_channels * width // 64))
    model.auxiliary_head = None
    model.data_preprocessor.size = (size, size)
    model.decode_head.update(
        num_classes=num_classes,
        dropout_ratio=0.,
        loss_decode=copy.deepcopy(loss_decode))
    return model


def _common(cfg, work_dir: str, data_root: str, batch: int,
            workers: int) -> None:
    """Data root, batch, workers, logging and seed of a smoke config."""
    cfg.work_dir = work_dir
    # one name per Runner: mmengine keeps one MessageHub and one Visualizer
    # per name in a process
    cfg.experiment_name = f'gpu_smoke_{osp.basename(work_dir)}_' \
        f'{next(_RUN_IDS)}_{os.getpid()}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    cfg.env_cfg.cudnn_benchmark = True
    for key in ('train_dataloader', 'test_dataloader'):
        loader = cfg[key]
        _set_all(loader, 'data_root', data_root)
        loader.batch_size = batch if key == 'train_dataloader' else 1
        loader.num_workers = workers
        loader.persistent_workers = False
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)


def stage1_config(work_dir: str,
                  data_root: str,
                  size: int,
                  batch: int,
                  iters: int,
                  workers: int = 2,
                  stock: bool = False,
                  width: int = 64):
    """Stage 1 (seen-only data, the plugin's loss) or the stock mmseg model
    (every image, mmseg's ``CrossEntropyLoss``), constant lr (a schedule
    would make the first steps depend on the run length)."""
    from mmengine.config import Config
    cfg = Config.fromfile(SEEN_ONLY_CONFIG)
    loss = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0) \
        if stock else cfg.model.decode_head.loss_decode
    cfg.model = r50_model(size, cfg.model.decode_head.num_classes, loss, width)
    if stock:
        cfg.train_dataloader.dataset = cfg.train_dataloader.dataset.dataset
    _common(cfg, work_dir, data_root, batch, workers)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint.interval = iters
    return cfg


def stage2_config(work_dir: str,
                  data_root: str,
                  size: int,
                  batch: int,
                  epochs: int,
                  load_from: Optional[str],
                  embedding_file: str,
                  workers: int = 2,
                  cached: bool = True,
                  width: int = 64):
    """ZS3Net stage 2 of the shapes config on the ResNet-50 DeepLabV3+
    (generator to its 512-d features), cached or not."""
    from mmengine.config import Config
    cfg = Config.fromfile(ZS3NET_CONFIG)
    head = cfg.model.decode_head
    model = r50_model(size, head.head.num_classes, head.head.loss_decode,
                      width)
    cfg.model.backbone = model.backbone
    cfg.model.data_preprocessor.size = (size, size)
    head.head = model.decode_head
    cfg.model.generative_head.generator.feat_dim = model.decode_head.channels
    cfg.model.class_embedding.embedding_file = embedding_file
    cfg.load_from = load_from
    _common(cfg, work_dir, data_root, batch, workers)
    cfg.train_cfg = dict(
        type='ZS3FeatureCacheTrainLoop' if cached else 'EpochBasedTrainLoop',
        max_epochs=epochs,
        val_interval=epochs)
    for scheduler in cfg.param_scheduler:
        scheduler.end = epochs + 1
    cfg.default_hooks.checkpoint.interval = epochs
    return cfg


# ---------------------------------------------------------------------------
# agreement
def _train_steps(cfg, device: str, iters: int):
    """``iters`` training steps of ``cfg``'s model from seed 0, as the
    Runner would take them (its dataloader, optimizer wrapper, and SyncBN
    reverted in one process). Returns the losses and the model (on CPU)."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, set_random_seed
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    set_random_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    model = model.to(device).train()
    optim_wrapper = build_optim_wrapper(model,
                                        copy.deepcopy(cfg.optim_wrapper))
    loader = Runner.build_dataloader(
        copy.deepcopy(cfg.train_dataloader), seed=0)
    losses = []
    for _, batch in zip(range(iters), loader):
        log = model.train_step(batch, optim_wrapper)
        losses.append(float(log['loss']))
    return losses, model.cpu().eval()


def check_agreement(stage1_cfg, stage2_cfg, device: str, iters: int,
                    val_batch: dict) -> dict:
    """The CPU and ``device`` runs of the same seed: stage-1 losses, stage-2
    frozen features, predictions (see the module docstring).

    Returns:
        dict: ``cpu_losses``, ``device_losses``, ``loss_rel_diff``,
        ``feature_rel_diff``, ``score_rel_diff``, ``pixel_agreement`` and
        ``ok`` (all within the stated tolerances).
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    tf32 = (torch.backends.cudnn.allow_tf32,
            torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    stage1_cfg = copy.deepcopy(stage1_cfg)
    stage1_cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    try:
        cpu_losses, cpu_model = _train_steps(stage1_cfg, 'cpu', iters)
        dev_losses, _ = _train_steps(stage1_cfg, device, iters)
        loss_diff = float(
            np.max(
                np.abs(np.subtract(cpu_losses, dev_losses)) /
                np.maximum(np.abs(cpu_losses), 1e-12)))
        init_default_scope('mmseg')
        stage2 = revert_sync_batchnorm(MODELS.build(stage2_cfg.model))
        stage2.load_state_dict(cpu_model.state_dict(), strict=False)
        stage2.eval()
        feats, scores, preds = {}, {}, {}
        for where in ('cpu', device):
            stage2.to(where)
            cpu_model.to(where)
            with torch.no_grad():
                pixels = stage2.extract_pixels(copy.deepcopy(val_batch))
                feats[where] = pixels['inputs'].float().cpu()
                pixels_labels = pixels['data_samples'].cpu()
                out = cpu_model.test_step(copy.deepcopy(val_batch))
            scores[where] = torch.stack(
                [o.seg_logits.data.float().cpu() for o in out])
            preds[where] = torch.stack(
                [o.pred_sem_seg.data.cpu() for o in out])
        amp_mmd = amp_mmd_difference(
            stage2_cfg, feats[device], pixels_labels,
            device) if device.startswith('cuda') else None
        feature_diff = _relative(feats['cpu'], feats[device])
        score_diff = _relative(scores['cpu'], scores[device])
        agreement = float((preds['cpu'] == preds[device]).float().mean())
    finally:
        torch.backends.cudnn.allow_tf32, \
            torch.backends.cuda.matmul.allow_tf32 = tf32
    return dict(
        cpu_losses=cpu_losses,
        device_losses=dev_losses,
        loss_rel_diff=loss_diff,
        feature_rel_diff=feature_diff,
        score_rel_diff=score_diff,
        pixel_agreement=agreement,
        amp_mmd_rel_diff=amp_mmd,
        ok=loss_diff <= LOSS_RTOL and feature_diff <= FEATURE_RTOL
        and score_diff <= SCORE_RTOL)


def amp_mmd_difference(stage2_cfg, feats: torch.Tensor, labels: torch.Tensor,
                       device: str) -> float:
    """Relative difference of the stage-2 MMD loss between the frozen
    features of the two most frequent classes under fp16 autocast (as
    ``--amp`` runs it) and in fp32 (on CPU, torch's CPU autocast: the
    plugin's AMP is CUDA-only).

    The MMD is a difference of kernel means close to each other, which
    float16 resolves to about 1e-3: a large difference here means the loss
    should be computed in fp32 under AMP."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    loss = MODELS.build(copy.deepcopy(
        stage2_cfg.model.generative_head.loss)).to(device)
    counts = torch.bincount(labels)
    a, b = counts.argsort(descending=True)[:2].tolist()
    n = int(min(counts[a], counts[b], 1024))
    x = feats[labels == a][:n].to(device)
    y = feats[labels == b][:n].to(device)
    with torch.no_grad():
        ref = float(loss(x, y))
        with torch.autocast(
                device_type=device.split(':')[0], dtype=torch.float16):
            amp = float(loss(x.half(), y.half()))
    return abs(amp - ref) / max(abs(ref), 1e-12)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |a|``."""
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))


# ---------------------------------------------------------------------------
# speed
class _PhaseTimer:
    """Times the training iterations of a Runner and its peak memory."""

    def __init__(self, device: str):
        from mmengine.hooks import Hook
        timer = self

        class Timer(Hook):
            priority = 'VERY_LOW'

            def before_train(self, runner) -> None:
                timer._sync()
                if timer.cuda:
                    torch.cuda.reset_peak_memory_stats()
                timer.start = time.perf_counter()

            def after_train_iter(self,
                                 runner,
                                 batch_idx,
                                 data_batch=None,
                                 outputs=None) -> None:
                timer._sync()
                timer.ends.append(time.perf_counter())

        self.cuda = device.startswith('cuda')
        self.hook = Timer()
        self.start = 0.
        self.ends: List[float] = []

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def iters_per_s(self) -> Optional[float]:
        warm = min(WARMUP_ITERS, len(self.ends) - 2)
        if warm < 0:
            return None
        return (len(self.ends) - 1 - warm) / (self.ends[-1] - self.ends[warm])

    def peak_mib(self) -> Optional[float]:
        return torch.cuda.max_memory_allocated() / 2**20 if self.cuda \
            else None


def train_phase(cfg, amp: bool, device: str) -> dict:
    """Train ``cfg`` through ``setup_train_cfg`` (``tools/train.py``'s
    checks and ``--amp``) and ``build_runner``.

    Returns:
        dict: ``runner``, ``iters``, ``iters_per_s``, ``seconds``,
        ``peak_mib``, ``losses`` and ``cache_seconds`` (cached stage 2).
    """
    from mmseg_zs3.apis.train import build_runner, setup_train_cfg
    path = cfg.work_dir.rstrip('/') + '.py'
    os.makedirs(osp.dirname(path), exist_ok=True)
    cfg.dump(path)
    cfg = setup_train_cfg(
        Namespace(
            config=path,
            work_dir=cfg.work_dir,
            resume=False,
            amp=amp,
            cfg_options=None,
            launcher='none'))
    runner = build_runner(cfg)
    timer = _PhaseTimer(device)
    runner.register_hook(timer.hook)
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    history = runner.message_hub.get_scalar('train/loss').data[0]
    return dict(
        runner=runner,
        iters=len(timer.ends),
        iters_per_s=timer.iters_per_s(),
        seconds=seconds,
        peak_mib=timer.peak_mib(),
        losses=[float(v) for v in history],
        cache_seconds=getattr(runner.train_loop, 'cache_seconds', None))


def _data(root: str, sizes: dict) -> None:
    from mmseg_zs3.datasets import generate_shapes_dataset
    generate_shapes_dataset(
        root,
        num_train=sizes['num_train'],
        num_val=sizes['num_val'],
        num_calib=1,
        image_size=sizes['size'],
        seed=0)


def _embeddings(path: str) -> str:
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(path)
    return path


def _val_batch(cfg, num: int) -> dict:
    """The first ``num`` val images as one test batch."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    return pseudo_collate([dataset[i] for i in range(min(num, len(dataset)))])


def run(device: str = 'cuda',
        tiny: bool = False,
        work_dir: Optional[str] = None,
        workers: int = 2) -> dict:
    """The whole smoke run; see the module docstring.

    Args:
        device (str): ``'cuda'`` or ``'cpu'``.
        tiny (bool): The test suite's size (64x64, a few steps).
        work_dir (str, optional): Where data and runs go. Defaults to a
            temporary folder, removed afterwards.
        workers (int): Dataloader workers. Defaults to 2.

    Returns:
        dict: ``settings``, ``agreement``, ``phases`` (rows of the printed
        table), ``test_metrics``, ``seconds`` and ``ok``.
    """
    import mmseg_zs3  # noqa: F401 (registrations, CPU-stack fixes)
    sizes = SIZES['tiny' if tiny else 'full']
    start = time.perf_counter()
    owned = work_dir is None
    root = tempfile.mkdtemp(prefix='zs3_gpu_smoke_') if owned else work_dir
    amp_modes = [False, True] if device.startswith('cuda') else [False]
    try:
        data_root = osp.join(root, 'data')
        _data(data_root, sizes)
        emb = _embeddings(osp.join(root, 'class_embeddings.npz'))
        size, batch = sizes['size'], sizes['batch']

        def s1(name, stock=False, b=batch, iters=sizes['stage1_iters']):
            return stage1_config(
                osp.join(root, name), data_root, size, b, iters, workers,
                stock, sizes['width'])

        def s2(name, load_from, cached=True):
            return stage2_config(
                osp.join(root,
                         name), data_root, size, batch, sizes['stage2_epochs'],
                load_from, emb, workers, cached, sizes['width'])

        agreement = check_agreement(
            s1('check', b=sizes['check_batch']), s2('check', None),
            device, sizes['check_iters'],
            _val_batch(s1('check'), sizes['check_batch']))
        phases, runs = [], {}
        for amp in amp_modes:
            precision = 'amp' if amp else 'fp32'
            for stock in (False, True):
                name = f'stage1_{"stock" if stock else "zs3"}_{precision}'
                runs[name] = r = train_phase(
                    s1(name, stock=stock), amp, device)
                phases.append(
                    dict(
                        phase='stage 1 train',
                        model='stock mmseg' if stock else 'ZS3Net seen-only',
                        precision=precision,
                        iters_per_s=r['iters_per_s'],
                        images_per_s=_times(r['iters_per_s'], batch),
                        peak_mib=r['peak_mib']))
            stage1_ckpt = osp.join(root, f'stage1_zs3_{precision}',
                                   f'iter_{sizes["stage1_iters"]}.pth')
            for cached in (True, False):
                name = f'stage2_{"cached" if cached else "uncached"}_' \
                    f'{precision}'
                runs[name] = r = train_phase(
                    s2(name, stage1_ckpt, cached), amp, device)
                if cached:
                    phases.append(
                        dict(
                            phase='stage 2 cache pass',
                            model='ZS3Net',
                            precision=precision,
                            seconds=r['cache_seconds']))
                phases.append(
                    dict(
                        phase=f'stage 2 {"cached" if cached else "uncached"}'
                        ' train',
                        model='ZS3Net',
                        precision=precision,
                        iters_per_s=r['iters_per_s'],
                        images_per_s=None if cached else _times(
                            r['iters_per_s'], batch),
                        peak_mib=r['peak_mib']))
        tested = runs['stage2_cached_fp32']['runner']
        t0 = time.perf_counter()
        test_metrics = tested.test()
        num_val = len(tested.test_dataloader.dataset)
        phases.append(
            dict(
                phase='test (Runner.test)',
                model='ZS3Net',
                precision='fp32',
                images_per_s=num_val / (time.perf_counter() - t0)))
        stage2_file = runs['stage2_cached_fp32']['runner'].cfg.filename
        for amp in amp_modes:
            result = inference_bench.measure(
                stage2_file,
                size=size,
                batch=1,
                reps=sizes['reps'],
                warmup=min(5, sizes['reps']),
                device=device,
                amp=amp)
            for name, m in result['models'].items():
                if name == 'zs3net_configured':
                    continue  # the stage-2 config's L2 norm: reported below
                phases.append(
                    dict(
                        phase='inference (test_step, batch 1)',
                        model='stock mmseg' if name == 'stock' else 'ZS3Net',
                        precision='amp' if amp else 'fp32',
                        images_per_s=1e3 / m['median_ms'],
                        ratio=None if name == 'stock' else m['ratio'],
                        peak_mib=m['peak_mib']))
        amp_check = None
        if len(amp_modes) > 1:
            a = runs['stage1_zs3_amp']['losses'][0]
            f = runs['stage1_zs3_fp32']['losses'][0]
            amp_check = abs(a - f) / abs(f)
        seconds = time.perf_counter() - start
        amp_mmd = agreement['amp_mmd_rel_diff']
        ok = agreement['ok'] and (amp_check is None
                                  or amp_check <= AMP_FIRST_LOSS_RTOL) and (
                                      amp_mmd is None
                                      or amp_mmd <= AMP_MMD_RTOL)
        if device.startswith('cuda') and not tiny:
            ok = ok and seconds < TIME_LIMIT_S
        return dict(
            settings=dict(
                device=device,
                device_name=torch.cuda.get_device_name()
                if device.startswith('cuda') else
                (platform.processor() or platform.machine()),
                torch=torch.__version__,
                cuda=torch.version.cuda,
                date=datetime.date.today().isoformat(),
                **sizes),
            agreement=agreement,
            amp_first_loss_rel_diff=amp_check,
            phases=phases,
            test_metrics=dict(test_metrics),
            seconds=seconds,
            ok=ok)
    finally:
        if owned:
            import shutil
            shutil.rmtree(root, ignore_errors=True)


def _times(value: Optional[float], factor: float) -> Optional[float]:
    return None if value is None else value * factor


def _cell(value, fmt: str) -> str:
    return '-' if value is None else format(value, fmt)


def report(result: dict) -> str:
    """The printed report of :func:`run`."""
    s, a = result['settings'], result['agreement']
    other = s['device'] if s['device'] != 'cpu' else 'cpu (a second run)'
    lines = [
        f'# ZS3Net GPU smoke, {s["date"]}: {s["device_name"]}, torch '
        f'{s["torch"]}, CUDA {s["cuda"]}',
        f'ResNet-50 DeepLabV3+ (mmseg {MMSEG_MODEL}'
        f'{"" if s["width"] == 64 else ", base width " + str(s["width"])}'
        '), shapes data '
        f'{s["size"]}x{s["size"]} ({s["num_train"]} train / {s["num_val"]} '
        f'val images), batch {s["batch"]}, stage 1 {s["stage1_iters"]} '
        f'iterations, stage 2 {s["stage2_epochs"]} epoch(s)',
        '',
        f'Agreement, CPU vs {other} (fp32, TF32 off, seed 0, SGD, '
        f'{s["check_iters"]} steps of batch {s["check_batch"]}):',
        f'- stage-1 losses {[round(v, 5) for v in a["cpu_losses"]]} vs '
        f'{[round(v, 5) for v in a["device_losses"]]}: max relative '
        f'difference {a["loss_rel_diff"]:.2e} (tolerance {LOSS_RTOL:g})',
        f'- stage-2 frozen features: max difference / max magnitude '
        f'{a["feature_rel_diff"]:.2e} (tolerance {FEATURE_RTOL:g})',
        f'- stage-1 test scores: max difference / max magnitude '
        f'{a["score_rel_diff"]:.2e} (tolerance {SCORE_RTOL:g}); predicted '
        f'labels equal on {a["pixel_agreement"] * 100:.3f}% of the pixels',
    ]
    if result['amp_first_loss_rel_diff'] is not None:
        lines.append(f'- AMP vs fp32, first stage-1 loss: relative '
                     f'difference {result["amp_first_loss_rel_diff"]:.2e} '
                     f'(tolerance {AMP_FIRST_LOSS_RTOL:g})')
    if a['amp_mmd_rel_diff'] is not None:
        lines.append(f'- AMP (fp16 autocast) vs fp32, stage-2 MMD loss of '
                     f'the frozen features of two classes: relative '
                     f'difference {a["amp_mmd_rel_diff"]:.2e} (tolerance '
                     f'{AMP_MMD_RTOL:g}; above it, compute the MMD in fp32)')
    lines += [
        '', '| phase | model | precision | it/s | img/s | s | '
        'ratio to stock | peak GPU MiB |', '|---|---|---|---|---|---|---|---|'
    ]
    for p in result['phases']:
        lines.append(f'| {p["phase"]} | {p["model"]} | {p["precision"]} | '
                     f'{_cell(p.get("iters_per_s"), ".2f")} | '
                     f'{_cell(p.get("images_per_s"), ".1f")} | '
                     f'{_cell(p.get("seconds"), ".1f")} | '
                     f'{_cell(p.get("ratio"), ".3f")} | '
                     f'{_cell(p.get("peak_mib"), ".0f")} |')
    m = result['test_metrics']
    lines += [
        '',
        'Test of the stage-2 model (a smoke run: the numbers only show that '
        'it predicts): ' + ', '.join(
            f'{k} {m[k]:.1f}'
            for k in ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc') if k in m),
        f'Total {result["seconds"]:.0f} s; '
        f'{"OK" if result["ok"] else "FAILED"}',
    ]
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device',
        default='cuda',
        help='cuda (the smoke test) or cpu (its CPU mode)')
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='64x64, a few steps: the size of the test suite')
    parser.add_argument(
        '--work-dir',
        help='keep data and runs here (default: a temporary folder, '
        'removed)')
    parser.add_argument(
        '--workers', type=int, default=2, help='dataloader workers')
    args = parser.parse_args(argv)
    if args.device not in ('cuda', 'cpu') and \
            not args.device.startswith('cuda:'):
        parser.error(f'--device {args.device!r}: expected cuda or cpu')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: no CUDA device here (torch '
                     f'{torch.__version__}); use --device cpu for the CPU '
                     'mode')
    if args.workers < 0:
        parser.error(f'--workers {args.workers}: expected >= 0')
    if args.work_dir is not None and osp.exists(args.work_dir) and \
            os.listdir(args.work_dir):
        parser.error(f'--work-dir {args.work_dir} is not empty; give a new '
                     'or empty folder')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args.device, args.tiny, args.work_dir, args.workers)
    print(report(result), flush=True)
    return result


if __name__ == '__main__':
    sys.exit(0 if main()['ok'] else 1)
