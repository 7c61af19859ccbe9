"""The demo pipeline (``make demo``) on a tiny version of the data."""
import json
import os
import os.path as osp

import cv2
import pytest

from mmseg_zs3.apis.demo import plan_jobs, run_demo

KEYS = {'mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc', 'train_seconds'}

TINY = dict(
    num_train=24,
    num_val=4,
    num_calib=4,
    image_size=32,  # not the configs' 64: the demo resizes the model
    stage1_iters=2,
    stage2_epochs=2,
    num_workers=0,
    num_figure_images=2)


def test_demo_pipeline_tiny(tmp_path, capfd):
    """The whole demo as ``make demo`` runs it: rows in two processes."""
    work_dir = str(tmp_path / 'demo')
    summary = run_demo(
        work_dir=work_dir, data_root=str(tmp_path / 'data'), jobs=2, **TINY)
    out, err = capfd.readouterr()
    # the job processes start no warning about mmengine's start method
    assert 'start method' not in err
    assert ('2 processes side by side, ' in out
            and 'seen_only, zs3net, zs5net | devise, oracle' in out)
    assert list(summary) == [
        'seen_only', 'devise', 'zs3net', 'zs3net_calibrated', 'zs5net',
        'oracle'
    ]
    for row in summary.values():
        assert KEYS <= set(row)
        for key in ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc'):
            assert 0 <= row[key] <= 100
    with open(osp.join(work_dir, 'summary.json')) as f:
        assert json.load(f) == summary
    for name in ('summary.md', 'predictions.png', 'stage2_losses.png'):
        assert osp.getsize(osp.join(work_dir, name)) > 0
    table = open(osp.join(work_dir, 'summary.md')).read()
    assert 'ZS3Net calibrated' in table and 'ZS5Net' in table
    # one figure column per model row, plus the image and its ground truth:
    # the figure is 1.8 inches per column at 110 dpi
    width = cv2.imread(osp.join(work_dir, 'predictions.png')).shape[1]
    assert width == round(1.8 * (len(summary) + 2) * 110)
    # ZS5Net started from ZS3Net's checkpoint and labelled the training
    # images before its first step
    zs5net_dir = osp.join(work_dir, 'zs5net')
    assert osp.isfile(
        osp.join(zs5net_dir, 'pseudo_labels', 'pseudo_labels.json'))
    assert osp.isfile(osp.join(zs5net_dir, 'epoch_8.pth'))


@pytest.mark.parametrize('rows,missing', [
    (('zs3net', ), 'seen_only/iter_1800.pth'),
    (('zs5net', ), 'zs3net/epoch_10.pth'),
    (('seen_only', 'zs5net', 'zs3net'), 'zs3net/epoch_10.pth'),
])
def test_demo_refuses_a_row_without_its_start(tmp_path, rows, missing):
    with pytest.raises(ValueError, match=f'rows=.*{missing}.*does not exist'):
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(tmp_path / 'data'),
            rows=rows)
    assert not (tmp_path / 'data').exists()  # refused before any work


def test_demo_refuses_a_row_named_twice(tmp_path):
    with pytest.raises(ValueError, match="rows=.*'devise', 'devise'.*twice"):
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(tmp_path / 'data'),
            rows=('devise', 'devise'))
    assert not (tmp_path / 'data').exists()


@pytest.mark.parametrize('size', [0, 40, 72])
def test_demo_refuses_image_size_the_network_cannot_take(tmp_path, size):
    with pytest.raises(
            ValueError, match=f'image_size={size};.*multiple of 16'):
        run_demo(
            work_dir=str(tmp_path / 'demo'),
            data_root=str(tmp_path / 'data'),
            image_size=size)
    assert not (tmp_path / 'data').exists()  # refused before any work


class _Maps:
    """A dataset stand-in: ``get_data_info`` of label maps on disk."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def get_data_info(self, i):
        return dict(seg_map_path=self.paths[i])


def test_figure_images_show_unseen_classes_first(tmp_path):
    import cv2
    import numpy as np

    from mmseg_zs3.apis.demo import _figure_indices

    # maps 1 and 4 hold unseen class 3 (map 4 only at one pixel); the others
    # hold seen classes, background and ignore
    labels = [[0, 1], [0, 3], [2, 255], [0, 0], [1, 1], [0, 2]]
    paths = []
    for i, (a, b) in enumerate(labels):
        m = np.full((4, 4), a, np.uint8)
        m[0, 0] = b if i != 4 else 3
        m[1, 1] = b
        paths.append(str(tmp_path / f'{i}.png'))
        cv2.imwrite(paths[-1], m)
    for seed in range(5):
        chosen = _figure_indices(_Maps(paths), [3], 3, seed)
        assert len(chosen) == 3 and chosen == sorted(set(chosen))
        assert {1, 4} <= set(chosen)
    assert _figure_indices(_Maps(paths), [3], 2, 0) == [1, 4]
    assert _figure_indices(_Maps(paths), [3], 10, 0) == list(range(6))


def test_bench_demo_seeds_checks_zs5net_bars():
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location(
        'bench_demo_seeds', osp.join(REPO, 'benchmarks',
                                     'bench_demo_seeds.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    def row(seen, unseen, hiou):
        return dict(mIoU_seen=seen, mIoU_unseen=unseen, hIoU=hiou)

    summaries = {
        0:
        dict(
            zs3net=row(78.0, 40.0, 52.0),
            zs5net=row(75.5, 60.0, 67.0),
            oracle=row(86.0, 84.0, 85.0)),
        1:
        dict(
            zs3net=row(78.0, 40.0, 52.0),
            zs5net=row(74.9, 40.0, 53.0),
            oracle=row(86.0, 84.0, 85.0)),
    }
    lines = tool.zs5net_checks(summaries)
    assert lines == [
        'PASS seed 0: ZS5Net mIoU_unseen 60.0 > ZS3Net (40.0)',
        'PASS seed 0: ZS5Net hIoU 67.0 > ZS3Net (52.0)',
        'PASS seed 0: ZS5Net mIoU_seen 75.5 >= ZS3Net - 3 (78.0)',
        'FAIL seed 1: ZS5Net mIoU_unseen 40.0 > ZS3Net (40.0)',
        'PASS seed 1: ZS5Net hIoU 53.0 > ZS3Net (52.0)',
        'FAIL seed 1: ZS5Net mIoU_seen 74.9 >= ZS3Net - 3 (78.0)',
        'FAIL mean ZS5Net hIoU / mean oracle hIoU 0.706 >= 0.85',
    ]
    summaries[0]['devise'] = row(77.0, 45.0, 56.8)
    summaries[1]['devise'] = row(77.0, 30.0, 43.2)
    assert tool.zs5net_checks(summaries)[-3:] == [
        'FAIL seed 0: ZS3Net hIoU 52.0 > DeViSE (56.8)',
        'PASS seed 1: ZS3Net hIoU 52.0 > DeViSE (43.2)',
        'FAIL mean ZS5Net hIoU / mean oracle hIoU 0.706 >= 0.85',
    ]
    del summaries[1]['zs5net']
    assert tool.zs5net_checks(summaries) == []


def test_demo_rows_in_one_process_equal_rows_in_two(tmp_path):
    """Each row seeds itself: the rows trained one after another in this
    process give the results of the same rows in two processes (at one
    thread each on 2 cores; more cores give the processes more threads and
    so other rounding)."""
    import torch
    rows = ('seen_only', 'zs3net', 'oracle')
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        one = run_demo(
            work_dir=str(tmp_path / 'one'),
            data_root=str(tmp_path / 'data'),
            rows=rows,
            jobs=1,
            **TINY)
    finally:
        torch.set_num_threads(threads)
    two = run_demo(
        work_dir=str(tmp_path / 'two'),
        data_root=str(tmp_path / 'data'),
        rows=rows,
        jobs=2,
        **TINY)
    assert list(one) == list(two) == [
        'seen_only', 'zs3net', 'zs3net_calibrated', 'oracle'
    ]
    for row in one:
        for key in ('mIoU_seen', 'mIoU_unseen', 'hIoU', 'aAcc'):
            assert one[row][key] == pytest.approx(
                two[row][key], abs=1e-6), (row, key)


def _children(pid: int) -> list:
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    kids = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.isdigit() and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


@pytest.mark.skipif(not osp.isdir('/proc'), reason='reads /proc (Linux)')
def test_demo_jobs_end_with_the_demo_when_it_is_terminated(tmp_path):
    """SIGTERM to ``tools/demo.py`` (a scheduler's stop, ``kill``) ends its
    training processes too: no row trains on, orphaned, into the work
    dir."""
    import signal
    import subprocess
    import sys
    import time
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    proc = subprocess.Popen([
        sys.executable,
        osp.join(repo, 'tools', 'demo.py'), '--work-dir',
        str(tmp_path / 'demo'), '--data-root',
        str(tmp_path / 'data'), '--num-train', '24', '--num-val', '4',
        '--num-calib', '4', '--image-size', '32', '--stage1-iters', '100000',
        '--num-workers', '0', '--jobs', '2'
    ],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True)
    started = set()
    for line in proc.stdout:  # until both processes train
        if line.startswith('[demo] training '):
            started.add(line)
        if len(started) == 2:
            break
    jobs = _children(proc.pid)
    assert len(jobs) >= 2, jobs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    deadline = time.time() + 30
    while time.time() < deadline and any(
            osp.exists(f'/proc/{p}') for p in jobs):
        time.sleep(0.5)
    alive = [p for p in jobs if osp.exists(f'/proc/{p}')]
    assert not alive, f'processes {alive} outlived the demo'


@pytest.mark.parametrize('rows,jobs,groups', [
    (('seen_only', 'devise', 'zs3net', 'zs5net', 'oracle'), 1,
     [['seen_only', 'devise', 'zs3net', 'zs5net', 'oracle']]),
    (('seen_only', 'devise', 'zs3net', 'zs5net', 'oracle'), 2,
     [['seen_only', 'zs3net', 'zs5net'], ['devise', 'oracle']]),
    (('seen_only', 'devise', 'zs3net', 'zs5net', 'oracle'), 3,
     [['seen_only', 'zs3net', 'zs5net'], ['devise'], ['oracle']]),
    (('seen_only', 'zs3net'), 2, [['seen_only', 'zs3net']]),
    (('devise', 'oracle'), 2, [['devise'], ['oracle']]),
    (('devise', 'oracle', 'seen_only'), 4, [['devise'], ['oracle'],
                                            ['seen_only']]),
])
def test_plan_jobs_keeps_the_chain_together(rows, jobs, groups):
    """A row that starts from another's checkpoint trains after it in the
    same process; the other rows fill the other processes."""
    assert plan_jobs(rows, jobs) == groups
