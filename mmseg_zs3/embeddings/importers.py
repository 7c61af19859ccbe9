"""Importers for published class-embedding arrays.

Published arrays (ZS3's VOC/Context ``.pkl``, SPNet/CaGNet's 182-row
COCO-Stuff files, ``.npy``, torch-saved tensors) carry no class names: the
caller gives the class list of their row order, and the import is checked
for a row-count mismatch. :func:`check_alignment` additionally catches a
class list that is offset by one against the rows, by comparing the
class-to-class similarity structure with reference embeddings (any word
vectors: the spaces need not match).
"""
import os.path as osp
import pickle
import zipfile
from struct import error as struct_error
from typing import Optional, Sequence, Union

import numpy as np

from mmseg_zs3.compat import (NDARRAY_NAME, UnsafePickleError, load_from_local,
                              reconstruct_ndarray)
from mmseg_zs3.utils.checkpoint_file import is_legacy_torch_file

from .aliases import DATASET_ALIASES, resolve_class_names
from .builder import NORMALIZATIONS, normalize_vectors
from .class_embeddings import (ClassEmbeddings, format_unusable_rows,
                               unusable_rows)

# Globals a pickled numpy array may reference; nothing else is unpickled.
# They only build arrays from bytes (``_frombuffer`` and ``__setstate__``
# refuse object arrays from bytes; ``numpy.ndarray`` itself, which does not,
# is replaced by a stand-in), lists and dicts: no attribute access, no other
# callable.
_SAFE_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),  # pickle protocol 5
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('collections', 'OrderedDict'),
    ('_codecs', 'encode'),  # bytes in protocol-2 pickles written by Python 3
}
ARRAY_FORMATS = ('.npy (without pickled objects)', '.npz', '.pkl (numpy '
                 'arrays, lists and dicts only; Python 2 latin-1 too)',
                 'a torch.save file of tensors')


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists and dicts only (no arbitrary code).

    ``numpy.ndarray`` resolves to the stand-in of
    :data:`mmseg_zs3.compat.NDARRAY_NAME` (calling the class would turn
    bytes of the file into object pointers), which only ``_reconstruct``
    accepts.
    """

    def find_class(self, module, name):
        if (module, name) == ('numpy', 'ndarray'):
            return NDARRAY_NAME
        if name == '_reconstruct' and (module, name) in _SAFE_GLOBALS:
            return reconstruct_ndarray
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f'refusing to unpickle {module}.{name}: only numpy arrays, '
            f'lists and dicts are read from published embedding pickles')


def _load_pickle(path: str):
    for encoding in ('ASCII', 'latin1'):
        try:
            with open(path, 'rb') as f:
                return _ArrayUnpickler(f, encoding=encoding).load()
        except UnicodeDecodeError:
            continue  # a Python 2 pickle: numpy buffers need latin-1
        except pickle.UnpicklingError as e:
            if isinstance(e, UnsafePickleError):
                raise UnsafePickleError(
                    f'{path!r}: {e}; nothing in it was run') from None
            raise ValueError(
                f'{path!r} is not a readable pickle ({e}); accepted array '
                f'files: {", ".join(ARRAY_FORMATS)}') from None
        except (EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, struct_error) as e:
            raise ValueError(
                f'{path!r} is not a readable pickle of numpy arrays '
                f'({type(e).__name__}: {e}; truncated?); accepted array '
                f'files: {", ".join(ARRAY_FORMATS)}') from None
    raise ValueError(f'cannot decode pickle {path!r}')


def load_array(path: str, key: Optional[str] = None):
    """Read a published array: ``.npy``, ``.npz``, ``.pkl`` or torch-saved.

    No file can run code: pickles, including Python-2 (latin-1) ones, are
    read with an unpickler that only builds numpy arrays, lists and dicts;
    ``.npy``/``.npz`` with ``allow_pickle=False``; a torch zip (whatever its
    suffix: a ``.pkl`` may be one) with ``weights_only=True`` through
    :func:`mmseg_zs3.compat.load_from_local`.

    Args:
        path (str): The file.
        key (str, optional): For a dict payload, the entry that holds the
            matrix.

    Returns:
        np.ndarray | dict: The matrix, or a ``{class name: vector}`` dict
        when the payload is one and ``key`` is None.

    Raises:
        FileNotFoundError: No such file.
        mmseg_zs3.compat.UnsafePickleError: The file holds other objects
            than arrays (the file is named; nothing in it was run).
        ValueError: The file is unreadable, truncated or of another kind,
            holds no 2-D matrix, or a dict without ``key``.
        KeyError: ``key`` is not in the dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'embedding array not found: {path!r}')
    if osp.getsize(path) == 0:
        raise ValueError(f'embedding array {path!r} is empty (0 bytes)')
    with open(path, 'rb') as f:
        head = f.read(16)
    if (head.startswith(b'PK') and not path.endswith('.npz')) or \
            is_legacy_torch_file(head):
        obj = load_from_local(path, map_location='cpu')
    elif head[:6] == b'\x93NUMPY' or path.endswith(('.npy', '.npz')):
        try:
            obj = np.load(path, allow_pickle=False)
            if isinstance(obj, np.lib.npyio.NpzFile):
                with obj as z:
                    obj = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(
                f'{path!r} is not a readable numpy file without pickled '
                f'objects ({type(e).__name__}: {e})') from None
    else:
        obj = _load_pickle(path)
    if isinstance(obj, dict):
        if key is not None:
            if key not in obj:
                raise KeyError(f'{path!r} has no key {key!r}; keys: '
                               f'{sorted(map(str, obj))}')
            obj = obj[key]
        else:
            arrays = {
                k: v
                for k, v in obj.items() if np.ndim(_to_numpy(v)) == 1
            }
            if len(arrays) == len(obj) and obj:
                return {str(k): _to_numpy(v) for k, v in arrays.items()}
            raise ValueError(f'{path!r} holds a dict with keys '
                             f'{sorted(map(str, obj))}: pass key=')
    try:
        arr = _to_numpy(obj)
    except (ValueError, TypeError) as e:
        raise ValueError(f'{path!r} holds a {type(obj).__name__}, not a '
                         f'numeric [classes, dim] matrix ({e})') from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f'{path!r}: expected a 2-D numeric [classes, dim] '
                         f'array, got shape {arr.shape}, dtype {arr.dtype}')
    return arr


def _to_numpy(obj) -> np.ndarray:
    if hasattr(obj, 'detach'):
        return obj.detach().cpu().numpy()
    return np.asarray(obj)


def import_class_embeddings(array_path: str,
                            class_names: Union[str, Sequence[str]],
                            key: Optional[str] = None,
                            source: Optional[str] = None,
                            normalize: str = 'none',
                            reference=None,
                            min_correlation: float = 0.3) -> ClassEmbeddings:
    """Import a published class-embedding array into our format.

    Args:
        array_path (str): ``.npy``, ``.npz``, ``.pkl`` (incl. latin-1
            pickles) or a torch-saved tensor (see :func:`load_array`).
        class_names (str | Sequence[str]): The names of its rows, in order:
            a list, or any spec of :func:`~.aliases.resolve_class_names`
            (a names file, ``'coco_stuff_182'``, a dataset type).
        key (str, optional): Dict entry holding the matrix.
        source (str, optional): Provenance recorded in ``meta['sources']``.
            Defaults to the file name.
        normalize (str): ``'none'`` (keep the published values), ``'l2'`` or
            ``'max_norm'``. Defaults to ``'none'``.
        reference (ClassEmbeddings | KeyedVectors, optional): When given,
            :func:`check_alignment` runs against it.
        min_correlation (float): Passed to :func:`check_alignment`. Defaults
            to 0.3.

    Returns:
        ClassEmbeddings: Rows named by ``class_names``.

    Raises:
        ValueError: The row count differs from the number of names (the
            message says by how much: an offset list often has one name
            too many or too few), a row is non-finite or all-zero (the
            classes are named), or the alignment check fails; and see
            :func:`load_array`.
    """
    names = resolve_class_names(class_names)
    if normalize not in NORMALIZATIONS:
        raise ValueError(f'unknown normalization {normalize!r}; valid: '
                         f'{list(NORMALIZATIONS)}')
    arr = load_array(array_path, key=key)
    if isinstance(arr, dict):
        missing = [n for n in names if n not in arr]
        if missing:
            raise ValueError(f'{array_path!r} has no vector for {missing}; '
                             f'it has {sorted(arr)}')
        dims = {n: np.shape(arr[n]) for n in names}
        if len(set(dims.values())) != 1:
            raise ValueError(f'{array_path!r}: the class vectors differ in '
                             f'shape: {dims}')
        arr = np.stack([arr[n] for n in names])
    if arr.shape[0] != len(names):
        diff = len(names) - arr.shape[0]
        raise ValueError(
            f'{array_path!r} has {arr.shape[0]} rows but {len(names)} class '
            f'names were given ({diff:+d}); first names {names[:3]}, last '
            f'{names[-3:]}. A list offset by one (e.g. a leading '
            f"'unlabeled'/'background') does not describe this array")
    bad = unusable_rows(names, arr)
    if bad:
        raise ValueError(f'{array_path!r} has {format_unusable_rows(bad)}: '
                         f'every class needs a finite, non-zero vector')
    vectors, divisor = normalize_vectors(arr.astype(np.float64), normalize)
    meta = dict(
        sources=[source or osp.basename(array_path)],
        normalization=normalize,
        imported_from=osp.abspath(array_path),
        classes=[
            dict(name=n, sources=[dict(strategy='imported')]) for n in names
        ])
    if divisor is not None:
        meta['max_norm_divisor'] = divisor
    try:
        emb = ClassEmbeddings(names, vectors, meta)
    except ValueError as e:
        raise ValueError(f'{array_path!r}: {e}') from None
    if reference is not None:
        emb.meta['alignment'] = check_alignment(
            emb, reference, min_correlation=min_correlation)
    return emb


def _reference_rows(names, reference) -> tuple:
    """Reference vectors for ``names`` and which names have one.

    Args:
        names (list[str]): Class names.
        reference (ClassEmbeddings | KeyedVectors): Named rows, or word
            vectors (phrases from every dataset alias table; a class whose
            first phrase has a known word averages the known words).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[C, D]`` float64 (zero where
        unknown) and a bool mask ``[C]``.
    """
    from .builder import embed_class
    if isinstance(reference, ClassEmbeddings):
        have = set(reference.names)
        valid = np.array([n in have for n in names])
        ref = np.zeros((len(names), reference.dim))
        for i, n in enumerate(names):
            if n in have:
                ref[i] = reference[n]
        return ref, valid
    table = {}
    for aliases in DATASET_ALIASES.values():
        for name, phrases in aliases.items():
            table.setdefault(name, phrases)
    ref = np.zeros((len(names), reference.vector_size))
    valid = np.zeros(len(names), dtype=bool)
    for i, n in enumerate(names):
        vector, _ = embed_class(
            reference, n, table.get(n, [n]), allow_missing=True)
        if vector is not None and np.isfinite(vector).all() and vector.any():
            ref[i], valid[i] = vector, True
    return ref, valid


def check_alignment(emb: ClassEmbeddings,
                    reference,
                    max_shift: int = 2,
                    margin: float = 0.05,
                    min_correlation: float = 0.3) -> dict:
    """Check that rows match their names, against reference embeddings.

    Compares the class-to-class cosine-similarity matrix of ``emb`` with that
    of the reference (for the same names), as given and under row shifts of
    ``-max_shift..max_shift``; works across different vector spaces. Two
    failures are caught: a list offset against the rows (a shift fits
    clearly better), and a list in another order (a permutation, e.g. a
    Context array in ZS3's VOC-first order named by mmseg's alphabetical
    list): no shift fits, and the correlation as given is low in absolute
    terms (about 0.06 for that case, against 0.89 with the right list).

    Args:
        emb (ClassEmbeddings): The imported embeddings.
        reference (ClassEmbeddings | KeyedVectors): Reference class
            embeddings, or word vectors to build them from (see
            :func:`_reference_rows`). Classes the reference lacks are left
            out of the comparison.
        max_shift (int): Largest shift tried. Defaults to 2.
        margin (float): How much better a shift must correlate than no shift
            to be called an offset. Defaults to 0.05.
        min_correlation (float): The lowest correlation accepted for the
            list as given. Right lists correlate well above it across
            word-vector spaces; a permuted list correlates near 0. With few
            classes (a dozen or less) the correlation is noisy: lower it
            there if a list you checked by hand fails. Defaults to 0.3.

    Returns:
        dict: ``{'shift_correlations': {shift: r}, 'best_shift': int,
        'compared_classes': int}``.

    Raises:
        ValueError: A non-zero shift fits clearly better, and well (at
            least ``min_correlation``): the list is offset against the rows;
            the correlation as given is below
            ``min_correlation`` (the list is in another order than the rows,
            or the rows are not embeddings of these classes); or fewer than
            4 classes are known to the reference (nothing to compare).
    """
    ref, valid = _reference_rows(emb.names, reference)

    def cos(x):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(n > 0, n, 1.0)
        return x @ x.T

    a = emb.vectors.astype(np.float64)
    c = len(emb)
    scores = {}
    for s in range(-max_shift, max_shift + 1):
        # Hypothesis: row i holds the class named names[i + s].
        rows = np.arange(max(0, -s), min(c, c - s))
        rows = rows[valid[rows + s]]
        if len(rows) < 4:
            continue
        sa, sr = cos(a[rows]), cos(ref[rows + s])
        iu = np.triu_indices(len(rows), 1)
        scores[s] = float(np.corrcoef(sa[iu], sr[iu])[0, 1])
    if 0 not in scores:
        raise ValueError(
            f'cannot check the alignment: only {int(valid.sum())} of the '
            f'{c} classes have a reference vector (4 or more are needed); '
            f'classes without one: '
            f'{[n for n, v in zip(emb.names, valid) if not v][:10]}')
    best = max(scores, key=scores.get)
    if best != 0 and scores[best] > scores[0] + margin and \
            scores[best] >= min_correlation:
        raise ValueError(
            f'class list looks offset by {best:+d} against the array rows: '
            f'similarity-structure correlation {scores[best]:.2f} at shift '
            f'{best:+d} vs {scores[0]:.2f} as given (row i matches name '
            f'i{best:+d}); fix the class-name list')
    if not scores[0] >= min_correlation:
        raise ValueError(
            f'the rows do not match the class list: their class-to-class '
            f'similarities correlate {scores[0]:.2f} with the reference '
            f'(min_correlation {min_correlation}; a right list correlates '
            f'well above it, a permuted one near 0). The list is probably in '
            f'another order than the array (e.g. VOC-first vs alphabetical), '
            f'or the array holds other classes; first names given: '
            f'{emb.names[:5]}')
    return dict(
        shift_correlations=scores,
        best_shift=best,
        compared_classes=int(valid.sum()))
