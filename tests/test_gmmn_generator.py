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


@pytest.mark.parametrize('p', [0.5, 0.3])
def test_dropout_keeps_nn_dropout_semantics(p):
    """The mask dropout: about p of the hidden units zeroed, the rest scaled
    by 1 / (1 - p) (inverted dropout, so the mean is kept); none in eval.
    p = 0.5 takes the fair-coin mask, other p the uniform threshold."""
    from mmseg_zs3.models.generative_heads.gmmn_generator import GMMNGenerator
    torch.manual_seed(0)
    gen = GMMNGenerator(
        embed_dim=4, noise_dim=4, hidden_dim=4000, feat_dim=3, dropout=p)
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
    assert abs(zeroed.float().mean().item() - p) < 0.02
    kept = h != 0
    torch.testing.assert_close(h[kept], plain[kept] / (1 - p))
    gen.dropout.p = 1.0
    gen(emb, noise)
    assert torch.count_nonzero(seen['h']) == 0


def test_num_samples_is_the_official_concat_network():
    """num_samples draws per embedding row through W_e e + b + W_n z, which
    must equal the official Linear over [e ; z] with the rows repeated:
    checked in float64 against a by-hand forward of the same weights."""
    torch.manual_seed(0)
    gen = MODELS.build(
        dict(type='GMMNGenerator', embed_dim=6, noise_dim=4, feat_dim=5))
    gen.init_weights()
    gen.double().eval()
    emb = torch.randn(3, 6, dtype=torch.float64)
    noise = torch.rand(3 * 7, 4, dtype=torch.float64)
    out = gen(emb, noise=noise, num_samples=7)
    x = torch.cat([emb.repeat_interleave(7, dim=0), noise], dim=1)
    h = torch.nn.functional.leaky_relu(x @ gen.fc1.weight.T + gen.fc1.bias,
                                       0.2)
    ref = h @ gen.fc2.weight.T + gen.fc2.bias
    assert out.shape == (21, 5)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    # one row per sample gives the same as num_samples on the repeated rows
    torch.testing.assert_close(
        gen(emb.repeat_interleave(7, dim=0), noise=noise), ref)
    assert gen(emb, num_samples=0).shape == (0, 5)
    with pytest.raises(ValueError, match=r'expected \[21, 4\]'):
        gen(emb, noise=noise[:20], num_samples=7)
    with pytest.raises(ValueError, match='num_samples=-1'):
        gen(emb, num_samples=-1)


def test_fair_coin_mask_is_half_ones_independent_and_any_shape():
    from mmseg_zs3.models.generative_heads.gmmn_generator import fair_coin_mask
    torch.manual_seed(0)
    like = torch.empty(301, 333)  # 100233 units: not a multiple of 32
    m = fair_coin_mask(like)
    assert m.shape == like.shape
    assert m.dtype == like.dtype
    assert set(m.unique().tolist()) == {0, 1}
    x = m.double().flatten()
    assert abs(x.mean() - 0.5) < 0.01  # standard error 0.0016
    # neighbours (bits of one word, and across words) uncorrelated
    for lag in (1, 31, 32, 33):
        corr = torch.corrcoef(torch.stack([x[:-lag], x[lag:]]))[0, 1]
        assert abs(corr) < 0.02, (lag, corr)
    # every bit position of the words is used
    per_bit = x[:32 * (len(x) // 32)].view(-1, 32).mean(0)
    assert (per_bit - 0.5).abs().max() < 0.03
    assert fair_coin_mask(torch.empty(0, 4)).shape == (0, 4)
    # the kept value, in float32 (from its bit pattern) and float64
    for dtype in (torch.float32, torch.float64):
        m = fair_coin_mask(torch.empty(50, 7, dtype=dtype), 2.0)
        assert m.dtype == dtype and set(m.unique().tolist()) == {0, 2}
