"""Compatibility fixes for the stock CPU stack, applied once on ``import mmseg_zs3``.

Two upstream problems break MMSegmentation 1.x on a fresh install (see the
README, "Installation notes"):

1. **mmcv-lite** ships no compiled ops, yet ``mmcv/ops/__init__.py`` imports
   every op eagerly, so ``import mmseg.models`` dies on ``mmcv._ext``.
   :func:`install_lazy_mmcv_ops` replaces ``mmcv.ops`` by a lazy module
   (PEP 562) *only when the compiled extension is absent*: pure-Python ops
   (``point_sample``) import normally, compiled-only ops raise
   ``ModuleNotFoundError`` naming full mmcv as the fix, which is the exception
   mmseg already guards against.
2. **torch >= 2.6** loads checkpoints with ``weights_only=True``, which rejects
   the few non-tensor globals every mmengine checkpoint carries.
   :func:`allow_mmengine_checkpoint_globals` allow-lists exactly those globals
   (no global switch-off of ``weights_only``).
"""
import ast
import importlib
import importlib.util
import os.path as osp
import sys
import types
from typing import Dict

MMCV_INSTALL_HINT = (
    'it needs the compiled ops of full mmcv, and this environment has '
    'mmcv-lite. Install full mmcv (e.g. `pip install mmcv==2.1.0` built with '
    'MMCV_WITH_OPS=1, or the CUDA wheels documented by OpenMMLab).')

# Names that mmseg imports from mmcv.ops without an ImportError guard. Under
# mmcv-lite they resolve to a placeholder that raises when *called*, so that
# importing mmseg works and only using the op fails.
_UNGUARDED_COMPILED_OPS = frozenset({'sigmoid_focal_loss'})


def has_compiled_mmcv_ops() -> bool:
    """Whether the compiled extension ``mmcv._ext`` is importable."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _mmcv_ops_name_table(init_file: str) -> Dict[str, str]:
    """Map each public name of ``mmcv/ops/__init__.py`` to its submodule."""
    with open(init_file, encoding='utf-8') as f:
        tree = ast.parse(f.read(), init_file)
    table = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                table[alias.asname or alias.name] = node.module
    return table


def _compiled_op_placeholder(name: str, error: ModuleNotFoundError):

    def _raise(*args, **kwargs):
        raise ModuleNotFoundError(
            f'mmcv.ops.{name} cannot run: {MMCV_INSTALL_HINT}') from error

    _raise.__name__ = name
    return _raise


class _LazyOpsModule(types.ModuleType):
    """``mmcv.ops`` that imports each op's submodule on first access."""

    def __getattr__(self, name: str):
        table = self.__dict__['_zs3_name_table']
        if name not in table:
            raise AttributeError(f'module mmcv.ops has no attribute {name!r}')
        try:
            submodule = importlib.import_module(f'mmcv.ops.{table[name]}')
        except ModuleNotFoundError as e:
            if 'mmcv._ext' not in str(e) and '_ext' != e.name:
                raise
            if name in _UNGUARDED_COMPILED_OPS:
                value = _compiled_op_placeholder(name, e)
                setattr(self, name, value)
                return value
            raise ModuleNotFoundError(
                f'mmcv.ops.{name} is unavailable: {MMCV_INSTALL_HINT}',
                name='mmcv._ext') from e
        value = getattr(submodule, name)
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._zs3_name_table))


def install_lazy_mmcv_ops() -> bool:
    """Make ``mmcv.ops`` lazy when the compiled extension is missing.

    Returns:
        bool: True if the lazy module was installed; False when nothing had to
        be done (full mmcv, or ``mmcv.ops`` already imported).
    """
    if 'mmcv.ops' in sys.modules or has_compiled_mmcv_ops():
        return False
    spec = importlib.util.find_spec('mmcv.ops')
    if spec is None or not spec.origin:
        return False
    module = _LazyOpsModule('mmcv.ops', 'mmcv.ops imported lazily by mmseg_zs3 '
                            '(mmcv-lite: no compiled ops).')
    module.__file__ = spec.origin
    module.__path__ = list(spec.submodule_search_locations or
                           [osp.dirname(spec.origin)])
    module.__package__ = 'mmcv.ops'
    module.__spec__ = spec
    module._zs3_name_table = _mmcv_ops_name_table(spec.origin)
    module.__all__ = sorted(module._zs3_name_table)
    sys.modules['mmcv.ops'] = module
    import mmcv
    mmcv.ops = module
    return True


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list the non-tensor globals that mmengine checkpoints contain.

    torch >= 2.6 loads with ``weights_only=True`` by default. mmengine's
    checkpoints also hold the message hub (``HistoryBuffer`` of numpy arrays),
    so loading fails without these globals. Only they are allowed; everything
    else stays refused by torch's safe unpickler.
    """
    import torch
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    safe = [HistoryBuffer, np.ndarray, np.dtype, getattr]
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    safe += [_reconstruct, scalar]
    # numpy >= 1.25 pickles dtypes as instances of numpy.dtypes.*DType.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes)
            if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
        ]
    torch.serialization.add_safe_globals(safe)


def apply() -> None:
    """Apply every fix; idempotent."""
    install_lazy_mmcv_ops()
    allow_mmengine_checkpoint_globals()
