"""tools/train.py and tools/test.py flags, and mmseg's own unmodified
tools/train.py on a zs3 config."""
import glob
import os
import os.path as osp
import subprocess
import sys

import mmseg
from conftest import load_tool, write_tiny_config

from mmseg_zs3 import apis

_tool = load_tool


def test_train_flags(tmp_path, shapes_root):
    config = write_tiny_config(
        str(tmp_path / 'cfg.py'), shapes_root, str(tmp_path / 'x'))
    # --amp: tests/test_cli_checks.py (it needs a GPU)
    args = _tool('train').parse_args([
        config, '--work-dir',
        str(tmp_path / 'w'), '--resume', '--cfg-options',
        'train_cfg.max_iters=7'
    ])
    cfg = apis.setup_train_cfg(args)
    assert cfg.work_dir == str(tmp_path / 'w')
    assert cfg.resume is True
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.train_cfg.max_iters == 7
    assert cfg.launcher == 'none'


def test_test_tool_out_and_show_dir(tmp_path, shapes_root, trained_checkpoint):
    config = write_tiny_config(
        str(tmp_path / 'cfg.py'), shapes_root, str(tmp_path / 'x'))
    out = str(tmp_path / 'preds')
    args = _tool('test').parse_args([
        config, trained_checkpoint, '--work-dir',
        str(tmp_path / 'w'), '--out', out, '--show-dir',
        str(tmp_path / 'vis'), '--cfg-options',
        f'visualizer.name=vis_{tmp_path.name}'
    ])  # a new name: mmengine reuses a visualizer instance of the same name
    metrics = apis.test(args)
    assert 'mIoU' in metrics
    assert len(glob.glob(osp.join(out, '*.png'))) == 8
    drawn = glob.glob(
        osp.join(str(tmp_path / 'vis'), 'vis_data', 'vis_image', '*.png'))
    assert len(drawn) == 8  # every test image, not every 50th batch


def test_mmseg_unmodified_train_tool_runs_zs3_config(tmp_path, shapes_root):
    tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    work_dir = str(tmp_path / 'work')
    config = write_tiny_config(
        str(tmp_path / 'cfg.py'), shapes_root, work_dir, max_iters=2)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, tool, config],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
