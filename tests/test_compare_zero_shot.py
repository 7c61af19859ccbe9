"""tools/analysis_tools/compare_zero_shot.py: the work dirs of three tiny
runs on the shapes data (the supervised oracle, validated at the end of
training; the seen-only network, tested with tools/test.py --work-dir; ZS3Net
stage 2 from that seen-only checkpoint, tested by its runner) become one
table; and bad inputs are refused, named, before anything is written."""
import csv
import importlib.util
import json
import os
import os.path as osp
import shutil
from argparse import Namespace

import pytest
from conftest import REPO, tiny_config
from mmengine.runner import Runner
from test_zs3_stage2 import fast_runs  # noqa: F401 (autouse)
from test_zs3_stage2 import stage2_files  # noqa: F401 (fixture)
from test_zs3_stage2 import STAGE1_CONFIG, stage2_config

from mmseg_zs3.apis import test as run_test
from mmseg_zs3.apis.compare_zero_shot import COLUMNS
from mmseg_zs3.datasets.zs3_shapes import SHAPES_UNSEEN


def _load_compare_tool():
    spec = importlib.util.spec_from_file_location(
        'zs3_compare_zero_shot',
        osp.join(REPO, 'tools', 'analysis_tools', 'compare_zero_shot.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _load_compare_tool()


def _own_visualizer(cfg, name):
    """mmengine keeps one Visualizer per name in a process, writing where
    the first Runner that built it logs: each run gets its own."""
    cfg.visualizer.name = f'compare_{name}_{cfg.experiment_name}'
    return cfg


def _seen_only_cfg(shapes_root, work_dir):
    cfg = tiny_config(shapes_root, work_dir, config=STAGE1_CONFIG, max_iters=2)
    _own_visualizer(cfg, 'seen_only')
    dataset = cfg.train_dataloader.dataset  # the root is the inner one's
    dataset.dataset.data_root = dataset.pop('data_root')
    return cfg


@pytest.fixture(scope='module')
def three_runs(shapes_root, stage2_files, tmp_path_factory):  # noqa: F811
    """Work dirs ``oracle``, ``seen_only``, ``zs3net`` and the metrics each
    run reported."""
    base = tmp_path_factory.mktemp('compare')
    dirs = {n: str(base / n) for n in ('oracle', 'seen_only', 'zs3net')}
    metrics = {}
    # the oracle: validation after 2 iterations (vis_data/scalars.json)
    runner = Runner.from_cfg(
        _own_visualizer(
            tiny_config(shapes_root, dirs['oracle'], max_iters=2, val=True),
            'oracle'))
    runner.train()
    metrics['oracle'] = {
        k[len('val/'):]: v.current()
        for k, v in runner.message_hub.log_scalars.items()
        if k.startswith('val/')
    }
    # seen-only: trained, then tools/test.py CONFIG CKPT --work-dir
    Runner.from_cfg(_seen_only_cfg(shapes_root, dirs['seen_only'])).train()
    config = str(base / 'seen_only.py')
    _seen_only_cfg(shapes_root, dirs['seen_only']).dump(config)
    stage1 = osp.join(dirs['seen_only'], 'iter_2.pth')
    metrics['seen_only'] = run_test(
        Namespace(
            config=config,
            checkpoint=stage1,
            work_dir=dirs['seen_only'],
            out=None,
            show=False,
            show_dir=None,
            cfg_options=None,
            launcher='none',
            tta=False))
    # ZS3Net stage 2 from that checkpoint, tested by its own runner
    cfg = stage2_config(
        shapes_root, dirs['zs3net'], stage2_files, load_from=stage1)
    _own_visualizer(cfg, 'zs3net')
    cfg.test_dataloader.dataset.data_root = shapes_root
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics['zs3net'] = runner.test()
    return dict(dirs=dirs, metrics=metrics, base=str(base))


def test_three_runs_become_one_table(three_runs, tmp_path, capsys):
    dirs, metrics = three_runs['dirs'], three_runs['metrics']
    md, table, png = (str(tmp_path / f) for f in ('t.md', 't.csv', 't.png'))
    results = compare.main([
        dirs['oracle'], dirs['seen_only'], dirs['zs3net'], '--md', md, '--csv',
        table, '--plot', png
    ])
    assert [r.name for r in results] == ['oracle', 'seen_only', 'zs3net']
    assert [r.reference for r in results] == [True, False, False]
    assert results[0].kind == 'val @ 2'
    assert results[1].kind == results[2].kind == 'test'
    for r in results:
        for key, _ in COLUMNS:
            assert r.metrics[key] == pytest.approx(metrics[r.name][key]), \
                (r.name, key)
    printed = capsys.readouterr().out
    with open(md) as f:
        text = f.read()
    assert text in printed
    # the split and its unseen classes in the header
    header = text.splitlines()[0]
    assert '4 of 17 classes unseen' in header
    for name in SHAPES_UNSEEN:
        assert name in header
    # the best value of each column among the zero-shot rows, in bold
    lines = [line for line in text.splitlines() if line.startswith('| ')]
    assert lines[0] == ('| model | mIoU seen | mIoU unseen | hIoU | '
                        'pixel acc | mAcc seen | mAcc unseen |')
    rows = {line.split(' | ')[0][2:]: line.split(' | ')[1:] for line in lines}
    for col, (key, _) in enumerate(COLUMNS):
        values = {
            n: round(metrics[n][key], 1)
            for n in ('seen_only', 'zs3net')
        }
        top = max(values.values())
        for name in ('oracle', 'seen_only', 'zs3net'):
            cell = rows[name][col].rstrip(' |')
            bold = name != 'oracle' and values[name] == top
            assert cell.startswith('**') == bold, (name, key, cell)
            assert cell.strip('*') == f'{metrics[name][key]:.1f}'
    assert 'left out: oracle' in text
    # the CSV holds the same numbers, the marks and the split
    with open(table) as f:
        records = list(csv.DictReader(f))
    assert [r['model'] for r in records] == ['oracle', 'seen_only', 'zs3net']
    for record in records:
        for key, _ in COLUMNS:
            assert float(record[key]) == pytest.approx(
                metrics[record['model']][key])
        assert record['unseen_classes'].split(';') == list(SHAPES_UNSEEN)
    assert records[0]['reference'] == 'True' and records[0]['best'] == ''
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # files named directly, with row names
    test_json = results[1].source
    assert test_json.endswith('.json') and osp.isfile(test_json)
    again = compare.main([test_json, dirs['zs3net'], '--names', 'a', 'b'])
    assert [r.name for r in again] == ['a', 'b']
    assert again[0].metrics == results[1].metrics


def _copy_run(three_runs, name, dst):
    """A copy of a work dir, to be damaged."""
    return shutil.copytree(three_runs['dirs'][name], dst)


def _run_config(work_dir):
    runs = sorted(d for d in os.listdir(work_dir) if d[:8].isdigit())
    return osp.join(work_dir, runs[-1], 'vis_data', 'config.py')


def _edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, 'w') as f:
        f.write(text.replace(old, new))


def test_mixed_splits_refused(three_runs, tmp_path):
    other = _copy_run(three_runs, 'zs3net', str(tmp_path / 'other_split'))
    _edit(_run_config(other), "'yellow cross'", "'yellow circle'")
    with pytest.raises(ValueError) as err:
        compare.main([three_runs['dirs']['seen_only'], other])
    message = str(err.value)
    assert 'different splits' in message
    assert "['seen_only']" in message and "['other_split']" in message
    assert 'yellow circle' in message and 'yellow cross' in message


def test_work_dir_without_results(tiny_run, tmp_path):
    """A training run that was never evaluated, an empty folder, and a
    missing path are named."""
    with pytest.raises(ValueError) as err:
        compare.main([tiny_run['work_dir']])
    assert tiny_run['work_dir'] in str(err.value)
    assert 'no evaluation results (1 run folder' in str(err.value)
    assert 'tools/test.py CONFIG CHECKPOINT --work-dir' in str(err.value)
    empty = str(tmp_path / 'empty')
    os.mkdir(empty)
    with pytest.raises(ValueError, match='no <timestamp>/ run folder'):
        compare.main([empty])
    missing = str(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError, match=missing):
        compare.main([missing])


def test_not_zero_shot_metrics_refused(three_runs, tmp_path):
    # a run evaluated with mmseg's IoUMetric (no seen / unseen numbers)
    plain = _copy_run(three_runs, 'zs3net', str(tmp_path / 'plain'))
    config = _run_config(plain)
    _edit(config, "type='ZeroShotIoUMetric'", "type='IoUMetric'")
    with pytest.raises(ValueError) as err:
        compare.main([plain])
    assert config in str(err.value) and "['IoUMetric']" in str(err.value)
    # a metrics file without the zero-shot keys
    path = str(tmp_path / 'iou.json')
    with open(path, 'w') as f:
        json.dump(dict(aAcc=90., mIoU=50., mAcc=60.), f)
    with pytest.raises(ValueError, match=f'{path} holds no zero-shot'):
        compare.main([path])
    # a truncated metrics file
    bad = _copy_run(three_runs, 'seen_only', str(tmp_path / 'bad'))
    source = compare.load_results([bad])[0].source
    with open(source, 'w') as f:
        f.write('{"aAcc": 9')
    with pytest.raises(ValueError, match=f'{source}, line 1: not JSON'):
        compare.main([source])


def test_config_is_read_as_data_never_run(three_runs, tmp_path):
    """A dumped config holding code is refused, naming file and line; the
    code does not run."""
    evil = _copy_run(three_runs, 'zs3net', str(tmp_path / 'evil'))
    config = _run_config(evil)
    marker = str(tmp_path / 'ran')
    with open(config, 'a') as f:
        f.write(f"\ntest_evaluator = open({marker!r}, 'w')\n")
    with pytest.raises(ValueError) as err:
        compare.main([evil])
    assert config in str(err.value) and 'is not plain data' in str(err.value)
    assert not osp.exists(marker)
    # the metrics file alone, without its run's config
    alone = str(tmp_path / 'alone.json')
    shutil.copy(
        compare.load_results([three_runs['dirs']['zs3net']])[0].source, alone)
    with pytest.raises(FileNotFoundError, match='config of its run'):
        compare.main([alone])


def test_bad_names_and_outputs(three_runs, tmp_path):
    dirs = three_runs['dirs']
    with pytest.raises(ValueError, match=r'1 names \[.a.\] for 2 results'):
        compare.main([dirs['oracle'], dirs['zs3net'], '--names', 'a'])
    twin = _copy_run(three_runs, 'zs3net', str(tmp_path / 'x' / 'zs3net'))
    with pytest.raises(ValueError, match=r"\['zs3net'\] are given to more"):
        compare.main([dirs['zs3net'], twin])
    with pytest.raises(ValueError, match=r"--reference \['orcle'\]"):
        compare.main([dirs['oracle'], '--reference', 'orcle'])
    with pytest.raises(SystemExit):  # argparse: a folder as --csv
        compare.main([dirs['oracle'], '--csv', str(tmp_path)])
    # an explicit reference replaces the default (oracle) one
    results = compare.main(
        [dirs['oracle'], dirs['seen_only'], '--reference', 'seen_only'])
    assert [r.reference for r in results] == [False, True]


def test_more_bad_inputs(three_runs, tmp_path, capsys):
    # a binary file
    binary = str(tmp_path / 'metrics.json')
    with open(binary, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n\xff\xfe')
    with pytest.raises(ValueError, match=f'{binary} is not text'):
        compare.main([binary])
    # a scalars.json with training lines only
    train_only = str(tmp_path / 'scalars.json')
    with open(train_only, 'w') as f:
        f.write('{"loss": 1.0, "step": 1}\n{"loss": 0.9, "step": 2}\n')
    with pytest.raises(ValueError, match='holds no zero-shot metrics'):
        compare.main([train_only])
    # a metric that is no number
    text = _copy_run(three_runs, 'seen_only', str(tmp_path / 'text'))
    source = compare.load_results([text])[0].source
    with open(source) as f:
        record = json.load(f)
    record['hIoU'] = 'high'
    with open(source, 'w') as f:
        json.dump(record, f)
    with pytest.raises(ValueError) as err:
        compare.main([text])
    assert source in str(err.value) and "{'hIoU': 'high'}" in str(err.value)
    # a split that does not resolve
    unknown = _copy_run(three_runs, 'zs3net', str(tmp_path / 'unknown'))
    config = _run_config(unknown)
    _edit(config, "'yellow cross'", "'purple cross'")
    with pytest.raises(ValueError) as err:
        compare.main([unknown])
    assert config in str(err.value) and 'purple cross' in str(err.value)
    # an output whose folder is a file: refused before anything is read
    with pytest.raises(SystemExit):
        compare.main([
            three_runs['dirs']['oracle'], '--md',
            str(tmp_path / 'metrics.json' / 'table.md')
        ])
    assert 'metrics.json' in capsys.readouterr().err
