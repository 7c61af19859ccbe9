"""ZS3DataPreProcessor: channels-last image batches, pixel batches."""
import copy
import os.path as osp

import torch
from conftest import use_embedding_file
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_zs3  # noqa: F401

init_default_scope('mmseg')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHAPES_SEEN_ONLY = osp.join(
    REPO, 'configs/zs3/seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')
ARGS = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(32, 48))


def image_batch(n=2, size=(32, 48), num_classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(
            torch.randint(0, 256, (3, *size), generator=g, dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *size), generator=g))
        s.set_metainfo(dict(img_shape=size, pad_shape=size, ori_shape=size))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_channels_last_gives_the_same_values_in_nhwc_memory():
    stock = MODELS.build(dict(type='SegDataPreProcessor', **ARGS))
    ours = MODELS.build(
        dict(type='ZS3DataPreProcessor', channels_last=True, **ARGS))
    plain = MODELS.build(dict(type='ZS3DataPreProcessor', **ARGS))
    batch = image_batch()
    ref = stock(copy.deepcopy(batch), True)['inputs']
    out = ours(copy.deepcopy(batch), True)['inputs']
    assert out.shape == ref.shape == (2, 3, 32, 48)
    assert torch.equal(out, ref)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert not out.is_contiguous()
    # off by default: exactly mmseg's
    default = plain(copy.deepcopy(batch), True)['inputs']
    assert torch.equal(default, ref) and default.is_contiguous()


def test_channels_last_leaves_pixel_batches_alone():
    ours = MODELS.build(
        dict(type='ZS3DataPreProcessor', channels_last=True, **ARGS))
    feats, labels = torch.randn(7, 4), torch.arange(7)
    out = ours(dict(inputs=feats, data_samples=labels), True)
    assert torch.equal(out['inputs'], feats)
    assert torch.equal(out['data_samples'], labels)


def test_shapes_model_trains_alike_in_both_memory_formats(shapes_root):
    """The demo's U-Net (its config has channels_last=True) from the same
    weights, against a float64 NCHW reference: the loss to 1e-5 and the
    gradient to float32 rounding in either memory format (relative error of
    the whole gradient vector ~1.5e-3 NCHW, ~5e-3 channels-last: its BN and
    convolution backward sum in another order; bound 2e-2)."""
    cfg = Config.fromfile(SHAPES_SEEN_ONLY)
    use_embedding_file(
        cfg.model, osp.join(shapes_root, 'class_embeddings_glove-6B-50d.npz'))
    assert cfg.model.data_preprocessor.channels_last is True
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    results = {}
    for name in ('float64', 'nchw', 'channels_last'):
        m = copy.deepcopy(model)
        m.data_preprocessor.channels_last = name == 'channels_last'
        data = m.data_preprocessor(
            image_batch(4, (64, 64), num_classes=17), True)
        assert data['inputs'].is_contiguous(
            memory_format=torch.channels_last) == (
                name == 'channels_last')
        if name == 'float64':
            m.double()
            data['inputs'] = data['inputs'].double()
        torch.manual_seed(1)  # the head's dropout
        losses = m(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        loss.backward()
        grads = torch.cat([
            p.grad.double().flatten() for p in m.parameters()
            if p.grad is not None
        ])
        results[name] = (float(loss), grads)
    ref_loss, ref_grad = results.pop('float64')
    assert ref_grad.norm() > 0
    for name, (loss, grad) in results.items():
        assert abs(loss - ref_loss) < 1e-5 * abs(ref_loss), name
        rel = float((grad - ref_grad).norm() / ref_grad.norm())
        assert rel < 2e-2, (name, rel)
