"""The stage-2 training recipe of the shipped configs: the poly schedule
trains every epoch (its last step has a non-zero lr), and the optimizer gets
mmengine's parameter groups without a warning per frozen tensor."""
import glob
import os.path as osp

import pytest
import torch
from conftest import REPO, LogRecords
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import PARAM_SCHEDULERS


def _sets_schedule(path: str) -> bool:
    """Whether a config sets the schedule or the epoch count itself (the
    other leaves inherit both unchanged from one that does)."""
    with open(path, encoding='utf-8') as f:
        text = f.read().replace('max_epochs={{_base_.max_epochs}}', '')
    return 'param_scheduler' in text or 'max_epochs' in text


STAGE2_CONFIGS = [
    p for p in sorted(
        glob.glob(
            osp.join(REPO, 'configs/zs3/_base_/schedules/zs3net_stage2_*.py'))
        + glob.glob(osp.join(REPO, 'configs/zs3/zs3net_*shapes*.py')))
    if _sets_schedule(p)
]
SHAPES_STAGE2 = osp.join(REPO, 'configs', 'zs3',
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')


def lr_per_step(cfg: Config, epoch_length: int = 3) -> list:
    """The learning rates of every training step under ``cfg``'s schedule,
    as mmengine's ParamSchedulerHook applies it (by-epoch schedulers step
    after each epoch, iteration-based ones after each iteration).

    Returns:
        list[list[float]]: Per step (iteration), the lr of each param group.
    """
    init_default_scope('mmseg')
    groups = [
        dict(params=[torch.nn.Parameter(torch.zeros(1))], lr=1.0),
        dict(params=[torch.nn.Parameter(torch.zeros(1))], lr=50.0)
    ]
    optimizer = torch.optim.Adam(groups, lr=1.0)
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        if sched.pop('convert_to_iter_based', False):
            schedulers.append(
                PARAM_SCHEDULERS.get(sched.pop('type')).build_iter_from_epoch(
                    optimizer=optimizer, epoch_length=epoch_length, **sched))
        else:
            schedulers.append(
                PARAM_SCHEDULERS.build(dict(sched, optimizer=optimizer)))
    by_epoch = cfg.train_cfg.get('max_epochs') is not None
    steps = (
        cfg.train_cfg.max_epochs *
        epoch_length if by_epoch else cfg.train_cfg.max_iters)
    lrs = []
    for step in range(steps):
        lrs.append([g['lr'] for g in optimizer.param_groups])
        optimizer.step()
        end_of_epoch = (step + 1) % epoch_length == 0
        for s in schedulers:
            if not s.by_epoch or end_of_epoch:
                s.step()
    return lrs


@pytest.mark.parametrize('config', STAGE2_CONFIGS, ids=osp.basename)
def test_every_epoch_trains_last_step_lr_positive(config):
    cfg = Config.fromfile(config)
    lrs = lr_per_step(cfg)
    assert lrs[0] == [1.0, 50.0]
    assert all(lr > 0 for lr in lrs[-1]), lrs[-1]
    epochs = cfg.train_cfg.max_epochs
    # poly 0.9 per epoch over max_epochs epochs: lr * (1 - e / E) ** 0.9
    assert lrs[-1][0] == pytest.approx((1 / epochs)**0.9)
    assert all(a[0] >= b[0] for a, b in zip(lrs, lrs[1:]))


def test_the_old_schedule_ended_one_epoch_early():
    # what the fix is about: mmengine's PolyLR reaches eta_min at end - 1
    cfg = Config.fromfile(SHAPES_STAGE2)
    cfg.param_scheduler[0].end = cfg.train_cfg.max_epochs
    assert lr_per_step(cfg)[-1] == [0.0, 0.0]


def test_optimizer_same_groups_one_log_line(tmp_path):
    from mmengine.logging import MMLogger

    from mmseg_zs3.embeddings import ClassEmbeddings, dataset_classes
    names = list(dataset_classes('ZS3ShapesDataset'))
    emb = str(tmp_path / 'emb.npz')
    ClassEmbeddings(names, torch.randn(len(names), 50).numpy()).save(emb)
    cfg = Config.fromfile(SHAPES_STAGE2)
    cfg.model.class_embedding.embedding_file = emb
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    model = MODELS.build(cfg.model)
    handler = LogRecords()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        ours = build_optim_wrapper(model, cfg.optim_wrapper)
        handler.messages.clear()
        default = build_optim_wrapper(
            model,
            dict(
                cfg.optim_wrapper,
                constructor='DefaultOptimWrapperConstructor'))
        skipped_by_mmengine = [
            m for m in handler.messages if 'is skipped since' in m
        ]
        handler.messages.clear()
        build_optim_wrapper(model, cfg.optim_wrapper)
    finally:
        logger.removeHandler(handler)
    assert len(skipped_by_mmengine) > 20  # one per frozen tensor
    assert not [m for m in handler.messages if 'is skipped since' in m]
    summary = [m for m in handler.messages if m.startswith('optimizer: ')]
    assert len(summary) == 1
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert f'{frozen} frozen parameters' in summary[0]
    assert summary[0].endswith('left out: backbone, decode_head.head')

    def groups(wrapper):
        return [(tuple(id(p) for p in g['params']), g['lr'])
                for g in wrapper.optimizer.param_groups]

    assert groups(ours) == groups(default)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {i for ids, _ in groups(ours) for i in ids} == trainable


@pytest.mark.parametrize('epochs', [1, 3])
def test_demo_keeps_the_last_epoch_training(epochs, tmp_path):
    # the demo shortens stage 2 to --stage2-epochs: the schedule follows
    from mmseg_zs3.apis.demo import demo_config
    cfg = demo_config(
        'zs3net',
        str(tmp_path),
        str(tmp_path / 'data'),
        str(tmp_path / 'emb.npz'),
        seed=0,
        stage1_iters=10,
        stage2_epochs=epochs)
    assert cfg.train_cfg.max_epochs == epochs
    lrs = lr_per_step(cfg)
    assert len(lrs) == 3 * epochs
    assert lrs[-1][0] == pytest.approx((1 / epochs)**0.9) and lrs[-1][0] > 0


def test_no_warning_on_help():
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'tools/train.py'), '--help'],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert proc.returncode == 0
    assert 'usage:' in proc.stdout
    assert 'Warning' not in proc.stderr, proc.stderr


def test_stack_warnings_quiet_when_building_a_stage2_model(tmp_path):
    # the three messages that mmseg_zs3.compat silences, on a config read
    # (pkg_resources, reloaded by mmengine) and a model build (build_loss)
    import subprocess
    import sys
    emb = str(tmp_path / 'emb.npz')
    script = f"""
import numpy as np
import mmseg_zs3
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg_zs3.embeddings import ClassEmbeddings, dataset_classes
names = list(dataset_classes('ZS3ShapesDataset'))
ClassEmbeddings(names, np.ones((len(names), 50), np.float32)).save({emb!r})
cfg = Config.fromfile({SHAPES_STAGE2!r})
cfg.model.class_embedding.embedding_file = {emb!r}
init_default_scope('mmseg')
MODELS.build(cfg.model)
print('built')
"""
    proc = subprocess.run([sys.executable, '-c', script],
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path))
    assert proc.returncode == 0 and 'built' in proc.stdout, proc.stderr
    for message in ('MultiScaleDeformableAttention', 'pkg_resources',
                    'build_loss'):
        assert message not in proc.stderr, proc.stderr
