"""benchmarks/bench_inference_overhead.py: the stock model it builds is the
ZS3Net model's architecture with the same weights (equal scores), the
timing alternates which model runs first, and a config that is no ZS3Net
model is refused, named."""
import os.path as osp
import sys

import pytest
import torch
from conftest import ORACLE_CONFIG, REPO
from mmengine.config import Config

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import bench_inference_overhead as bench  # noqa: E402


def test_measures_equal_models(monkeypatch):
    monkeypatch.setattr('mmengine.config.config.FormatCode',
                        lambda text, **kwargs: (text, False))
    result = bench.measure(reps=3, warmup=1)
    assert result['max_abs_diff'] == 0  # the same computation, bit for bit
    # the shapes config L2-normalises features: timed as a third model
    assert list(result['models']) == ['stock', 'zs3net', 'zs3net_configured']
    for name, m in result['models'].items():
        assert 0 < m['p10_ms'] <= m['median_ms'] <= m['p90_ms'], name
        assert m['peak_mib'] is None  # CPU
    assert result['models']['zs3net']['ratio'] > 0
    text = bench.report(result)
    assert 'same scores: max |zs3net - stock| = 0' in text
    assert 'overhead ratio zs3net / stock' in text


def test_stock_config_is_the_same_architecture():
    cfg = Config.fromfile(bench.DEFAULT_CONFIG).model.to_dict()
    stock = bench.stock_model_config(cfg)
    assert stock['type'] == 'EncoderDecoder'
    assert stock['backbone'] == cfg['backbone']
    assert stock['decode_head'] == cfg['decode_head']['head']
    assert stock['data_preprocessor']['type'] == 'SegDataPreProcessor'
    assert 'generative_head' not in stock


def test_not_a_zs3net_config():
    cfg = Config.fromfile(ORACLE_CONFIG).model.to_dict()
    with pytest.raises(
            ValueError,
            match="model type 'EncoderDecoder' with "
            "decode_head type 'FCNHead'"):
        bench.stock_model_config(cfg)
    with pytest.raises(SystemExit):
        bench.parse_args(['--config', ORACLE_CONFIG + '.missing'])


def test_interleaving_alternates_the_order():
    calls = []
    times = bench.interleaved_times(
        dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
        reps=3,
        warmup=1,
        sync=lambda: None)
    assert calls == ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']
    assert [len(v) for v in times.values()] == [3, 3]
    assert torch.tensor(times['a']).ge(0).all()
