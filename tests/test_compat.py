"""mmseg_zs3.compat: lazy mmcv.ops under mmcv-lite, and mmengine checkpoints
under torch >= 2.6 without turning ``weights_only`` off."""
import argparse
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mmseg_zs3 import compat

MMCV_LITE = not compat.has_compiled_mmcv_ops()


def _run(code):
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120)


def test_fresh_process_imports_mmseg_and_ops():
    """One fresh interpreter: what a user gets after ``import mmseg_zs3``."""
    proc = _run(f"""
        import torch
        import mmseg_zs3  # noqa: F401
        import mmseg.models  # noqa: F401  (dies on mmcv._ext without the fix)
        from mmcv.ops import point_sample
        out = point_sample(torch.rand(1, 2, 4, 4), torch.rand(1, 3, 2))
        assert out.shape == (1, 2, 3), out.shape
        if {MMCV_LITE}:
            try:
                from mmcv.ops import PSAMask  # noqa: F401
            except ModuleNotFoundError as e:
                assert 'full mmcv' in str(e), str(e)
            else:
                raise AssertionError('PSAMask imported under mmcv-lite')
            from mmcv.ops import sigmoid_focal_loss
            try:
                sigmoid_focal_loss(torch.rand(2, 3), torch.zeros(2).long(),
                                   2.0, 0.25, None, 'mean')
            except ModuleNotFoundError as e:
                assert 'full mmcv' in str(e), str(e)
            else:
                raise AssertionError('sigmoid_focal_loss ran under mmcv-lite')
        # Checkpoints: the builtin getattr is not on torch's allow-list, and
        # mmengine's local loader is the one that names refused files.
        from mmengine.runner.checkpoint import CheckpointLoader
        from mmseg_zs3.compat import history_buffer_getattr, load_from_local
        safe = torch.serialization.get_safe_globals()
        assert getattr not in safe, safe
        assert (history_buffer_getattr, 'builtins.getattr') in safe, safe
        assert CheckpointLoader._get_checkpoint_loader('a.pth') is \
            load_from_local
        print('OK')
        """)
    assert proc.returncode == 0 and 'OK' in proc.stdout, proc.stderr[-3000:]


@pytest.mark.skipif(not MMCV_LITE, reason='full mmcv: mmcv.ops is not lazy')
def test_unknown_op_is_an_attribute_error():
    import mmcv.ops
    with pytest.raises(AttributeError, match='no_such_op'):
        mmcv.ops.no_such_op


@pytest.mark.skipif(MMCV_LITE, reason='needs full mmcv')
def test_full_mmcv_ops_untouched():
    import mmcv.ops
    assert not isinstance(mmcv.ops, compat._LazyOpsModule)


def test_lazy_ops_not_installed_with_full_mmcv(monkeypatch):
    monkeypatch.delitem(sys.modules, 'mmcv.ops', raising=False)
    monkeypatch.setattr(compat, 'has_compiled_mmcv_ops', lambda: True)
    assert compat.install_lazy_mmcv_ops() is False
    assert 'mmcv.ops' not in sys.modules


def test_runner_checkpoint_loads_with_weights_only(trained_checkpoint):
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    for checkpoint in (torch.load(trained_checkpoint),
                       torch.load(trained_checkpoint, weights_only=True)):
        assert {'meta', 'state_dict', 'message_hub',
                'optimizer'} <= set(checkpoint)
        assert checkpoint['meta']['iter'] == 2


def test_unsafe_global_still_refused(tmp_path):
    path = str(tmp_path / 'unsafe.pth')
    torch.save({'args': argparse.Namespace(a=1)}, path)
    with pytest.raises(Exception, match='Unsupported global'):
        torch.load(path)
