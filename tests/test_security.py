"""No file the package reads can run code.

Each entry point gets a crafted file whose payload writes a marker file.
The checkpoint payload is the one of the issue: torch's allowed
``_rebuild_from_type_v2`` calls whatever it is given, and the builtin
``getattr`` (once on the allow-list) walks
``HistoryBuffer.__init__.__builtins__`` -> ``.get('eval')`` -> ``eval``.
:func:`test_payload_runs_with_the_builtin_getattr` shows the payload is live
under the allow-list this package used to install; every other test asserts
that the marker stays absent and the error names the file.
"""
import argparse
import logging
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, load_tool, tiny_config, write_tiny_config
from mmengine.logging import MMLogger
from mmengine.logging.history_buffer import HistoryBuffer
from torch._tensor import _rebuild_from_type_v2

from mmseg_zs3 import compat
from mmseg_zs3.embeddings import (dataset_classes, get_aliases,
                                  import_class_embeddings, load_word_vectors)

VOC = list(dataset_classes('PascalVOCDataset'))


class _GetAttr:
    """Unpickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


class _Call:
    """Unpickles as ``func(*args)``, through torch's allowed
    ``_rebuild_from_type_v2(func, new_type, args, state)``."""

    def __init__(self, func, new_type, args):
        self.func, self.new_type, self.args = func, new_type, args

    def __reduce__(self):
        return _rebuild_from_type_v2, (self.func, self.new_type, self.args, {})


def eval_payload(marker: str):
    """``eval("open(marker, 'w').write('pwned')")`` built from getattr."""
    builtins = _GetAttr(_GetAttr(HistoryBuffer, '__init__'), '__builtins__')
    get = _GetAttr(builtins, 'get')
    builtin_type = _GetAttr(get, '__class__')  # type(dict.get) is type(eval)
    eval_ = _Call(get, builtin_type, ('eval', ))
    return _Call(eval_, builtin_type,
                 (f"open({marker!r}, 'w').write('pwned')", ))


def crafted_checkpoint(path, marker, clean=None) -> str:
    """A real checkpoint (``clean``) with the payload in its ``meta``."""
    checkpoint = torch.load(clean) if clean else {'meta': {}}
    checkpoint['meta']['note'] = eval_payload(str(marker))
    torch.save(checkpoint, str(path))
    return str(path)


class _System:
    """A plain-pickle payload (what gensim's ``.kv`` loader would run)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _ObjectArrayFromBytes:
    """Unpickles as ``numpy.ndarray((1,), object, buffer)``: bytes from the
    file become an object pointer (0x4141414141)."""

    def __reduce__(self):
        return np.ndarray, ((1, ), np.dtype('O'),
                            (0x4141414141).to_bytes(8, 'little'))


_LOAD_IN_A_FRESH_PROCESS = """
import importlib.util, pickle, sys
import torch
spec = importlib.util.spec_from_file_location('zs3_compat', sys.argv[1])
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
if sys.argv[3] == 'old':  # the allow-list this package used to install
    import numpy as np
    from numpy._core.multiarray import _reconstruct, scalar
    torch.serialization.add_safe_globals(
        [np.ndarray, np.dtype, _reconstruct, scalar, np.dtypes.ObjectDType])
else:
    compat.allow_mmengine_checkpoint_globals()
try:
    print(repr(torch.load(sys.argv[2], weights_only=True)), flush=True)
except pickle.UnpicklingError as e:
    print('REFUSED', e)
    sys.exit(3)
"""


def _old_allow_list():
    """The allow-list this package installed before the fix."""
    import numpy.dtypes as dtypes
    from numpy._core.multiarray import _reconstruct, scalar
    return [
        HistoryBuffer, np.ndarray, np.dtype, getattr, _reconstruct, scalar
    ] + [
        getattr(dtypes, n) for n in dir(dtypes)
        if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
    ]


_tool = load_tool


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'PWNED'
    yield path
    assert not path.exists(), 'the payload ran'


def test_payload_runs_with_the_builtin_getattr(tmp_path):
    """Control: under the old allow-list the crafted file runs its code."""
    marker = tmp_path / 'PWNED'
    path = crafted_checkpoint(tmp_path / 'evil.pth', marker)
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        torch.serialization.add_safe_globals(_old_allow_list())
        with pytest.raises(Exception):  # the payload's result is no tensor
            torch.load(path, weights_only=True)
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)
    assert marker.read_text() == 'pwned'


def test_numpy_ndarray_cannot_be_called(tmp_path):
    """``numpy.ndarray`` on the allow-list let a checkpoint build an object
    array from its own bytes (a segfault when used; pointers the file
    chooses). Now the global is a stand-in that only ``_reconstruct``
    accepts. Run in fresh processes: the old list crashes the interpreter."""
    path = str(tmp_path / 'fake_pointer.pth')
    torch.save({'meta': {'note': _ObjectArrayFromBytes()}}, path)
    runs = {}
    for mode in ('old', 'new'):
        runs[mode] = subprocess.run([
            sys.executable, '-c', _LOAD_IN_A_FRESH_PROCESS,
            osp.join(REPO, 'mmseg_zs3', 'compat.py'), path, mode
        ],
                                    capture_output=True,
                                    text=True,
                                    timeout=120)
    assert runs['old'].returncode < 0, runs['old']  # killed by a signal
    assert runs['new'].returncode == 3, runs['new'].stderr[-2000:]
    assert 'numpy.ndarray(...) is not allowed' in runs['new'].stdout
    # and through mmengine's loader, naming the file
    from mmengine.runner import load_checkpoint
    with pytest.raises(pickle.UnpicklingError, match='refusing') as e:
        load_checkpoint(torch.nn.Linear(2, 2), path)
    assert path in str(e.value)


def test_getattr_is_restricted_to_history_buffer_statistics():
    registered = torch.serialization.get_safe_globals()
    assert getattr not in registered
    assert (compat.history_buffer_getattr, 'builtins.getattr') in registered
    # The names mmengine registers as default statistics.
    HistoryBuffer()
    assert compat.HISTORY_BUFFER_STATISTICS <= set(
        HistoryBuffer._statistics_methods)
    for name in compat.HISTORY_BUFFER_STATISTICS:
        assert compat.history_buffer_getattr(HistoryBuffer, name) is \
            getattr(HistoryBuffer, name)
    for obj, name in [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'),
                      (HistoryBuffer, '__class__'), (dict, 'get'),
                      (np.ndarray, 'min'), (HistoryBuffer(), 'min')]:
        with pytest.raises(pickle.UnpicklingError, match='not allowed'):
            compat.history_buffer_getattr(obj, name)


def test_ndarray_stand_in_refuses_to_build():
    for build in (lambda: compat.NDARRAY_NAME((1, ), np.dtype('O')),
                  lambda: compat.NDARRAY_NAME.__new__(compat.NDARRAY_NAME),
                  lambda: compat.reconstruct_ndarray(np.ndarray, (0, ), b'b')):
        with pytest.raises(pickle.UnpicklingError, match='not allowed'):
            build()
    empty = compat.reconstruct_ndarray(compat.NDARRAY_NAME, (0, ), b'b')
    assert type(empty) is np.ndarray


@pytest.mark.parametrize('unsafe', [getattr, np.ndarray])
def test_unsafe_global_registered_elsewhere_is_replaced(unsafe):
    torch.serialization.add_safe_globals([unsafe])
    with pytest.warns(UserWarning, match='replaced by restricted'):
        compat.allow_mmengine_checkpoint_globals()
    registered = torch.serialization.get_safe_globals()
    assert unsafe not in registered
    assert (compat.history_buffer_getattr, 'builtins.getattr') in registered
    assert (compat.NDARRAY_NAME, 'numpy.ndarray') in registered


def test_load_checkpoint(tmp_path, marker, trained_checkpoint):
    from mmengine.runner import load_checkpoint
    path = crafted_checkpoint(tmp_path / 'evil.pth', marker,
                              trained_checkpoint)
    with pytest.raises(pickle.UnpicklingError) as e:
        load_checkpoint(torch.nn.Linear(2, 2), path)
    msg = str(e.value)
    assert path in msg and "getattr(HistoryBuffer, '__init__')" in msg
    assert 'weights_only=False' not in msg


def test_init_model(tmp_path, marker, shapes_root, trained_checkpoint):
    from mmseg.apis import init_model
    path = crafted_checkpoint(tmp_path / 'evil.pth', marker,
                              trained_checkpoint)
    with pytest.raises(pickle.UnpicklingError, match='refusing') as e:
        init_model(
            tiny_config(shapes_root, str(tmp_path / 'w')), path, device='cpu')
    assert path in str(e.value)


def test_train_resume(tmp_path, marker, shapes_root, trained_checkpoint):
    """``tools/train.py --resume`` with a planted ``last_checkpoint``."""
    from mmseg_zs3.apis import train
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    path = crafted_checkpoint(work_dir / 'iter_2.pth', marker,
                              trained_checkpoint)
    (work_dir / 'last_checkpoint').write_text(path)
    config = write_tiny_config(
        str(tmp_path / 'cfg.py'), shapes_root, str(work_dir))
    args = argparse.Namespace(
        config=config,
        work_dir=None,
        resume=True,
        amp=False,
        cfg_options=None,
        launcher='none')
    with pytest.raises(pickle.UnpicklingError, match='refusing') as e:
        train(args)
    assert path in str(e.value)


def test_test_tool(tmp_path, marker, shapes_root, trained_checkpoint):
    """``tools/test.py CONFIG crafted.pth`` (the issue's case). That a fresh
    process has the fix after ``import mmseg_zs3`` alone is checked in
    ``test_compat.test_fresh_process_imports_mmseg_and_ops``."""
    from mmseg_zs3.apis import test
    path = crafted_checkpoint(tmp_path / 'evil.pth', marker,
                              trained_checkpoint)
    config = write_tiny_config(
        str(tmp_path / 'cfg.py'), shapes_root, str(tmp_path / 'w'))
    args = _tool('test').parse_args([config, path])
    with pytest.raises(pickle.UnpicklingError, match='refusing') as e:
        test(args)
    assert path in str(e.value)


def test_feature_cache(tmp_path, marker):
    from mmseg_zs3.engine.feature_cache import FeatureCache
    path = str(tmp_path / 'zs3_feature_cache.pth')
    key = dict(num_classes=2)
    torch.save(dict(key=key, cache=eval_payload(str(marker))), path)
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        cache, reason = FeatureCache.load(path, key)
    finally:
        logger.removeHandler(handler)
    assert cache is None and path in reason  # recomputed instead
    messages = [r.getMessage() for r in records]
    assert any(path in m and 'refusing' in m for m in messages), messages


def test_pkl_that_is_a_torch_zip(tmp_path, marker):
    path = str(tmp_path / 'embeddings.pkl')
    torch.save({'embeddings': eval_payload(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing') as e:
        import_class_embeddings(path, VOC, key='embeddings')
    assert path in str(e.value)
    out = tmp_path / 'out.npz'
    with pytest.raises(SystemExit) as e:
        _tool('convert_class_embeddings').main(
            [path, '--classes', 'PascalVOCDataset', '--out',
             str(out)])
    assert path in str(e.value.code) and 'refusing' in str(e.value.code)
    assert not out.exists()


def test_plain_pickle_array(tmp_path, marker):
    path = tmp_path / 'embeddings.pkl'
    path.write_bytes(pickle.dumps({'x': _System(marker)}))
    with pytest.raises(
            pickle.UnpicklingError,
            match=r"refusing to unpickle posix\.system") as e:
        import_class_embeddings(str(path), VOC, key='x')
    assert str(path) in str(e.value)


def test_gensim_kv(tmp_path, marker):
    path = tmp_path / 'vectors.kv'
    path.write_bytes(pickle.dumps(_System(marker)))
    with pytest.raises(ValueError, match='--trust-pickle') as e:
        load_word_vectors(str(path), cache_dir=str(tmp_path / 'cache'))
    assert str(path) in str(e.value)
    with pytest.raises(SystemExit) as e:
        _tool('build_class_embeddings').main([
            str(path), '--classes', 'red,green', '--cache-dir',
            str(tmp_path / 'cache'), '--out',
            str(tmp_path / 'o.npz')
        ])
    assert str(path) in str(e.value.code)
    assert '--trust-pickle' in str(e.value.code)
    assert not (tmp_path / 'cache').exists()  # refused before any work
    # .model (a full gensim model) is a pickle too; the format flag does
    # not get around the refusal.
    model = tmp_path / 'w2v.model'
    model.write_bytes(pickle.dumps(_System(marker)))
    for p, fmt in [(model, 'auto'), (path, 'kv')]:
        with pytest.raises(ValueError, match='Python pickles'):
            load_word_vectors(str(p), fmt=fmt)


def test_planted_pickle_in_the_word_vector_cache(tmp_path, marker):
    """A cache entry is data only: a ``vectors.kv`` pickle planted under the
    entry's name (or left by an older version) is never unpickled."""
    from mmseg_zs3.embeddings.word_vectors import CACHE_VERSION, cache_key
    source = tmp_path / 'glove.txt'
    source.write_text('red 1 0 0\ngreen 0 1 0\n')
    cache = tmp_path / 'cache'
    entry = cache / f'{cache_key(str(source), "glove")}-v{CACHE_VERSION}'
    entry.mkdir(parents=True)
    (entry / 'vectors.kv').write_bytes(pickle.dumps(_System(marker)))
    kv = load_word_vectors(str(source), cache_dir=str(cache))
    np.testing.assert_array_equal(kv['green'], [0, 1, 0])
    assert sorted(
        os.listdir(entry)) == ['manifest.json', 'vectors.npy', 'words.json']


def test_yaml_alias_file(tmp_path, marker):
    path = tmp_path / 'aliases.yaml'
    path.write_text('cat: !!python/object/apply:os.system '
                    f'["touch {marker}"]\n')
    with pytest.raises(ValueError, match='not plain YAML data') as e:
        get_aliases(str(path))
    assert str(path) in str(e.value)
    pkl = tmp_path / 'aliases.pkl'  # mmengine.fileio.load would unpickle it
    pkl.write_bytes(pickle.dumps(_System(marker)))
    with pytest.raises(ValueError, match=r'\.json, \.yaml or \.yml'):
        get_aliases(str(pkl))


def test_pickled_object_array_from_bytes(tmp_path):
    """The ``.pkl`` importer's ``numpy.ndarray`` is the stand-in too (NULL
    pointers here, so that a regression fails instead of crashing)."""

    class NullObjectArray:

        def __reduce__(self):
            return np.ndarray, ((2, ), np.dtype('O'), bytes(16))

    path = tmp_path / 'embeddings.pkl'
    path.write_bytes(pickle.dumps(NullObjectArray(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        import_class_embeddings(str(path), VOC)
    # A real array pickle still loads, with every protocol.
    rows = np.random.default_rng(0).normal(size=(21, 4))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path.write_bytes(pickle.dumps(rows, protocol=protocol))
        np.testing.assert_allclose(
            import_class_embeddings(str(path), VOC).vectors, rows, atol=1e-6)


@pytest.mark.parametrize('zipped', [True, False], ids=['zip', 'legacy'])
def test_blocked_module_payload_gets_no_unsafe_advice(tmp_path, marker,
                                                      zipped):
    """A checkpoint whose pickle calls ``os.system`` (a module torch blocks):
    torch's error starts with its advice to re-run with weights_only=False;
    the message keeps its reason and drops the advice, in every entry point
    that reads torch files (checkpoints, the feature cache, the importer)."""
    from mmengine.runner import load_checkpoint

    from mmseg_zs3.engine.feature_cache import FeatureCache
    path = str(tmp_path / 'evil.pth')
    torch.save({
        'state_dict': {},
        'meta': _System(marker)
    },
               path,
               _use_new_zipfile_serialization=zipped)
    for load in (lambda: load_checkpoint(torch.nn.Linear(2, 2), path),
                 lambda: import_class_embeddings(path, VOC, key='meta')):
        with pytest.raises(pickle.UnpicklingError) as e:
            load()
        msg = str(e.value)
        assert path in msg and 'system' in msg, msg
        assert 'weights_only' not in msg and 'Re-running' not in msg, msg
    cache, reason = FeatureCache.load(path, dict(num_classes=2))
    assert cache is None and path in reason
    assert 'weights_only' not in reason and 'Re-running' not in reason
    assert not marker.exists()
