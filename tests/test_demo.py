"""The demo pipeline (``make demo``) on a tiny version of the data."""
import json
import os.path as osp

from mmseg_zs3.apis.demo import run_demo

KEYS = {'mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc', 'train_seconds'}


def test_demo_pipeline_tiny(tmp_path):
    work_dir = str(tmp_path / 'demo')
    summary = run_demo(
        work_dir=work_dir,
        data_root=str(tmp_path / 'data'),
        num_train=24,
        num_val=4,
        num_calib=4,
        stage1_iters=2,
        stage2_epochs=2,
        num_workers=0,
        num_figure_images=2)
    assert list(summary) == [
        'seen_only', 'devise', 'zs3net', 'zs3net_calibrated', 'oracle'
    ]
    for row in summary.values():
        assert KEYS <= set(row)
        for key in ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc'):
            assert 0 <= row[key] <= 100
    with open(osp.join(work_dir, 'summary.json')) as f:
        assert json.load(f) == summary
    for name in ('summary.md', 'predictions.png', 'stage2_losses.png'):
        assert osp.getsize(osp.join(work_dir, name)) > 0
    assert 'ZS3Net calibrated' in open(osp.join(work_dir, 'summary.md')).read()
