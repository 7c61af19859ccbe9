"""The helpers of the commands that train several rows side by side
(``mmseg_zs3.utils.jobs``), used by tools/demo.py and
benchmarks/bench_real_camvid.py."""
import os

import pytest
from mmengine.config import Config

from mmseg_zs3.utils.jobs import cores_share, plan_jobs, set_everywhere

STARTS = dict(b='a', c='b', e='d')


def test_set_everywhere_reaches_wrapped_and_listed_nodes():
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='Wrapper',
                    dataset=dict(type='Inner', data_root='old'),
                    data_root='old')),
            hooks=[dict(data_root='old'), 'data_root', 3],
            other=dict(root='untouched')))
    set_everywhere(cfg, 'data_root', 'new')
    assert cfg.train_dataloader.dataset.data_root == 'new'
    assert cfg.train_dataloader.dataset.dataset.data_root == 'new'
    assert cfg.hooks[0].data_root == 'new'
    assert cfg.hooks[1:] == ['data_root', 3]
    assert cfg.other == dict(root='untouched')
    assert 'data_root' not in cfg.other


@pytest.mark.parametrize(
    'rows,jobs,cost,groups',
    [
        (['a', 'b', 'c', 'x', 'y'], 1, None, [['a', 'b', 'c', 'x', 'y']]),
        (['a', 'b', 'c', 'x', 'y'], 2, None, [['a', 'b', 'c'], ['x', 'y']]),
        # a cheap chain does not take a group of its own before dearer rows
        (['a', 'b', 'x', 'y'], 2, dict(a=0.2, b=0.2), [['a', 'b', 'x'], ['y']]
         ),
        (['a', 'b', 'd', 'e'], 8, None, [['a', 'b'], ['d', 'e']]),
        (['x'], 3, None, [['x']]),
    ])
def test_plan_jobs(rows, jobs, cost, groups):
    """Chains stay together in their order; groups balanced by cost, never
    more than the chains."""
    assert plan_jobs(rows, jobs, STARTS, cost) == groups


@pytest.mark.parametrize('jobs', [0, -1])
def test_plan_jobs_refuses_no_process(jobs):
    with pytest.raises(ValueError, match=f'jobs={jobs}'):
        plan_jobs(['a'], jobs, STARTS)


def test_cores_share():
    cpus = os.cpu_count() or 1
    assert cores_share(1) == cpus
    assert cores_share(0) == cpus
    assert cores_share(2) == max(1, cpus // 2)
    assert cores_share(10 * cpus) == 1
