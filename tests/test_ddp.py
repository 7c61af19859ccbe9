"""Two-process CPU DDP training (gloo) through mmengine's own engine."""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch
from conftest import REPO, write_tiny_config


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_end_with_identical_weights(
        shapes_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    config = write_tiny_config(
        str(tmp_path / 'tiny.py'),
        shapes_root,
        work_dir,
        max_iters=3,
        checkpoint_interval=3)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        osp.join(REPO, 'tests', 'ddp_train.py'), config, work_dir
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    ranks = [
        torch.load(osp.join(work_dir, f'rank{r}_run0.pth')) for r in (0, 1)
    ]
    assert all(r['world_size'] == 2 and r['wrapped'] for r in ranks)
    # Both ranks train on different batches; DDP's gradient all-reduce keeps
    # the parameters identical. (BN running statistics are per rank, as
    # mmengine's wrapper uses broadcast_buffers=False.)
    for key, value in ranks[0]['params'].items():
        torch.testing.assert_close(ranks[1]['params'][key], value, msg=key)
    # Rank 0 saved a regular checkpoint with the same weights.
    saved = torch.load(osp.join(work_dir, 'iter_3.pth'))['state_dict']
    for key, value in ranks[0]['params'].items():
        torch.testing.assert_close(saved[key], value, msg=key)
