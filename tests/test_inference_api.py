"""mmseg's inference API from ``mmseg_zs3.apis``, and the README snippet.

On the CPU stack ``from mmseg.apis import init_model`` only works once
``mmseg_zs3`` is imported; ``mmseg_zs3.apis`` offers the same functions, so the
snippet works in a fresh interpreter whatever the import order. The snippet is
run verbatim, in a fresh process, from a folder laid out as after
``make demo`` (the config, the data and the ZS3Net checkpoint at their demo
paths), without the class-embedding file: the checkpoint holds it.
"""
import os
import os.path as osp
import subprocess
import sys

import mmseg.apis
import numpy as np
import torch
from conftest import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_zs3.apis
from mmseg_zs3.datasets.zs3_shapes import ZS3ShapesDataset
from mmseg_zs3.embeddings import ClassEmbeddings

# The README's inference snippet, verbatim.
README_SNIPPET = """\
from mmseg_zs3.apis import inference_model, init_model

# the ZS3Net model that `make demo` trained: its config and checkpoint (the
# checkpoint holds the class embeddings: the embedding file is not needed)
model = init_model(
    'configs/zs3/zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py',
    'work_dirs/demo/zs3net/epoch_10.pth',
    device='cpu')
result = inference_model(model, 'data/zs3_shapes/img_dir/val/val_00000.png')
labels = result.pred_sem_seg.data[0]  # (H, W) class indices
classes = model.dataset_meta['classes']
print([classes[i] for i in labels.unique().tolist()])
"""
CONFIG = 'configs/zs3/zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py'
CLASSES = list(ZS3ShapesDataset.METAINFO['classes'])


def test_the_same_functions_as_mmseg():
    for name in ('init_model', 'inference_model', 'show_result_pyplot',
                 'MMSegInferencer'):
        assert getattr(mmseg_zs3.apis, name) is getattr(mmseg.apis, name)


def _demo_layout(root: str, shapes_root: str) -> list:
    """``configs/``, ``data/zs3_shapes/`` (without an embedding file) and a
    ZS3Net checkpoint at the demo's path; returns the expected output."""
    os.symlink(osp.join(REPO, 'configs'), osp.join(root, 'configs'))
    data = osp.join(root, 'data', 'zs3_shapes')
    os.makedirs(data)
    for entry in os.listdir(shapes_root):  # all but the class embeddings
        if not entry.endswith('.npz'):
            os.symlink(osp.join(shapes_root, entry), osp.join(data, entry))
    assert not osp.exists(
        osp.join(root, 'data/zs3_shapes/class_embeddings_glove-6B-50d.npz'))
    emb = osp.join(root, 'training_embeddings.npz')
    ClassEmbeddings(
        CLASSES,
        np.random.default_rng(0).normal(size=(len(CLASSES), 50)).astype(
            np.float32)).save(emb)
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    cfg.model.class_embedding.embedding_file = emb
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # a classifier that predicts several classes
        model.decode_head.classifier.conv.weight.normal_(0, 1)
    ckpt = osp.join(root, 'work_dirs/demo/zs3net/epoch_10.pth')
    os.makedirs(osp.dirname(ckpt))
    dataset_meta = dict(
        classes=CLASSES, palette=ZS3ShapesDataset.METAINFO['palette'])
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dataset_meta)), ckpt)
    os.remove(emb)
    model.cfg = cfg
    model.eval()
    model.dataset_meta = dataset_meta
    result = mmseg.apis.inference_model(
        model, osp.join(shapes_root, 'img_dir/val/val_00000.png'))
    return [CLASSES[i] for i in result.pred_sem_seg.data[0].unique().tolist()]


def test_readme_snippet_verbatim_in_a_fresh_process(shapes_root, tmp_path):
    expected = _demo_layout(str(tmp_path), shapes_root)
    assert len(expected) > 1
    proc = subprocess.run([sys.executable, '-c', README_SNIPPET],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == repr(expected)
