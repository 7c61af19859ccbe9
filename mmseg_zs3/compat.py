"""Compatibility fixes for the stock CPU stack.

Applied once on ``import mmseg_zs3``.

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
   (no global switch-off of ``weights_only``), with ``getattr`` restricted to
   the four ``HistoryBuffer`` statistics a checkpoint stores, and
   :func:`install_checkpoint_loader` makes mmengine's local checkpoint loader
   name the file it refuses.
"""
import ast
import importlib
import importlib.util
import os.path as osp
import pickle
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
        if isinstance(node,
                      ast.ImportFrom) and node.level == 1 and node.module:
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
    module = _LazyOpsModule(
        'mmcv.ops', 'mmcv.ops imported lazily by mmseg_zs3 '
        '(mmcv-lite: no compiled ops).')
    module.__file__ = spec.origin
    module.__path__ = list(spec.submodule_search_locations
                           or [osp.dirname(spec.origin)])
    module.__package__ = 'mmcv.ops'
    module.__spec__ = spec
    module._zs3_name_table = _mmcv_ops_name_table(spec.origin)
    module.__all__ = sorted(module._zs3_name_table)
    sys.modules['mmcv.ops'] = module
    import mmcv
    mmcv.ops = module
    return True


class UnsafePickleError(pickle.UnpicklingError):
    """A pickled file asks for an object that could run code or corrupt
    memory; it is refused before anything of it runs."""


# The statistics that ``HistoryBuffer._set_default_statistics`` registers.
# An mmengine checkpoint pickles them as ``getattr(HistoryBuffer, name)``
# (pickle protocol 2 stores a method by its class and name).
HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_getattr(obj, name):
    """``getattr`` as torch's ``weights_only`` unpickler sees it.

    Registered under the name ``builtins.getattr``, it replaces the builtin
    for checkpoints: the only attribute an mmengine checkpoint reads is a
    statistics method of ``HistoryBuffer`` (its message hub). The builtin
    would reach anything (``HistoryBuffer.__init__.__builtins__`` leads to
    ``eval``, and torch's allowed ``_rebuild_from_type_v2`` calls whatever it
    is given), so every other ``(obj, name)`` is refused.

    Args:
        obj: The object; must be ``HistoryBuffer`` itself.
        name (str): One of :data:`HISTORY_BUFFER_STATISTICS`.

    Returns:
        function: ``HistoryBuffer.<name>``.

    Raises:
        UnsafePickleError: Any other object or attribute.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if (obj is HistoryBuffer and type(name) is str
            and name in HISTORY_BUFFER_STATISTICS):
        return getattr(HistoryBuffer, name)
    what = getattr(obj, '__qualname__', None) or type(obj).__name__
    raise UnsafePickleError(
        f'getattr({what}, {name!r}) is not allowed: a checkpoint may only '
        f'read the statistics methods {sorted(HISTORY_BUFFER_STATISTICS)} of '
        'mmengine\'s HistoryBuffer')


class _NdarrayName:
    """What the global ``numpy.ndarray`` resolves to in a checkpoint.

    A pickled array names ``numpy.ndarray`` only as the first argument of
    ``_reconstruct``. The class itself must not be reachable: torch's
    unpickler calls any allowed global (``REDUCE``, ``NEWOBJ``), and
    ``numpy.ndarray(shape, object, buffer)`` turns bytes from the file into
    object pointers (a segfault, or worse, when the array is used or freed).
    This stand-in refuses to be called or instantiated.
    """
    __slots__ = ()

    def __new__(cls, *args):
        if not isinstance(cls, type):  # NEWOBJ on the stand-in
            raise UnsafePickleError(_NDARRAY_REFUSAL)
        return super().__new__(cls)

    def __call__(self, *args, **kwargs):  # REDUCE on the stand-in
        raise UnsafePickleError(_NDARRAY_REFUSAL)

    def __repr__(self) -> str:
        return 'numpy.ndarray (a name in a checkpoint, not the class)'


_NDARRAY_REFUSAL = (
    'numpy.ndarray(...) is not allowed: it can turn bytes of the file into '
    'object pointers; a checkpoint rebuilds arrays with _reconstruct and '
    '__setstate__ only')

NDARRAY_NAME = _NdarrayName()


def reconstruct_ndarray(subtype, shape, dtype):
    """numpy's ``_reconstruct`` for plain arrays named by
    :data:`NDARRAY_NAME` (the only use of ``_reconstruct`` in a pickled
    array: its data come afterwards through ``__setstate__``, which numpy
    checks).

    Args:
        subtype: Must be :data:`NDARRAY_NAME`.
        shape (tuple): Passed on.
        dtype: Passed on.

    Returns:
        np.ndarray: An empty array to be filled by ``__setstate__``.

    Raises:
        UnsafePickleError: ``subtype`` is anything else.
    """
    import numpy as np
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    if subtype is not NDARRAY_NAME:
        raise UnsafePickleError(
            f'_reconstruct({subtype!r}, ...) is not allowed: a checkpoint '
            'may only rebuild plain numpy arrays')
    return _reconstruct(np.ndarray, shape, dtype)


def _is_unsafe_global(entry, unsafe: dict) -> bool:
    """Whether a registered safe global makes one of ``unsafe`` (``{name:
    object}``) reachable by its pickle name."""
    if isinstance(entry, tuple):
        obj, name = entry
        return name in unsafe and obj is unsafe[name]
    return any(entry is obj for obj in unsafe.values())


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list the non-tensor globals that mmengine checkpoints contain.

    torch >= 2.6 loads with ``weights_only=True`` by default. mmengine's
    checkpoints also hold the message hub (``HistoryBuffer`` of numpy arrays),
    so loading fails without these globals:

    - ``HistoryBuffer``, whose ``__setstate__`` only stores data;
    - ``builtins.getattr`` as :func:`history_buffer_getattr`, which returns
      nothing but ``HistoryBuffer``'s statistics methods;
    - numpy arrays: ``numpy.ndarray`` as :data:`NDARRAY_NAME` and
      ``_reconstruct`` as :func:`reconstruct_ndarray` (the class itself is
      registered only under a name no pickle can spell, for the type check
      of ``__setstate__``), ``dtype`` and its ``numpy.dtypes`` classes, and
      ``scalar`` (it refuses object scalars from bytes);
    - numpy 1.x spellings (``numpy.core.multiarray``) of the same, so that
      checkpoints written with numpy 1 load too.

    The builtin ``getattr`` and the real ``numpy.ndarray`` class are never
    on the list: if other code put them there, they are taken off, with a
    warning. Everything else stays refused by torch's safe unpickler.
    """
    import torch
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    unsafe = {'builtins.getattr': getattr, 'numpy.ndarray': np.ndarray}
    registered = getattr(torch.serialization, 'get_safe_globals', list)()
    if any(_is_unsafe_global(g, unsafe) for g in registered):
        import warnings
        warnings.warn('mmseg_zs3: the builtin getattr or numpy.ndarray was '
                      'on torch\'s weights_only allow-list; a crafted file '
                      'reaches arbitrary code or memory through them, so '
                      'they are replaced by restricted stand-ins '
                      '(mmseg_zs3.compat)')
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(
            [g for g in registered if not _is_unsafe_global(g, unsafe)])
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    safe = [
        HistoryBuffer,
        np.dtype,
        (history_buffer_getattr, 'builtins.getattr'),
        (NDARRAY_NAME, 'numpy.ndarray'),
        # Only for the type check of BUILD: a GLOBAL line holds no newline.
        (np.ndarray, 'numpy.ndarray\n(type of rebuilt arrays)'),
    ]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        safe += [(reconstruct_ndarray, f'{module}._reconstruct'),
                 (scalar, f'{module}.scalar')]
    # numpy >= 1.25 pickles dtypes as instances of numpy.dtypes.*DType.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes)
            if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
        ]
    torch.serialization.add_safe_globals(safe)


def _weights_only_reason(error: Exception) -> str:
    """The unpickler's own reason from torch's long ``weights_only`` error,
    without torch's advice to load the file unsafely."""
    text = str(error)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1]
    # torch's message is paragraphs: its advice to re-run with
    # weights_only=False (first, for a blocked module such as os/posix), the
    # reason, a pointer to its docs. Keep the reason only.
    advice = ('weights only load failed', 're-running', 'weights_only',
              'check the documentation of torch.load', 'trusted source')
    lines = [
        line.strip() for line in text.splitlines()
        if line.strip() and not any(a in line.lower() for a in advice)
    ]
    reason = lines[0].split(' Please use ')[0].strip() if lines else ''
    if not reason or 'weights_only' in reason.lower():
        return "torch's weights_only unpickler refused it"
    return reason


def load_from_local(filename: str, map_location=None):
    """``torch.load(..., weights_only=True)`` whose errors name the file.

    Registered as mmengine's loader of local checkpoints (see
    :func:`install_checkpoint_loader`), so ``load_checkpoint``,
    ``Runner.resume`` / ``load_from`` and mmseg's ``init_model`` use it; the
    package's own torch files (feature cache, imported arrays) are read with
    it too. torch's errors name no file, and for a refused or unreadable file
    advise loading it with ``weights_only=False``; these say what is wrong
    with which file instead, and never give that advice.

    Args:
        filename (str): Local path (``~`` is expanded).
        map_location: As for :func:`torch.load`. Defaults to None.

    Returns:
        Any: The loaded object (a checkpoint dict for mmengine).

    Raises:
        FileNotFoundError: No such file.
        mmseg_zs3.utils.CheckpointFileError: The file is empty, truncated or
            not a torch file (see
            :func:`~mmseg_zs3.utils.checkpoint_file_problem`).
        UnsafePickleError: The file is a torch file, but holds objects
            beyond tensors and the globals allowed by
            :func:`allow_mmengine_checkpoint_globals`; nothing in it was run.
        ValueError: A complete torch file that still fails to load.
    """
    import torch
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - reworded below, naming the file
        from mmseg_zs3.utils.checkpoint_file import (CheckpointFileError,
                                                     checkpoint_file_problem)
        problem = checkpoint_file_problem(filename)
        if problem is not None:
            raise CheckpointFileError(
                f'checkpoint file {filename!r} {problem}') from None
        if isinstance(e, pickle.UnpicklingError):
            raise UnsafePickleError(
                f'refusing to load {filename!r}: it holds objects that a '
                f'file of weights does not need ({_weights_only_reason(e)}).'
                ' Unpickling such objects can run code from the file, so it '
                'is not loaded.') from None
        raise ValueError(
            f'{filename!r} is a damaged torch file ({type(e).__name__}: '
            f'{_weights_only_reason(e)})') from None


def install_checkpoint_loader() -> None:
    """Register :func:`load_from_local` for local paths in mmengine's
    ``CheckpointLoader``, in place of mmengine's own ``load_from_local``
    (same name, so mmengine's log line stays "Loads checkpoint by local
    backend")."""
    import torch
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


def quiet_stack_warnings() -> None:
    """Silence three warnings of the stack that no user of this plugin can
    act on, printed by every command (``--help`` included) or every model
    build. Exactly these messages; every other warning is untouched.

    - mmcv-lite: ``mmcv.cnn.bricks.transformer`` (imported by every mmseg
      model) warns that ``MultiScaleDeformableAttention`` needs full mmcv, an
      op no ZS3 config uses. The module is imported here once with that
      warning silenced (later imports are cached, so silent); ``from mmcv.ops
      import MultiScaleDeformableAttention`` still raises, naming full mmcv
      (:func:`install_lazy_mmcv_ops`). Nothing is done with full mmcv.
    - setuptools < 81 (pinned: ``mmseg::`` config inheritance needs
      ``pkg_resources``): its deprecation notice, which mmengine re-triggers
      by reloading ``pkg_resources`` whenever it reads such a config, is
      filtered for the process.
    - mmseg's decode heads call mmseg's own deprecated ``build_loss``, which
      warns at every model build: filtered for the process.
    """
    import warnings
    for message in ('pkg_resources is deprecated as an API',
                    '``build_loss`` would be deprecated soon'):
        warnings.filterwarnings(
            'ignore', message=message, category=UserWarning)
    if has_compiled_mmcv_ops() or \
            'mmcv.cnn.bricks.transformer' in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore',
            message='Fail to import ``MultiScaleDeformableAttention``',
            category=UserWarning)
        importlib.import_module('mmcv.cnn.bricks.transformer')


def apply() -> None:
    """Apply every fix; idempotent."""
    install_lazy_mmcv_ops()
    quiet_stack_warnings()
    allow_mmengine_checkpoint_globals()
    install_checkpoint_loader()
