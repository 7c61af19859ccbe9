"""The GPU path, checked on CPU: the smoke script's CPU mode at tiny size
(stage 1 + stage 2 cached and uncached + test + inference of mmseg's
ResNet-50 DeepLabV3+, with its agreement checks), its command-line checks,
its shell wrapper, the Slurm scripts' command lines, and SyncBN through
``--cfg-options sync_bn=torch``."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import ORACLE_CONFIG, REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import gpu_smoke  # noqa: E402

PYTHON = sys.executable


@pytest.fixture
def fast_cpu():
    """One torch thread, and mmengine's config formatting (yapf, ~0.7 s
    per dump) skipped."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr('mmengine.config.config.FormatCode', lambda text, **kwargs:
                   (text, False))
        yield
    torch.set_num_threads(threads)


def test_cpu_mode_runs_every_phase(fast_cpu, tmp_path, capsys):
    work_dir = str(tmp_path / 'smoke')
    result = gpu_smoke.main([
        '--device', 'cpu', '--tiny', '--workers', '0', '--work-dir', work_dir
    ])
    assert result['ok']
    # two CPU runs of the same seed: the plumbing of the agreement check
    a = result['agreement']
    assert a['ok'] and len(a['cpu_losses']) == 2
    assert a['cpu_losses'] == a['device_losses']
    assert a['feature_rel_diff'] == a['score_rel_diff'] == 0
    assert a['pixel_agreement'] == 1
    rows = {
        (p['phase'], p['model'], p['precision']): p
        for p in result['phases']
    }
    assert set(rows) == {
        ('stage 1 train', 'ZS3Net seen-only', 'fp32'),
        ('stage 1 train', 'stock mmseg', 'fp32'),
        ('stage 2 cache pass', 'ZS3Net', 'fp32'),
        ('stage 2 cached train', 'ZS3Net', 'fp32'),
        ('stage 2 uncached train', 'ZS3Net', 'fp32'),
        ('test (Runner.test)', 'ZS3Net', 'fp32'),
        ('inference (test_step, batch 1)', 'stock mmseg', 'fp32'),
        ('inference (test_step, batch 1)', 'ZS3Net', 'fp32'),
    }
    for key, row in rows.items():
        rate = row.get('iters_per_s') or row.get('images_per_s') or \
            row.get('seconds')
        assert rate and rate > 0, key
        assert row.get('peak_mib') is None  # no GPU
    assert rows[('inference (test_step, batch 1)', 'ZS3Net',
                 'fp32')]['ratio'] > 0
    # AMP needs a GPU
    assert result['amp_first_loss_rel_diff'] is None
    assert a['amp_mmd_rel_diff'] is None
    for key in ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc'):
        assert key in result['test_metrics']
    # the runs went through tools/train.py's entry point into the work dir
    assert osp.isfile(osp.join(work_dir, 'stage1_zs3_fp32', 'iter_3.pth'))
    assert osp.isfile(
        osp.join(work_dir, 'stage2_cached_fp32', 'zs3_feature_cache.pth'))
    assert not osp.exists(
        osp.join(work_dir, 'stage2_uncached_fp32', 'zs3_feature_cache.pth'))
    out = capsys.readouterr().out
    assert 'Agreement, CPU vs cpu (a second run)' in out
    assert '| stage 2 cached train | ZS3Net | fp32 |' in out
    assert out.rstrip().endswith('OK')


def test_command_line_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit):
        gpu_smoke.parse_args(['--device', 'cuda'])
    assert '--device cuda: no CUDA device here' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_smoke.parse_args(['--device', 'tpu'])
    assert "--device 'tpu'" in capsys.readouterr().err
    full = tmp_path / 'full'
    full.mkdir()
    (full / 'x').write_text('')
    with pytest.raises(SystemExit):
        gpu_smoke.parse_args(['--device', 'cpu', '--work-dir', str(full)])
    assert f'--work-dir {full} is not empty' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_smoke.parse_args(['--device', 'cpu', '--workers', '-1'])


def test_shell_wrapper_reaches_the_script():
    out = subprocess.run(['bash', 'tools/gpu_smoke.sh', '--help'],
                         cwd=REPO,
                         env=dict(os.environ, PYTHON=PYTHON),
                         capture_output=True,
                         text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'GPU smoke test: ZS3Net stage 1 + stage 2 + test' in out.stdout
    assert '--tiny' in out.stdout


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_scripts_command_line(script, tmp_path):
    """A stand-in ``srun`` records what the script asks Slurm to run."""
    record = tmp_path / 'srun_args'
    srun = tmp_path / 'srun'
    srun.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    srun.chmod(0o755)
    args = ['PART', 'job name', 'configs/zs3/x.py']
    if script == 'slurm_test.sh':
        args.append('work_dirs/x/iter_4.pth')
    env = dict(
        os.environ,
        PATH=f'{tmp_path}:{os.environ["PATH"]}',
        GPUS='8',
        GPUS_PER_NODE='4',
        PYTHON='mypython')
    out = subprocess.run(
        ['bash', f'tools/{script}'] + args + ['--work-dir', 'w d'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60)
    assert out.returncode == 0, out.stderr
    argv = record.read_text().splitlines()
    tool = 'train.py' if script == 'slurm_train.sh' else 'test.py'
    assert argv[:8] == [
        '-p', 'PART', '--job-name=job name', '--gres=gpu:4', '--ntasks=8',
        '--ntasks-per-node=4', '--cpus-per-task=5', '--kill-on-bad-exit=1'
    ]
    rest = argv[8:]
    assert rest[0] == 'mypython' and rest[1] == '-u'
    assert rest[2].endswith(f'tools/{tool}')
    assert rest[3:] == args[2:] + ['--launcher=slurm', '--work-dir', 'w d']


def test_sync_bn_through_cfg_options():
    """The documented SyncBN switch for configs with BN: mmengine's
    ``sync_bn`` key passes the tools' check of --cfg-options; a misspelt one
    is refused."""
    from mmseg_zs3.apis.checks import ConfigCheckError
    from mmseg_zs3.apis.runner_cfg import load_config
    cfg = load_config(ORACLE_CONFIG, {'sync_bn': 'torch'})
    assert cfg.sync_bn == 'torch'
    with pytest.raises(ConfigCheckError, match="Did you mean 'sync_bn'"):
        load_config(ORACLE_CONFIG, {'sync_bm': 'torch'})


def test_amp_mmd_check(tmp_path):
    """The AMP check of the stage-2 MMD, run with torch's CPU autocast
    (float16) on features of two classes: the loss is computed in float32
    whatever the input dtype, so only the rounding of the inputs to float16
    remains, far below the 4-11% that an MMD taken in float16 was off (it
    may round to exactly 0)."""
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    emb = str(tmp_path / 'emb.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(emb)
    cfg = gpu_smoke.stage2_config(
        str(tmp_path / 'w'), str(tmp_path / 'data'), 64, 2, 1, None, emb)
    generator = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(
        torch.rand(600, 512, generator=generator), dim=1) * 2
    feats[300:] += 0.05
    labels = torch.tensor([3] * 300 + [7] * 300)
    diff = gpu_smoke.amp_mmd_difference(cfg, feats, labels, 'cpu')
    assert 0 <= diff < 1e-3


@pytest.mark.parametrize('layout', ['strict', 'paper'])
def test_stage2_losses_under_autocast(layout, shapes_root, tmp_path):
    """The stage-2 training step in an autocast context (torch's CPU
    autocast, bfloat16, standing in for ``--amp``'s CUDA float16, which
    mmengine's AmpOptimWrapper allows on GPUs only): image batches (both
    layouts, the frozen pass included) and pixel batches run, in low
    precision where autocast puts it, with finite losses and gradients."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS, MODELS

    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    emb = str(tmp_path / 'emb.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(emb)
    cfg = gpu_smoke.stage2_config(
        str(tmp_path / 'w'), shapes_root, 64, 2, 1, None, emb, width=16)
    cfg.model.unseen_layout = layout
    cfg.model.generative_head.num_samples = 16
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    batch = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in range(2)]), True)
    runs = [(batch['inputs'], batch['data_samples'])]
    if layout == 'strict':
        with torch.autocast('cpu', dtype=torch.bfloat16):
            pixels = model.extract_pixels(
                pseudo_collate([dataset[i] for i in range(2)]))
        assert pixels['inputs'].dtype == torch.bfloat16  # the frozen pass
        runs.append((pixels['inputs'].float(), pixels['data_samples']))
    for inputs, samples in runs:
        model.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            losses = model.loss(inputs, samples)
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        assert torch.isfinite(total), losses
        total.backward()
        grads = [
            p.grad for p in model.parameters()
            if p.requires_grad and p.grad is not None
        ]
        assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize('dataset', ['voc12aug', 'context60'])
def test_pascal_configs_use_sync_bn(dataset):
    """The multi-GPU (Pascal) configs of the paper's network normalise with
    SyncBN in backbone and head, stage 1 and stage 2 (mmengine reverts it to
    BN in a one-process run)."""
    import glob

    from mmengine.config import Config
    paths = [
        p for algorithm in ('seen-only', 'zs3net') for p in glob.glob(
            osp.join(
                REPO, 'configs', 'zs3', f'{algorithm}_deeplabv3plus_'
                f'r101-*_{dataset}-zs3k2-*.py'))
    ]
    assert len(paths) == 2, paths
    for path in paths:
        model = Config.fromfile(path).model
        head = model.decode_head.get('head', model.decode_head)
        assert model.backbone.norm_cfg.type == 'SyncBN', path
        assert head.norm_cfg.type == 'SyncBN', path
