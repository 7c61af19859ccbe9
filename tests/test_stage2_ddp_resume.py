"""The stage-2 feature cache under DDP, on resume and when its inputs change.

- Two gloo processes: each rank's shard holds exactly the seen pixels of its
  share of the images (together: every image once), both ranks end with the
  same weights, and a second run that reuses the shards trains the same.
- A run killed after epoch 1 and resumed with ``--resume`` (``load_from``
  still naming stage 1) logs the losses of the uninterrupted run.
- Relabelled annotations, another pipeline, another checkpoint or other
  preprocessor settings recompute the cache and the log says why; an
  unchanged rerun reuses it.
"""
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, use_embedding_file
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.runner import Runner
from PIL import Image
from test_zs3_stage2 import (STAGE1_CONFIG, _models, data_copies, fast_runs,
                             stage2_config, stage2_files)

from mmseg_zs3.engine.runner import zs3_feature_cache_train_loop as loop_mod

CACHE = 'zs3_feature_cache.pth'


@pytest.fixture
def cache_log(monkeypatch):
    """The loop's log lines (rank 0's ``_log``), collected."""
    lines = []
    original = loop_mod._log

    def log(msg):
        lines.append(msg)
        original(msg)

    monkeypatch.setattr(loop_mod, '_log', log)
    return lines


def _losses(runner) -> np.ndarray:
    return np.asarray(runner.message_hub.get_scalar('train/loss').data[0])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# DDP
def _reference_pixels(cfg: Config, checkpoint: str) -> list:
    """Seen pixels of each training image alone: ``[(feats, labels)]``."""
    from mmengine.runner import load_checkpoint
    from mmseg.registry import DATASETS
    model = _models().build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.train()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    out = []
    for i in range(len(dataset)):
        pixels = model.extract_pixels(pseudo_collate([dataset[i]]))
        out.append((pixels['inputs'], pixels['data_samples']))
    return out


def test_ddp_shards_partition_the_images_and_reuse_trains_the_same(
        stage2_files, data_copies, tmp_path):
    work_dir = str(tmp_path / 'work')
    # 11 images on 2 ranks (6 + 5: an uneven share), batch 2, all pixels kept
    cfg = stage2_config(
        data_copies['clean'],
        work_dir,
        stage2_files,
        seen_only=False,
        num_images=11,
        max_epochs=2)
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_per_class = 10**6
    cfg.log_level = 'INFO'
    config = str(tmp_path / 'stage2.py')
    cfg.dump(config)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        osp.join(REPO, 'tests', 'ddp_train.py'), config, work_dir, '2'
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the progress bar and the cache's log lines come from rank 0 only
    assert proc.stdout.count('ZS3 feature cache: computing') == 1
    assert proc.stdout.count('ZS3 feature cache: reusing') == 1
    # rank 0's progress over its 3 batches (6 images), as log lines (stdout
    # is no terminal); rank 1 (5 images) reports none
    assert proc.stdout.count('ZS3 feature cache: image batches: 3/3') == 1
    assert '\r' not in proc.stdout

    # one shard per rank; together, every image's seen pixels exactly once
    assert not osp.exists(osp.join(work_dir, CACHE))
    reference = _reference_pixels(cfg, stage2_files['stage1'])
    total = torch.zeros(17, dtype=torch.long)
    for rank in (0, 1):
        path = osp.join(work_dir, f'zs3_feature_cache_rank{rank}-of-2.pth')
        shard = torch.load(path, weights_only=True)['cache']
        assert shard['image_indices'] == list(range(rank, 11, 2))
        for c in range(17):
            expected = torch.cat([
                f[y == c] for i in shard['image_indices']
                for f, y in [reference[i]]
            ])
            assert shard['counts'][c] == len(expected)
            torch.testing.assert_close(
                shard['feats'][c], expected, atol=1e-5, rtol=1e-5)
        total += shard['counts']
    assert total.sum() == sum(len(y) for _, y in reference) > 0
    assert total.tolist() == torch.bincount(
        torch.cat([y for _, y in reference]), minlength=17).tolist()

    runs = {
        (r, k): torch.load(osp.join(work_dir, f'rank{r}_run{k}.pth'))
        for r in (0, 1)
        for k in (0, 1)
    }
    assert all(v['world_size'] == 2 and v['wrapped'] for v in runs.values())
    assert [runs[0, k]['reused_cache'] for k in (0, 1)] == [False, True]
    for key, value in runs[0, 0]['params'].items():
        # the ranks agree, and the run from the reused cache trained the same
        torch.testing.assert_close(runs[1, 0]['params'][key], value, msg=key)
        torch.testing.assert_close(runs[0, 1]['params'][key], value, msg=key)
    np.testing.assert_allclose(
        runs[0, 1]['losses'], runs[0, 0]['losses'], rtol=1e-5)
    trained = runs[0, 0]['params']['decode_head.classifier.conv.weight']
    assert not torch.equal(trained, torch.zeros_like(trained))


# ---------------------------------------------------------------------------
# resume
class _KillAfterFirstEpoch(Hook):
    """Stops the run after epoch 1 (its checkpoint saved), like a kill."""
    priority = 'LOWEST'

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == 1:  # the loop counts the epoch after hooks
            raise KeyboardInterrupt('killed after epoch 1')


def _resume_config(files, data, work_dir):
    cfg = stage2_config(
        data, work_dir, files, seen_only=False, max_epochs=3, num_images=8)
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    return cfg


def test_resume_continues_stage2_with_identical_losses(stage2_files,
                                                       data_copies, tmp_path,
                                                       cache_log):
    data = data_copies['clean']
    full = Runner.from_cfg(
        _resume_config(stage2_files, data, str(tmp_path / 'full')))
    full.train()
    full_losses = _losses(full)
    assert len(full_losses) == 3 * 2  # 3 epochs of 2 iterations

    work_dir = str(tmp_path / 'killed')
    killed = Runner.from_cfg(_resume_config(stage2_files, data, work_dir))
    killed.register_hook(_KillAfterFirstEpoch())
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert not osp.isfile(osp.join(work_dir, 'epoch_2.pth'))

    cache_log.clear()
    cfg = _resume_config(stage2_files, data, work_dir)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.cfg.load_from == stage2_files['stage1']
    assert resumed.train_loop.cache_seconds is None  # the cache was reused
    assert any('resuming from the latest checkpoint' in m for m in cache_log)
    assert resumed.epoch == 3
    np.testing.assert_allclose(_losses(resumed), full_losses, rtol=1e-5)


def test_resume_without_stage2_checkpoint_starts_from_load_from(
        stage2_files, data_copies, tmp_path, cache_log):
    cfg = stage2_config(
        data_copies['clean'], str(tmp_path), stage2_files, num_images=6)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()  # mmengine alone would resume from stage 1 and crash
    assert runner.epoch == 1
    assert any('has no checkpoint yet; starting from load_from' in m
               for m in cache_log)


# ---------------------------------------------------------------------------
# the cache key
def _relabel_one(data_root: str, index: int = 0) -> str:
    """Swap two seen classes in one training annotation; returns its path."""
    from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES, SHAPES_UNSEEN
    seen = [i for i, c in enumerate(SHAPES_CLASSES) if c not in SHAPES_UNSEEN]
    ann_dir = osp.join(data_root, 'ann_dir', 'train')
    path = osp.join(ann_dir, sorted(os.listdir(ann_dir))[index])
    seg = np.asarray(Image.open(path)).copy()
    present = [c for c in seen if (seg == c).any()]
    a = present[0]
    b = next(c for c in seen if c != a)
    seg[seg == a] = b
    Image.fromarray(seg).save(path)
    return path


def test_cache_recomputed_when_its_inputs_change(stage2_files, data_copies,
                                                 tmp_path, cache_log):
    data = shutil.copytree(data_copies['clean'], str(tmp_path / 'data'))
    work_dir = str(tmp_path / 'work')
    other_ckpt = str(tmp_path / 'stage1_other.pth')
    cfg = Config.fromfile(STAGE1_CONFIG)
    use_embedding_file(cfg.model, stage2_files['emb'])
    torch.manual_seed(1)
    model = _models().build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), other_ckpt)

    def run(**changes):
        cfg = stage2_config(
            data, work_dir, stage2_files, seen_only=False, num_images=4)
        if 'pipeline' in changes:
            pipeline = cfg.train_dataloader.dataset.pipeline
            pipeline.insert(-1, dict(type='RandomFlip', prob=1.0))
        if 'load_from' in changes:
            cfg.load_from = changes['load_from']
        if 'mean' in changes:
            cfg.model.data_preprocessor.mean = changes['mean']
        cache_log.clear()
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner.train_loop.cache_seconds is not None, ' '.join(cache_log)

    computed, log = run()
    assert computed and 'there is no cache file' in log
    computed, log = run()
    assert not computed and f'reusing {osp.join(work_dir, CACHE)}' in log

    path = _relabel_one(data, index=2)
    computed, log = run()
    assert computed
    assert f'the annotations changed (1 of 4 files, e.g. {path})' in log
    assert not run()[0]  # and now reused again

    computed, log = run(pipeline=True)
    assert computed and 'the data pipeline changed' in log
    computed, log = run(load_from=other_ckpt)
    assert computed and 'the frozen network weights changed' in log
    computed, log = run(load_from=other_ckpt, mean=[0., 0., 0.])
    assert computed and 'the data preprocessor settings changed' in log
