"""``tools/image_demo.py``: segment an image or a folder, draw the result
through mmseg's ``SegLocalVisualizer`` with a legend strip (unseen classes
marked ``*``), small images enlarged; classes added by name on the fly; bad
inputs named before any work.

The model is a tiny ZS3Net stage 2 (the shipped shapes config, one epoch on
four images from an initialised stage 1): the drawing does not depend on its
accuracy.
"""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import (REPO, load_tool, unique_experiment_name,
                      use_embedding_file)
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from mmseg_zs3.apis.image_demo import (ImageDemoError, draw_segmentation,
                                       legend_strip, run_image_demo)
from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
from mmseg_zs3.embeddings import build_class_embeddings, load_packaged_glove

CONFIGS = osp.join(REPO, 'configs', 'zs3')
STAGE1_CONFIG = osp.join(
    CONFIGS, 'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
STAGE2_CONFIG = osp.join(CONFIGS,
                         'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
CLASSES = list(ZS3ShapesDataset.METAINFO['classes'])
PALETTE = [list(p) for p in ZS3ShapesDataset.METAINFO['palette']]


@pytest.fixture(scope='module')
def model_files(shapes_root, tmp_path_factory):
    """A tiny stage-2 config and checkpoint."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    root = tmp_path_factory.mktemp('image_demo')
    emb = str(root / 'emb.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(emb)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    stage1_cfg = Config.fromfile(STAGE1_CONFIG)
    use_embedding_file(stage1_cfg.model, emb)
    stage1 = MODELS.build(stage1_cfg.model)
    stage1.init_weights()
    stage1_path = str(root / 'stage1.pth')
    torch.save(dict(state_dict=stage1.state_dict(), meta={}), stage1_path)
    cfg = Config.fromfile(STAGE2_CONFIG)
    cfg.experiment_name = unique_experiment_name()
    cfg.work_dir = str(root / 'work_dir')
    cfg.log_level = 'WARNING'
    cfg.load_from = stage1_path
    cfg.model.class_embedding.embedding_file = emb
    cfg.model.generative_head.num_samples = 16
    loader = cfg.train_dataloader
    loader.batch_size = 4
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.dataset.data_root = shapes_root
    loader.dataset.dataset.indices = 4
    cfg.train_cfg = dict(
        type='ZS3FeatureCacheTrainLoop',
        max_epochs=1,
        val_interval=1,
        max_per_class=200)
    for scheduler in cfg.param_scheduler:
        scheduler.end = 2
    cfg.default_hooks.checkpoint.interval = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_dataloader.dataset.data_root = shapes_root
    Runner.from_cfg(cfg).train()
    config = str(root / 'zs3net.py')
    cfg.dump(config)
    return dict(
        config=config, checkpoint=osp.join(cfg.work_dir, 'epoch_1.pth'))


def _val_images(shapes_root):
    folder = osp.join(shapes_root, 'img_dir', 'val')
    return folder, sorted(os.listdir(folder))


def test_one_image_enlarged_with_legend(model_files, shapes_root, tmp_path):
    folder, names = _val_images(shapes_root)
    out = str(tmp_path / 'one.png')
    result, = run_image_demo(
        osp.join(folder, names[0]),
        model_files['config'],
        model_files['checkpoint'],
        out_file=out)
    assert result['out'] == out and result['classes']
    assert set(result['classes']) <= set(CLASSES)
    drawn = np.asarray(Image.open(out).convert('RGB'))
    # 64x64 enlarged 4x to 256x256, a legend strip below it
    assert drawn.shape[1] >= 256 and drawn.shape[0] > 256
    strip = drawn[256:]
    assert (strip == 255).mean() > 0.5  # a white strip with swatches/text
    assert not (strip == 255).all()


def test_overlay_is_the_visualizer_blend(shapes_root):
    folder, names = _val_images(shapes_root)
    image = np.asarray(Image.open(osp.join(folder, names[0])).convert('RGB'))
    labels = np.zeros(image.shape[:2], dtype=np.int64)
    labels[10:30, 10:30] = 13  # yellow circle
    drawn = draw_segmentation(
        image, labels, CLASSES, PALETTE, unseen=(), opacity=0.25, min_size=64)
    expected = (image[20, 20] * 0.75 + np.array(PALETTE[13]) * 0.25).astype(
        np.uint8)
    np.testing.assert_array_equal(drawn[20, 20], expected)
    np.testing.assert_array_equal(drawn[50, 50],
                                  (image[50, 50] * 0.75).astype(np.uint8))
    assert drawn.shape[0] > 64  # the legend strip
    big = draw_segmentation(
        image, labels, CLASSES, PALETTE, opacity=0.25, min_size=200)
    assert big.shape[1] == 256  # 64 * 4: whole factors only
    np.testing.assert_array_equal(big[20 * 4 + 1, 20 * 4 + 2], expected)


def test_legend_marks_unseen_classes_and_wraps():
    from mmseg_zs3.apis.image_demo import _legend_entries
    labels = np.array([[0, 0, 0, 1], [16, 16, 0, 0]])
    entries = _legend_entries(labels, CLASSES, unseen=['red circle'])
    assert entries == [(0, 'background'), (16, 'yellow cross'),
                       (1, 'red circle *')]
    narrow = legend_strip(entries, PALETTE, 80, note='* unseen')
    wide = legend_strip(entries, PALETTE, 2000, note='* unseen')
    assert narrow.shape[0] > wide.shape[0]  # wrapped onto more lines
    assert narrow.shape[1] >= 80


def test_folder_with_progress_and_added_class(model_files, shapes_root,
                                              tmp_path, log_messages):
    folder, names = _val_images(shapes_root)
    out_dir = str(tmp_path / 'vis')
    results = run_image_demo(
        folder,
        model_files['config'],
        model_files['checkpoint'],
        out_dir=out_dir,
        classes=['orange star'],
        progress=False)
    assert sorted(os.listdir(out_dir)) == names
    assert [r['out'] for r in results] == [osp.join(out_dir, n) for n in names]
    assert any(f'image_demo: {len(names)}/{len(names)}' in m
               for m in log_messages)
    # the added class is part of the model, unseen ('*' in a legend)
    assert results[0]['unseen'] == [
        'red circle', 'green square', 'blue triangle', 'yellow cross',
        'orange star'
    ]


def test_cli_one_image(model_files, shapes_root, tmp_path, capsys):
    folder, names = _val_images(shapes_root)
    out = str(tmp_path / 'cli.png')
    load_tool('image_demo').main([
        osp.join(folder, names[1]), model_files['config'],
        model_files['checkpoint'], '--out-file', out, '--opacity', '0.7'
    ])
    assert out in capsys.readouterr().out
    assert Image.open(out).format == 'PNG'


# ---------------------------------------------------------------------------
# bad input: named, before the model is built or anything is written
def test_unreadable_image_named_before_any_output(model_files, shapes_root,
                                                  tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    good = np.asarray(
        Image.open(osp.join(shapes_root, 'img_dir', 'val', 'val_00000.png')))
    Image.fromarray(good).save(folder / 'a.png')
    (folder / 'b.png').write_bytes(b'not an image at all')
    out_dir = tmp_path / 'vis'
    with pytest.raises(ImageDemoError) as e:
        run_image_demo(
            str(folder),
            model_files['config'],
            model_files['checkpoint'],
            out_dir=str(out_dir))
    assert str(folder / 'b.png') in str(e.value)
    assert 'cannot read the image' in str(e.value)
    assert not out_dir.exists()


def test_bad_outputs_named(model_files, shapes_root, tmp_path):
    folder, names = _val_images(shapes_root)
    image = osp.join(folder, names[0])
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    args = (model_files['config'], model_files['checkpoint'])
    cases = [
        (dict(out_file=str(blocker / 'x.png')), str(blocker / 'x.png'),
         'is a file, not a folder'),
        (dict(out_dir=str(blocker)), str(blocker), 'is a file'),
        (dict(out_file=str(tmp_path / 'x.gif')), 'x.gif', 'expected a file'),
        (dict(), 'neither', 'neither'),
        (dict(out_file='a.png', out_dir='b'), 'both', 'both'),
        (dict(out_dir=folder), image, 'overwrite that input'),
    ]
    for kwargs, named, shown in cases:
        with pytest.raises(ImageDemoError) as e:
            run_image_demo(image, *args, **kwargs)
        assert named in str(e.value) and shown in str(e.value), str(e.value)
    with pytest.raises(ImageDemoError, match='give --out-dir'):
        run_image_demo(folder, *args, out_file=str(tmp_path / 'x.png'))
    with pytest.raises(ImageDemoError, match='--opacity 1.5'):
        run_image_demo(
            image, *args, out_file=str(tmp_path / 'x.png'), opacity=1.5)
    missing = str(tmp_path / 'missing.png')
    with pytest.raises(ImageDemoError, match='not found'):
        run_image_demo(missing, *args, out_file=str(tmp_path / 'x.png'))
    assert not (tmp_path / 'x.png').exists()


def test_cli_errors_are_one_line(model_files, shapes_root, tmp_path):
    folder, names = _val_images(shapes_root)
    tool = load_tool('image_demo')
    (tmp_path / 'f.txt').write_text('x')
    with pytest.raises(SystemExit) as e:
        tool.main([
            osp.join(folder, names[0]), model_files['config'],
            model_files['checkpoint'], '--out-file',
            str(tmp_path / 'f.txt' / 'x.png')
        ])
    assert str(e.value).startswith('error: ') and 'f.txt' in str(e.value)
    with pytest.raises(SystemExit) as e:
        tool.main([
            osp.join(folder, names[0]), model_files['config'],
            model_files['checkpoint'], '--out-file',
            str(tmp_path / 'x.png'), '--classes', 'red circle'
        ])
    assert 'already a class of the model' in str(e.value)
    assert not (tmp_path / 'x.png').exists()
