import copy

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_zs3  # noqa: F401
from mmseg_zs3.embeddings import ClassEmbeddings
from mmseg_zs3.utils.extra_state import decode_extra_state

init_default_scope("mmseg")

CLASSES = ('background', 'cat', 'dog', 'cow', 'bird')
SPLIT = dict(unseen=['cow'])
BN = dict(type='BN', requires_grad=True)
RESNET = dict(
    type='ResNetV1c',
    depth=18,
    stem_channels=8,
    base_channels=8,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    dilations=(1, 1, 2, 4),
    strides=(1, 2, 1, 1),
    norm_cfg=BN,
    contract_dilation=True)
MIT = dict(
    type='MixVisionTransformer',
    in_channels=3,
    embed_dims=8,
    num_stages=4,
    num_layers=[1, 1, 1, 1],
    num_heads=[1, 2, 4, 8],
    patch_sizes=[7, 3, 3, 3],
    sr_ratios=[8, 4, 2, 1],
    out_indices=(0, 1, 2, 3),
    mlp_ratio=2)
COMMON = dict(num_classes=5, norm_cfg=BN, align_corners=False)
HEADS = {
    'DepthwiseSeparableASPPHead': (RESNET,
                                   dict(
                                       type='DepthwiseSeparableASPPHead',
                                       in_channels=64,
                                       in_index=3,
                                       channels=16,
                                       dilations=(1, 2, 3, 4),
                                       c1_in_channels=8,
                                       c1_channels=4,
                                       dropout_ratio=0.1,
                                       **COMMON)),
    'FCNHead': (RESNET,
                dict(
                    type='FCNHead',
                    in_channels=64,
                    in_index=3,
                    channels=16,
                    num_convs=1,
                    **COMMON)),
    'PSPHead': (RESNET,
                dict(
                    type='PSPHead',
                    in_channels=64,
                    in_index=3,
                    channels=16,
                    pool_scales=(1, 2, 3, 6),
                    **COMMON)),
    'UPerHead': (RESNET,
                 dict(
                     type='UPerHead',
                     in_channels=[8, 16, 32, 64],
                     in_index=[0, 1, 2, 3],
                     pool_scales=(1, 2, 3, 6),
                     channels=16,
                     **COMMON)),
    'SegformerHead': (MIT,
                      dict(
                          type='SegformerHead',
                          in_channels=[8, 16, 32, 64],
                          in_index=[0, 1, 2, 3],
                          channels=16,
                          **COMMON)),
}


@pytest.fixture(scope='module')
def embedding_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('emb') / 'toy.npz')
    vectors = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    ClassEmbeddings(list(CLASSES), vectors, dict(sources=['toy'])).save(path)
    return path


def classifier_cfg(kind, embedding_file):
    if kind == 'conv':
        return dict(type='ConvClassifier')
    return dict(
        type='ProjectionClassifier',
        class_embedding=dict(
            type='ClassEmbedding',
            embedding_file=embedding_file,
            classes=list(CLASSES)))


def segmentor(backbone, head, classifier, **kwargs):
    return MODELS.build(
        ConfigDict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', size=(32, 32)),
            backbone=backbone,
            decode_head=dict(
                type='ZeroShotDecodeHead',
                head=head,
                classifier=classifier,
                split=SPLIT,
                classes=list(CLASSES),
                **kwargs),
            test_cfg=dict(mode='whole')))


def batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.rand(n, 3, size, size, generator=g)
    samples = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 3, (1, size, size), generator=g))
        s.set_metainfo(
            dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size)))
        samples.append(s)
    return inputs, samples


@pytest.mark.parametrize('head_type', sorted(HEADS))
@pytest.mark.parametrize('kind', ['conv', 'projection'])
def test_wraps_head_loss_and_predict(head_type, kind, embedding_file):
    backbone, head = HEADS[head_type]
    model = segmentor(backbone, head, classifier_cfg(kind, embedding_file))
    model.init_weights()
    expected = {'conv': 'ConvClassifier', 'projection': 'ProjectionClassifier'}
    assert type(model.decode_head.classifier).__name__ == expected[kind]
    # the wrapped head's classifier is replaced by a sub-module, no patching
    assert isinstance(model.decode_head.head.conv_seg, torch.nn.Identity)
    assert 'cls_seg' not in vars(model.decode_head.head)
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    assert preds[0].seg_logits.data.shape == (5, 32, 32)
    assert preds[0].pred_sem_seg.data.shape == (1, 32, 32)
    feats = model.decode_head.forward_features(model.extract_feat(inputs))
    assert feats.shape[1] == 16  # the head's channels enter the classifier


def test_features_are_the_input_of_the_plain_classifier():
    backbone, head = HEADS['FCNHead']
    plain = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=backbone,
            decode_head=head,
            data_preprocessor=dict(type='SegDataPreProcessor')))
    plain.init_weights()
    plain.eval()
    wrapped = segmentor(backbone, head, dict(type='ConvClassifier'))
    wrapped.load_state_dict(plain.state_dict())  # plain-head keys map over
    wrapped.eval()
    inputs, _ = batch()
    with torch.no_grad():
        x = plain.extract_feat(inputs)
        captured = {}
        plain.decode_head.conv_seg.register_forward_hook(
            lambda m, i, o: captured.update(feat=i[0]))
        out_plain = plain.decode_head(x)
        out_wrapped = wrapped.decode_head(x)
        feats = wrapped.decode_head.forward_features(x)
    assert torch.allclose(feats, captured['feat'])
    assert torch.allclose(out_plain, out_wrapped, atol=1e-6)


def test_stage1_checkpoint_loading_rules(tmp_path):
    backbone, head = HEADS['FCNHead']
    plain = MODELS.build(
        dict(type='EncoderDecoder', backbone=backbone, decode_head=head))
    state = plain.state_dict()
    fresh = segmentor(
        backbone, head, dict(type='ConvClassifier'), reinit_classifier=True)
    before = fresh.decode_head.classifier.conv.weight.clone()
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    assert unexpected == []
    assert set(missing) == {
        'decode_head.classifier.conv.weight',
        'decode_head.classifier.conv.bias'
    }
    assert torch.equal(before, fresh.decode_head.classifier.conv.weight)
    other = dict(head, num_classes=7)
    plain7 = MODELS.build(
        dict(type='EncoderDecoder', backbone=backbone, decode_head=other))
    with pytest.raises(ValueError, match='trained for 7 classes'):
        fresh.load_state_dict(plain7.state_dict(), strict=False)


def test_seen_only_training_and_calibration(embedding_file):
    backbone, head = HEADS['FCNHead']
    model = segmentor(
        backbone,
        head,
        classifier_cfg('projection', embedding_file),
        train_classes='seen',
        calibration=0.5)
    logits = torch.zeros(1, 5, 2, 2)
    masked = model.decode_head.mask_unseen(logits)
    assert (masked[:, 3] < -1e3).all() and (masked[:, [0, 1, 2, 4]] == 0).all()
    calibrated = model.decode_head.calibrate(logits)
    assert (calibrated[:, 3] == 0).all()
    assert (calibrated[:, [0, 1, 2, 4]] == -0.5).all()


def test_bad_config():
    backbone, head = HEADS['FCNHead']
    with pytest.raises(ValueError, match='feature_norm'):
        segmentor(
            backbone, head, dict(type='ConvClassifier'), feature_norm='l1')
    with pytest.raises(ValueError, match='split'):
        MODELS.build(
            dict(type='ZeroShotDecodeHead', head=head, calibration=1.0))
    with pytest.raises(TypeError, match="reinit_classifier='False'"):
        MODELS.build(
            dict(
                type='ZeroShotDecodeHead',
                head=head,
                reinit_classifier='False'))
    with pytest.raises(TypeError, match='BaseDecodeHead'):
        MODELS.build(
            dict(
                type='ZeroShotDecodeHead',
                head=dict(type='ConvClassifier', in_channels=2,
                          num_classes=2)))


def _predict(model, inputs):
    model.eval()
    with torch.no_grad():
        return model.decode_head(model.extract_feat(inputs))


@pytest.mark.parametrize('kind', ['conv', 'projection'])
def test_model_survives_torch_save_load_and_deepcopy(kind, embedding_file,
                                                     tmp_path):
    backbone, head = HEADS['DepthwiseSeparableASPPHead']
    model = segmentor(
        backbone,
        head,
        classifier_cfg(kind, embedding_file),
        calibration=0.5,
        reinit_classifier=True)
    model.init_weights()
    inputs, _ = batch()
    expected = _predict(model, inputs)
    path = str(tmp_path / 'model.pth')
    torch.save(model, path)
    # a whole pickled model is code: weights_only=False for our own file
    loaded = torch.load(path, weights_only=False)
    copied = copy.deepcopy(model)
    for other in (loaded, copied):
        assert type(other.decode_head.head.conv_seg) is torch.nn.Identity
        assert other.decode_head.split.unseen_indices == (3, )
        assert torch.equal(_predict(other, inputs), expected)
    # the copy is independent of the original
    with torch.no_grad():
        copied.decode_head.classifier.conv.weight.add_(1.0)
    assert torch.equal(_predict(model, inputs), expected)


def _stage1_wrapper_state(backbone, head, kind, embedding_file):
    """A stage-1 model that already used ZeroShotDecodeHead (e.g. DeViSE)."""
    stage1 = segmentor(backbone, head, classifier_cfg(kind, embedding_file))
    stage1.init_weights()
    with torch.no_grad():  # a classifier no initialisation would produce
        for p in stage1.decode_head.classifier.parameters():
            p.fill_(0.5)
    return stage1.state_dict()


@pytest.mark.parametrize('kind', ['conv', 'projection'])
def test_stage2_reinitialises_a_wrapper_heads_classifier(
        kind, embedding_file, log_messages):
    backbone, head = HEADS['FCNHead']
    state = _stage1_wrapper_state(backbone, head, kind, embedding_file)
    assert decode_extra_state(
        state['decode_head._extra_state']) == dict(reinit_classifier=False)
    stage2 = segmentor(
        backbone, head, dict(type='ConvClassifier'), reinit_classifier=True)
    stage2.init_weights()
    init = {
        k: v.clone()
        for k, v in stage2.decode_head.classifier.state_dict().items()
    }
    log_messages.clear()
    missing, unexpected = stage2.load_state_dict(state, strict=False)
    assert unexpected == []
    assert set(missing) == {
        'decode_head.classifier.conv.weight',
        'decode_head.classifier.conv.bias'
    }
    for key, value in stage2.decode_head.classifier.state_dict().items():
        assert torch.equal(value, init[key]), key  # its own initialisation
    for key, value in stage2.decode_head.head.state_dict().items():
        assert torch.equal(value, state['decode_head.head.' + key]), key
    notes = [m for m in log_messages if 'reinit_classifier=True' in m]
    assert len(notes) == 1
    assert 'a ZeroShotDecodeHead without reinit_classifier' in notes[0]
    assert 'decode_head.classifier.conv.weight' in notes[0]

    # a stage-2 checkpoint (resume, test) keeps its trained classifier
    with torch.no_grad():
        stage2.decode_head.classifier.conv.weight.fill_(0.25)
    stage2_state = stage2.state_dict()
    assert decode_extra_state(
        stage2_state['decode_head._extra_state']) == dict(
            reinit_classifier=True)
    again = segmentor(
        backbone, head, dict(type='ConvClassifier'), reinit_classifier=True)
    log_messages.clear()
    again.load_state_dict(stage2_state, strict=True)
    assert (again.decode_head.classifier.conv.weight == 0.25).all()
    assert not [m for m in log_messages if 'reinit_classifier' in m]


def test_stage2_reinitialises_a_plain_heads_classifier_and_says_so(
        log_messages):
    backbone, head = HEADS['FCNHead']
    plain = MODELS.build(
        dict(type='EncoderDecoder', backbone=backbone, decode_head=head))
    stage2 = segmentor(
        backbone, head, dict(type='ConvClassifier'), reinit_classifier=True)
    log_messages.clear()
    stage2.load_state_dict(plain.state_dict(), strict=False)
    notes = [m for m in log_messages if 'reinit_classifier=True' in m]
    assert len(notes) == 1 and 'a plain decode head' in notes[0]
    assert 'decode_head.conv_seg.weight' in notes[0]


def test_classifier_of_another_class_count_refused_for_wrapper_heads(
        embedding_file):
    backbone, head = HEADS['FCNHead']
    seven = dict(head, num_classes=7)
    state7 = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=backbone,
            decode_head=dict(type='ZeroShotDecodeHead',
                             head=seven))).state_dict()
    five = segmentor(backbone, head, dict(type='ConvClassifier'))
    with pytest.raises(ValueError) as e:
        five.load_state_dict(state7, strict=False)
    msg = str(e.value)
    assert '`decode_head.classifier.conv.weight` has shape (7, 16, 1, 1)' \
        in msg and '(5, 16, 1, 1)' in msg and 'num_classes=5' in msg


def test_head_with_its_own_classifier_refused():
    point_head = dict(
        type='PointHead',
        in_channels=[16],
        in_index=[0],
        channels=16,
        num_fcs=1,
        coarse_pred_each_layer=True,
        num_classes=5,
        norm_cfg=BN,
        align_corners=False)
    with pytest.raises(TypeError, match='PointHead has its own classifier'):
        MODELS.build(dict(type='ZeroShotDecodeHead', head=point_head))


def test_classifiers_score_pixel_features_as_the_1x1_conv(embedding_file):
    """[N, C] pixel features (the stage-2 cache path) get the same scores as
    the 1x1 convolution over [N, C, 1, 1] (float64 reference)."""
    from mmseg_zs3.models.classifiers import (ConvClassifier,
                                              ProjectionClassifier)
    torch.manual_seed(0)
    feats = torch.randn(50, 8, dtype=torch.float64)
    for clf in (ConvClassifier(8, 5),
                ProjectionClassifier(
                    8, 5,
                    dict(type='ClassEmbedding',
                         embedding_file=embedding_file))):
        clf = clf.double()
        clf.init_weights()
        ref = clf(feats[:, :, None, None])[:, :, 0, 0]
        torch.testing.assert_close(clf(feats), ref)
