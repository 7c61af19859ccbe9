import pytest
import torch
import torch.nn as nn
from mmseg.registry import MODELS

import mmseg_zs3  # noqa: F401


def test_official_architecture_and_parameter_count():
    gen = MODELS.build(dict(type='GMMNGenerator'))
    gen.init_weights()
    linears = [m for m in gen.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(600, 256),
                                                                  (256, 256)]
    # 600*256 + 256 + 256*256 + 256, counted by hand.
    assert sum(p.numel() for p in gen.parameters()) == 219648
    assert isinstance(gen.act, nn.LeakyReLU) and gen.act.negative_slope == 0.2
    assert isinstance(gen.dropout, nn.Dropout) and gen.dropout.p == 0.5
    for m in linears:  # Xavier-uniform bound sqrt(6 / (fan_in + fan_out))
        bound = (6 / (m.in_features + m.out_features))**0.5
        assert m.weight.abs().max() <= bound
        assert m.weight.std() > bound / 3
        assert torch.all(m.bias == 0.01)


def test_forward_shapes_and_noise():
    gen = MODELS.build(
        dict(type='GMMNGenerator', embed_dim=5, noise_dim=3, feat_dim=7))
    gen.eval()
    out = gen(torch.randn(4, 5))
    assert out.shape == (4, 7)
    noise = gen.sample_noise(1000)
    assert noise.min() >= 0 and noise.max() < 1  # official: U[0, 1)
    g = MODELS.build(
        dict(type='GMMNGenerator', embed_dim=5, noise_dim=3, noise='gaussian'))
    assert g.sample_noise(1000).min() < 0
    # fixed noise -> deterministic in eval mode
    z = torch.rand(2, 3)
    e = torch.randn(2, 5)
    assert torch.equal(gen(e, noise=z), gen(e, noise=z))


def test_bad_input():
    with pytest.raises(ValueError, match='noise='):
        MODELS.build(dict(type='GMMNGenerator', noise='poisson'))
    gen = MODELS.build(dict(type='GMMNGenerator', embed_dim=5))
    with pytest.raises(ValueError, match=r'expected \[N, 5\]'):
        gen(torch.randn(2, 6))


def test_dropout_keeps_nn_dropout_semantics():
    """The mask dropout: about p of the hidden units zeroed, the rest scaled
    by 1 / (1 - p) (inverted dropout, so the mean is kept); none in eval."""
    from mmseg_zs3.models.generative_heads.gmmn_generator import GMMNGenerator
    torch.manual_seed(0)
    gen = GMMNGenerator(
        embed_dim=4, noise_dim=4, hidden_dim=4000, feat_dim=3, dropout=0.5)
    seen = {}
    gen.fc2.register_forward_pre_hook(
        lambda m, args: seen.__setitem__('h', args[0].detach()))
    emb = torch.randn(8, 4)
    noise = torch.rand(8, 4)
    gen.eval()
    gen(emb, noise)
    plain = seen['h']
    gen.train()
    gen(emb, noise)
    h = seen['h']
    zeroed = (h == 0) & (plain != 0)
    assert abs(zeroed.float().mean().item() - 0.5) < 0.02
    kept = h != 0
    torch.testing.assert_close(h[kept], plain[kept] * 2)
    gen.dropout.p = 1.0
    gen(emb, noise)
    assert torch.count_nonzero(seen['h']) == 0
