"""ZS3Net + GC: region graphs of label maps, the graph-context neck, the GC
generative head (strict mode reads no unseen ground truth), the context-rich
shapes data, and bad input.
"""
import json
import os
import os.path as osp
import shutil
import time

import numpy as np
import pytest
import torch
from conftest import (REPO, load_tool, unique_experiment_name,
                      use_embedding_file)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mmseg_zs3.datasets import generate_shapes_dataset
from mmseg_zs3.utils.graph import (batch_graphs, build_label_graph,
                                   graph_adjacency, node_features)

I = 255  # noqa: E741  (the ignore label, one letter so the maps line up)
# A hand-drawn 6x7 label map:
# - class 1 at the top-left corner (touches the border), at (3, 3) alone and
#   at (5, 6) alone: three separate regions of one class;
# - class 3 at (2, 2) touches the corner block of class 1 and the class 1
#   at (3, 3) only diagonally;
# - class 2 at the top-right corner and alone at (5, 0);
# - an ignore region at rows 2-3, columns 4-5.
LABELS = [
    [1, 1, 0, 0, 0, 2, 2],
    [1, 1, 0, 0, 0, 2, 2],
    [0, 0, 3, 0, I, I, 0],
    [0, 0, 0, 1, I, I, 0],
    [0, 0, 0, 0, 0, 0, 0],
    [2, 0, 0, 0, 0, 0, 1],
]
W = 7
IGNORE_PIXELS = [(2, 4), (2, 5), (3, 4), (3, 5)]
# nodes in raster order of their first pixel, with their pixels
NODES_DROP = [
    (1, [(0, 0), (0, 1), (1, 0), (1, 1)]),
    (0, [(r, c) for r in range(6) for c in range(W) if LABELS[r][c] == 0]),
    (2, [(0, 5), (0, 6), (1, 5), (1, 6)]),
    (3, [(2, 2)]),
    (1, [(3, 3)]),
    (2, [(5, 0)]),
    (1, [(5, 6)]),
]
EDGES_DROP = [(0, 1), (0, 3), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (3, 4)]
NODES_KEEP = NODES_DROP[:4] + [(I, IGNORE_PIXELS)] + NODES_DROP[4:]
EDGES_KEEP = [(0, 1), (0, 3), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7),
              (2, 4), (3, 5), (4, 5)]


@pytest.fixture(scope='module', autouse=True)
def fast_runs():
    """One torch thread (tiny tensors gain nothing from two, and lose much
    when the cores are shared); no yapf when mmengine formats a config
    (~0.7 s, five times per run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr('mmengine.config.config.FormatCode', lambda text, **kwargs:
                   (text, False))
        yield
    torch.set_num_threads(threads)


def _models():
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS


def _features(channels: int = 2) -> torch.Tensor:
    """``[C, 6, 7]`` with feature ``c`` of pixel (r, k) = (7r + k)(c + 1)."""
    flat = torch.arange(6 * W, dtype=torch.float64).view(6, W)
    return torch.stack([flat * (c + 1) for c in range(channels)])


# ---------------------------------------------------------------------------
# graph construction
@pytest.mark.parametrize('backend', ['scipy', 'torch'])
@pytest.mark.parametrize('ignore_regions', ['drop', 'node'])
def test_hand_drawn_graph(backend, ignore_regions):
    """Exact nodes (raster order), node map, edges, sizes, first pixels and
    component means, with diagonal adjacency, border components, separate
    regions of one class and an ignore region."""
    nodes, edges = (NODES_DROP, EDGES_DROP) if ignore_regions == 'drop' \
        else (NODES_KEEP, EDGES_KEEP)
    g = build_label_graph(
        torch.tensor(LABELS), ignore_regions=ignore_regions, backend=backend)
    assert g.labels.tolist() == [c for c, _ in nodes]
    assert g.num_nodes == len(nodes)
    assert [tuple(e) for e in g.edges.t().tolist()] == edges
    expected_map = torch.full((6, W), -1)
    for i, (_, pixels) in enumerate(nodes):
        for r, c in pixels:
            expected_map[r, c] = i
    assert torch.equal(g.node_map, expected_map)
    assert g.sizes.tolist() == [len(p) for _, p in nodes]
    assert g.first_pixel.tolist() == [
        min(r * W + c for r, c in p) for _, p in nodes
    ]
    feats = _features()
    mean = node_features(feats, g, 'mean')
    first = node_features(feats, g, 'first_pixel')
    for i, (_, pixels) in enumerate(nodes):
        idx = [r * W + c for r, c in pixels]
        assert mean[i].tolist() == [
            sum(idx) / len(idx), 2 * sum(idx) / len(idx)
        ]
        assert first[i].tolist() == [min(idx), 2 * min(idx)]


def test_backends_agree_on_random_maps():
    rng = np.random.default_rng(0)
    for _ in range(10):
        lab = torch.from_numpy(rng.integers(0, 4, (23, 31)))
        lab[torch.from_numpy(rng.random((23, 31)) < 0.1)] = I
        for mode in ('drop', 'node'):
            a = build_label_graph(lab, ignore_regions=mode, backend='scipy')
            b = build_label_graph(lab, ignore_regions=mode, backend='torch')
            for key in ('labels', 'node_map', 'edges', 'first_pixel', 'sizes'):
                assert torch.equal(getattr(a, key), getattr(b, key)), key


def test_single_component_has_no_edge():
    g = build_label_graph(torch.zeros(5, 4, dtype=torch.long))
    assert g.labels.tolist() == [0]
    assert g.edges.shape == (2, 0)
    assert g.sizes.tolist() == [20]
    assert (g.node_map == 0).all()


@pytest.mark.parametrize('backend', ['scipy', 'torch'])
def test_all_ignore_map(backend):
    lab = torch.full((4, 5), I)
    g = build_label_graph(lab, backend=backend)
    assert g.num_nodes == 0 and g.edges.shape == (2, 0)
    assert (g.node_map == -1).all()
    assert node_features(torch.ones(3, 4, 5), g).shape == (0, 3)
    kept = build_label_graph(lab, ignore_regions='node', backend=backend)
    assert kept.labels.tolist() == [I] and kept.num_edges == 0


def _many_components(n: int = 100) -> torch.Tensor:
    """``n x n`` map whose 8-neighbours always differ: n*n components."""
    r, c = torch.meshgrid(torch.arange(n), torch.arange(n), indexing='ij')
    return (r % 3) * 3 + (c % 3)


@pytest.mark.parametrize('backend', ['scipy', 'torch'])
def test_ten_thousand_components(backend):
    """10,000 one-pixel nodes: every 8-neighbour pair is an edge; sparse
    all along (no N x N), so it takes well under a second."""
    t0 = time.perf_counter()
    g = build_label_graph(_many_components(), backend=backend)
    seconds = time.perf_counter() - t0
    assert g.num_nodes == 10000
    assert torch.equal(g.node_map.flatten(), torch.arange(10000))
    assert g.num_edges == 2 * 100 * 99 + 2 * 99 * 99
    assert seconds < 5
    # the neck runs on it too
    neck = _models().build(
        dict(
            type='GraphContextNeck',
            in_channels=8,
            hidden_channels=8,
            out_channels=4))
    assert neck(torch.rand(10000, 8), g.edges).shape == (10000, 4)


def test_graph_bad_input():
    with pytest.raises(ValueError, match='float32'):
        build_label_graph(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r'\(3, 3, 1\)'):
        build_label_graph(torch.zeros(3, 3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="ignore_regions='keep'"):
        build_label_graph(torch.zeros(3, 3, dtype=torch.long), 255, 'keep')
    with pytest.raises(ValueError, match="backend='cuda'"):
        build_label_graph(torch.zeros(3, 3, dtype=torch.long), backend='cuda')
    with pytest.raises(ValueError, match=r'negative labels \[-2\]'):
        build_label_graph(torch.tensor([[0, -2], [I, 1]]))
    # a negative ignore_index is no bad label
    assert build_label_graph(torch.tensor([[0, -1]]), -1).num_nodes == 1
    g = build_label_graph(torch.tensor(LABELS))
    with pytest.raises(ValueError, match=r'\(2, 5, 5\).*\(6, 7\)'):
        node_features(torch.zeros(2, 5, 5), g)
    with pytest.raises(ValueError, match="mode='median'"):
        node_features(_features(), g, 'median')
    with pytest.raises(ValueError, match='outside a graph of 3 nodes'):
        graph_adjacency(torch.tensor([[0], [3]]), 3)


# ---------------------------------------------------------------------------
# graph convolutions
def _dense_reference(neck, x, edges, form):
    n = x.shape[0]
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edges[0], edges[1]] = 1
    a[edges[1], edges[0]] = 1
    if form == 'usual':
        a = a + torch.eye(n, dtype=torch.float64)
        d = a.sum(1).rsqrt()
        a = d[:, None] * a * d[None, :]
    w1, b1 = neck.gc1.linear.weight.t(), neck.gc1.bias
    w2, b2 = neck.gc2.linear.weight.t(), neck.gc2.bias
    h = torch.nn.functional.leaky_relu(a @ (x @ w1) + b1, 0.2)
    return a @ (h @ w2) + b2


@pytest.mark.parametrize('form', ['official', 'usual'])
def test_gcn_equals_dense_float64_reference(form):
    torch.manual_seed(0)
    neck = _models().build(
        dict(
            type='GraphContextNeck',
            in_channels=6,
            hidden_channels=5,
            out_channels=3,
            form=form))
    neck.init_weights()
    assert torch.equal(neck.gc1.bias.data, torch.full((5, ), 0.01))
    neck.double().eval()
    g = build_label_graph(torch.tensor(LABELS), ignore_regions='node')
    x = torch.randn(g.num_nodes, 6, dtype=torch.float64)
    out = neck(x, g.edges)
    ref = _dense_reference(neck, x, g.edges, form)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_official_form_hides_own_input_in_first_layer():
    """Without self-loops a node's own input does not reach its first-layer
    output; with them it does."""
    g = build_label_graph(torch.tensor(LABELS))
    x = torch.randn(g.num_nodes, 4, dtype=torch.float64)
    x2 = x.clone()
    x2[3] += 1  # node 3 only
    for form, changes in [('official', False), ('usual', True)]:
        neck = _models().build(
            dict(
                type='GraphContextNeck',
                in_channels=4,
                hidden_channels=4,
                out_channels=4,
                form=form)).double().eval()
        row, col, val = graph_adjacency(g.edges, g.num_nodes, form,
                                        torch.float64)
        h1 = neck.gc1(x, row, col, val)[3]
        h2 = neck.gc1(x2, row, col, val)[3]
        assert (not torch.equal(h1, h2)) == changes


def test_batch_graphs_offsets():
    g = build_label_graph(torch.tensor(LABELS))
    edges, counts = batch_graphs([g, g])
    assert counts == [7, 7]
    assert torch.equal(edges[:, :8], g.edges)
    assert torch.equal(edges[:, 8:], g.edges + 7)


def test_neck_bad_input():
    MODELS = _models()
    with pytest.raises(ValueError, match="form='kipf'"):
        MODELS.build(dict(type='GraphContextNeck', form='kipf'))
    with pytest.raises(ValueError, match='hidden_channels=0'):
        MODELS.build(dict(type='GraphContextNeck', hidden_channels=0))
    neck = MODELS.build(dict(type='GraphContextNeck'))
    with pytest.raises(ValueError, match=r'\(3, 599\).*\[N, 600\]'):
        neck(torch.zeros(3, 599), torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match='outside a graph of 3 nodes'):
        neck(torch.zeros(3, 600), torch.tensor([[0], [5]]))
    with pytest.raises(ValueError, match='torch.float32; expected'):
        neck(torch.zeros(3, 600), torch.tensor([[0.], [1.]]))


# ---------------------------------------------------------------------------
# the generative head
SEEN = torch.tensor([0, 1, 2, 3])
UNSEEN = torch.tensor([4, 5])


def _head(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='GMMNGCGenerativeHead',
        generator=dict(
            type='GMMNGenerator', embed_dim=8, noise_dim=8, feat_dim=6),
        context_generator=dict(
            type='GraphContextNeck', in_channels=16, out_channels=6),
        num_samples=16)
    cfg.update(kwargs)
    return _models().build(cfg)


def _batch():
    """Two 12x12 label maps with seen and unseen objects (and an ignore
    strip), random features."""
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 6, 12, 12, generator=g)
    labels = torch.zeros(2, 12, 12, dtype=torch.long)
    labels[0, 1:5, 1:5] = 1
    labels[0, 5:9, 5:9] = 4  # unseen, touching class 1 diagonally
    labels[0, 9:, 9:] = 2
    labels[1, 2:6, 2:6] = 3
    labels[1, 6:10, 2:6] = 5  # unseen
    labels[1, :, 11] = I
    return feats, labels


def _run(head, feats, labels, layout='strict', seed=0, **kwargs):
    torch.manual_seed(seed)
    classifier = torch.nn.Linear(6, 6)
    emb = torch.nn.functional.normalize(
        torch.randn(6, 8, generator=torch.Generator().manual_seed(2)), dim=1)
    head.zero_grad()
    out = head.loss_context(feats, labels, emb, SEEN, UNSEEN, classifier,
                            layout, **kwargs)
    (out['loss_mmd_gc'] + out['loss_node_cls']).backward()
    grads = {
        k: p.grad.clone()
        for k, p in head.named_parameters() if p.grad is not None
    }
    return out, grads, classifier


def _poison(labels):
    """Every unseen pixel overwritten by the other unseen class."""
    out = labels.clone()
    out[labels == 4] = 5
    out[labels == 5] = 4
    return out


def test_strict_poisoning_unseen_pixels_changes_nothing():
    head = _head()
    feats, labels = _batch()
    clean, g_clean, _ = _run(head, feats, labels)
    poisoned, g_poisoned, _ = _run(head, feats, _poison(labels))
    assert 'context_generator.gc1.linear.weight' in g_clean
    for key in ('loss_mmd_gc', 'loss_node_cls', 'acc_node'):
        assert torch.equal(clean[key], poisoned[key]), key
    for key in g_clean:
        assert torch.equal(g_clean[key], g_poisoned[key]), key
    # negative control: the paper layout reads the unseen ground truth
    paper, _, _ = _run(head, feats, labels, 'paper')
    paper_p, _, _ = _run(head, feats, _poison(labels), 'paper')
    assert not torch.equal(paper['loss_node_cls'], paper_p['loss_node_cls'])


def test_strict_graphs_hold_no_unseen_node():
    head = _head()
    feats, labels = _batch()
    graphs, real = head.build_graphs(feats, labels, UNSEEN, 'strict', I)
    for g in graphs:
        assert not torch.isin(g.labels, UNSEEN).any()
    # the substituted node is a seen node of the unseen class's nearest
    # seen class (or a random non-background node)
    emb = torch.eye(6, 8)
    emb[4] = emb[1] + 0.1 * emb[4]  # unseen 4 is near seen 1
    emb[5] = emb[3] + 0.1 * emb[5]  # unseen 5 is near seen 3
    proxy = head.nearest_seen(emb, SEEN, UNSEEN)
    assert proxy.tolist() == [1, 3]
    node, cls = head._substitute(graphs[0], proxy, UNSEEN, I)
    assert (graphs[0].labels[node].item(), cls) == (1, 4)
    # no node of a proxy class in image 1 (classes 0, 3 once 5 is ignored):
    # a random non-background node takes a random unseen class
    proxy = torch.tensor([1, 2])
    for mode in ('nearest_seen', 'random'):
        head = _head(unseen_substitution=mode)
        for _ in range(5):
            node, cls = head._substitute(graphs[1], proxy, UNSEEN, I)
            assert graphs[1].labels[node].item() == 3 and cls in (4, 5)
    # a graph of background and ignore only: nothing to substitute
    bg = build_label_graph(torch.tensor([[0, I], [I, 0]]), I, 'node')
    assert head._substitute(bg, proxy, UNSEEN, I) is None


def test_node_features_default_mean_official_first_pixel():
    feats, labels = _batch()
    mean = _head().build_graphs(feats, labels, UNSEEN, 'strict', I)[1][0]
    first = _head(node_feature='first_pixel').build_graphs(
        feats, labels, UNSEEN, 'strict', I)[1][0]
    # node 1 of image 0 is the class-1 square at rows 1-4, columns 1-4
    assert torch.allclose(mean[1], feats[0, :, 1:5, 1:5].mean((1, 2)))
    assert torch.equal(first[1], feats[0, :, 1, 1])


def test_node_loss_weighting():
    """'official' never divides the node loss by the batch size (effective
    weight 0.1 x B relative to a batch-averaged pixel loss)."""
    feats, labels = _batch()
    rel, _, _ = _run(_head(), feats, labels, 'paper', batch_average=True)
    off, _, _ = _run(
        _head(node_loss_weighting='official'),
        feats,
        labels,
        'paper',
        batch_average=True)
    torch.testing.assert_close(off['loss_node_cls'], rel['loss_node_cls'] * 2)
    plain, _, _ = _run(_head(), feats, labels, 'paper')
    torch.testing.assert_close(plain['loss_node_cls'], off['loss_node_cls'])


@pytest.mark.parametrize('context_mmd', ['image', 'class'])
def test_context_mmd_sets(context_mmd):
    out, grads, _ = _run(_head(context_mmd=context_mmd), *_batch())
    assert torch.isfinite(out['loss_mmd_gc']) and out['loss_mmd_gc'] > 0
    assert grads['context_generator.gc2.linear.weight'].abs().sum() > 0


def test_head_degenerate_batches():
    """One component per map, or all ignored: no graph, finite zero losses
    connected to the context generator."""
    head = _head()
    feats = torch.randn(2, 6, 8, 8)
    for labels in (torch.zeros(2, 8, 8,
                               dtype=torch.long), torch.full((2, 8, 8), I)):
        out, grads, _ = _run(head, feats, labels)
        assert out['loss_mmd_gc'].item() == 0
        assert out['loss_node_cls'].item() == 0
        assert 'context_generator.gc1.linear.weight' in grads
    # an all-ignore map kept as one ignore node: a single node, no graph
    out, _, _ = _run(
        _head(ignore_regions='node'), feats, torch.full((2, 8, 8), I))
    assert out['loss_mmd_gc'].item() == 0


def test_head_caps_large_mmd_sets(log_messages):
    head = _head(max_nodes=500)
    # seen classes 0..3 in a 2x2 tiling: 10,000 one-pixel nodes
    r, c = torch.meshgrid(torch.arange(100), torch.arange(100), indexing='ij')
    labels = ((r % 2) * 2 + c % 2)[None]
    feats = torch.randn(1, 6, 100, 100)
    graphs, _ = head.build_graphs(feats, labels, UNSEEN, 'strict', I)
    assert graphs[0].num_nodes > 500
    out, _, _ = _run(head, feats, labels)
    assert torch.isfinite(out['loss_mmd_gc'])
    assert any('max_nodes=500' in m and f'{graphs[0].num_nodes} nodes' in m
               for m in log_messages)


def test_head_bad_input():
    with pytest.raises(ValueError, match="context_mmd='pixel'"):
        _head(context_mmd='pixel')
    with pytest.raises(ValueError, match="node_feature='max'"):
        _head(node_feature='max')
    with pytest.raises(ValueError, match="unseen_substitution='gt'"):
        _head(unseen_substitution='gt')
    with pytest.raises(ValueError, match='in_channels=600.*8 \\+ 8 = 16'):
        _head(context_generator=dict(type='GraphContextNeck', out_channels=6))
    with pytest.raises(ValueError, match='out_channels=256.*6-d'):
        _head(context_generator=dict(type='GraphContextNeck', in_channels=16))
    feats, labels = _batch()
    with pytest.raises(ValueError, match="layout='loose'"):
        _run(_head(), feats, labels, 'loose')
    with pytest.raises(ValueError, match=r'\(2, 6, 12, 12\).*\(2, 6, 6\)'):
        _run(_head(), feats, labels[:, :6, :6])
    with pytest.raises(
            ValueError, match=r'labels \[9\] are no class of the 6'):
        _run(_head(), feats, labels.masked_fill(labels == 2, 9))
    with pytest.raises(ValueError, match='background_index=-1'):
        _head(background_index=-1)
    with pytest.raises(
            ValueError, match='background_index=6, but there are 6'):
        _run(_head(background_index=6), feats, labels)


def test_head_refuses_pixel_batches_in_training():
    """A pixel batch (the feature-cache loop) carries no label map: the
    graph generator would silently not train."""
    head = _head().train()
    emb = torch.randn(6, 8)
    with pytest.raises(RuntimeError, match='EpochBasedTrainLoop'):
        head.loss(
            torch.randn(10, 6), torch.ones(10, dtype=torch.long), emb, SEEN)
    head.eval()
    head.loss(torch.randn(10, 6), torch.ones(10, dtype=torch.long), emb, SEEN)
    # after loss_context (an image batch), any number of pixel-MMD calls:
    # the official per-(image, class) generator steps make several per batch
    head.train()
    _run(head, *_batch())
    for _ in range(3):
        head.loss(
            torch.randn(10, 6), torch.ones(10, dtype=torch.long), emb, SEEN)


# ---------------------------------------------------------------------------
# end to end: the shapes GC config through mmengine's Runner
GC_CONFIG = osp.join(REPO, 'configs', 'zs3',
                     'zs3net-gc_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
STAGE1_CONFIG = osp.join(
    REPO, 'configs', 'zs3',
    'seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py')


@pytest.fixture(scope='module')
def gc_files(shapes_root, tmp_path_factory):
    """Embeddings, a stage-1 checkpoint (initialised weights) and clean and
    poisoned copies of the tiny data (unseen pixels cycled)."""
    from mmseg_zs3.datasets.zs3_shapes import SHAPES_CLASSES, SHAPES_UNSEEN
    from mmseg_zs3.embeddings import (build_class_embeddings,
                                      load_packaged_glove)
    root = tmp_path_factory.mktemp('gc_files')
    emb = str(root / 'emb.npz')
    build_class_embeddings(
        'ZS3ShapesDataset', load_packaged_glove(), normalize='l2').save(emb)
    torch.manual_seed(0)
    stage1_cfg = Config.fromfile(STAGE1_CONFIG)
    use_embedding_file(stage1_cfg.model, emb)
    model = _models().build(stage1_cfg.model)
    model.init_weights()
    ckpt = str(root / 'stage1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    clean, poisoned = str(root / 'clean'), str(root / 'poisoned')
    for dst in (clean, poisoned):
        shutil.copytree(
            shapes_root, dst, ignore=shutil.ignore_patterns('.zs3_cache'))
    unseen = [SHAPES_CLASSES.index(c) for c in SHAPES_UNSEEN]
    lut = np.arange(256, dtype=np.uint8)
    for a, b in zip(unseen, unseen[1:] + unseen[:1]):
        lut[a] = b
    ann_dir = osp.join(poisoned, 'ann_dir', 'train')
    changed = 0
    for name in sorted(os.listdir(ann_dir))[:8]:
        seg = np.asarray(Image.open(osp.join(ann_dir, name)))
        if not np.array_equal(lut[seg], seg):
            Image.fromarray(lut[seg]).save(osp.join(ann_dir, name))
            changed += 1
    assert changed > 0
    return dict(emb=emb, ckpt=ckpt, clean=clean, poisoned=poisoned)


def _gc_run(files, data, work_dir, paper=False):
    cfg = Config.fromfile(GC_CONFIG)
    if paper:  # the official recipe: separate optimizers, per-class steps
        cfg.model.update(
            unseen_layout='paper',
            unseen_weight=100.0,
            generator_steps='per_image_class',
            frozen_mode='train',
            paper_batch_average=True)
        cfg.model.generative_head.update(
            node_feature='first_pixel',
            ignore_regions='node',
            node_loss_weighting='official')
        cfg.optim_wrapper = dict(
            constructor='SubmoduleOptimWrapperConstructor',
            generator=dict(
                module='generative_head',
                type='OptimWrapper',
                optimizer=dict(type='Adam', lr=2e-4)),
            classifier=dict(
                module='decode_head.classifier',
                type='OptimWrapper',
                optimizer=dict(type='SGD', lr=0.07, momentum=0.9)))
        cfg.param_scheduler = None
    cfg.experiment_name = unique_experiment_name()
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.load_from = files['ckpt']
    cfg.model.class_embedding.embedding_file = files['emb']
    cfg.model.generative_head.num_samples = 16
    loader = cfg.train_dataloader
    loader.batch_size = 4
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset = loader.dataset.dataset  # every image, unseen ones too
    loader.dataset.data_root = files[data]
    loader.dataset.indices = 8
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    for scheduler in cfg.param_scheduler or []:
        scheduler.end = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    init = {
        k: v.clone()
        for k, v in runner.model.state_dict().items()
        if k.startswith('generative_head.context_generator.')
    }
    runner.train()
    state = {
        k: v.detach().clone()
        for k, v in runner.model.state_dict().items()
        if k.startswith(('decode_head.classifier.', 'generative_head.'))
    }
    return state, init, runner.message_hub


def test_gc_config_trains_and_strict_ignores_unseen_gt(gc_files, tmp_path):
    clean, init, hub = _gc_run(gc_files, 'clean', str(tmp_path / 'a'))
    poisoned, _, _ = _gc_run(gc_files, 'poisoned', str(tmp_path / 'b'))
    assert clean.keys() == poisoned.keys()
    for key in clean:
        assert torch.equal(clean[key], poisoned[key]), key
    # the graph generator trained, and its losses were logged
    key = 'generative_head.context_generator.gc1.linear.weight'
    assert not torch.equal(clean[key], init[key])
    for name in ('loss_mmd_gc', 'loss_node_cls', 'loss_mmd', 'loss_cls'):
        assert f'train/{name}' in hub.log_scalars, name


def test_gc_with_the_official_recipe(gc_files, tmp_path):
    """The paper layout with separate generator / classifier optimizers
    and per-(image, class) pixel-generator steps: the context MMD goes to the
    generator's optimizer, the node loss to the classifier's, and both
    train."""
    state, init, hub = _gc_run(
        gc_files, 'clean', str(tmp_path / 'paper'), paper=True)
    key = 'generative_head.context_generator.gc1.linear.weight'
    assert not torch.equal(state[key], init[key])
    for name in ('loss_mmd_gc', 'loss_node_cls', 'loss_mmd', 'loss_cls'):
        assert f'train/{name}' in hub.log_scalars, name


# ---------------------------------------------------------------------------
# the context-rich shapes data
def test_context_rich_shapes(tmp_path):
    root = str(tmp_path / 'ctx')
    tool = load_tool('generate_shapes_dataset')
    tool.main([
        root, '--num-train', '6', '--num-val', '2', '--num-calib', '2',
        '--context-rich'
    ])
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f)['context_rich'] is True
    touching = 0
    for name in sorted(os.listdir(osp.join(root, 'ann_dir', 'train'))):
        seg = np.asarray(Image.open(osp.join(root, 'ann_dir', 'train', name)))
        g = build_label_graph(torch.from_numpy(seg.astype(np.int64)))
        a, b = g.labels[g.edges]
        touching += bool(((a > 0) & (b > 0)).any())
    assert touching == 6  # every image has two objects that touch
    # the default dataset's meta.json is unchanged, so old roots are reused
    plain = str(tmp_path / 'plain')
    meta = generate_shapes_dataset(plain, num_train=1, num_val=1, num_calib=1)
    assert 'context_rich' not in meta
    with pytest.raises(FileExistsError, match='other parameters'):
        generate_shapes_dataset(
            plain, num_train=1, num_val=1, num_calib=1, context_rich=True)
