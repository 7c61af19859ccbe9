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
from typing import Optional, Sequence, Union

import numpy as np

from .aliases import resolve_class_names
from .builder import NORMALIZATIONS, normalize_vectors
from .class_embeddings import ClassEmbeddings

# Globals a pickled numpy array may reference; nothing else is unpickled.
_SAFE_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('collections', 'OrderedDict'),
    ('_codecs', 'encode'),  # bytes in protocol-2 pickles written by Python 3
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists and dicts only (no arbitrary code)."""

    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'refusing to unpickle {module}.{name}: only numpy arrays, '
            f'lists and dicts are read from published embedding pickles')


def _load_pickle(path: str):
    for encoding in ('ASCII', 'latin1'):
        try:
            with open(path, 'rb') as f:
                return _ArrayUnpickler(f, encoding=encoding).load()
        except UnicodeDecodeError:
            continue  # a Python 2 pickle: numpy buffers need latin-1
    raise ValueError(f'cannot decode pickle {path!r}')


def load_array(path: str, key: Optional[str] = None):
    """Read a published array: ``.npy``, ``.pkl`` or torch-saved.

    Args:
        path (str): The file. Pickles, including Python-2 (latin-1) ones,
            are read with an unpickler that only builds numpy arrays;
            torch files with ``weights_only=True``.
        key (str, optional): For a dict payload, the entry that holds the
            matrix.

    Returns:
        np.ndarray | dict: The matrix, or a ``{class name: vector}`` dict
        when the payload is one and ``key`` is None.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'embedding array not found: {path!r}')
    if zipfile.is_zipfile(path) and not path.endswith('.npz'):
        import torch
        obj = torch.load(path, map_location='cpu', weights_only=True)
    elif path.endswith('.npy'):
        obj = np.load(path, allow_pickle=False)
    elif path.endswith('.npz'):
        with np.load(path, allow_pickle=False) as z:
            obj = {k: z[k] for k in z.files}
    else:
        obj = _load_pickle(path)
    if isinstance(obj, dict):
        if key is not None:
            if key not in obj:
                raise KeyError(f'{path!r} has no key {key!r}; keys: '
                               f'{sorted(map(str, obj))}')
            obj = obj[key]
        else:
            arrays = {k: v for k, v in obj.items()
                      if np.ndim(_to_numpy(v)) == 1}
            if len(arrays) == len(obj) and obj:
                return {str(k): _to_numpy(v) for k, v in arrays.items()}
            raise ValueError(f'{path!r} holds a dict with keys '
                             f'{sorted(map(str, obj))}: pass key=')
    arr = _to_numpy(obj)
    if arr.ndim != 2:
        raise ValueError(f'{path!r}: expected a 2-D [classes, dim] array, '
                         f'got shape {arr.shape}')
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
                            reference=None) -> ClassEmbeddings:
    """Import a published class-embedding array into our format.

    Args:
        array_path (str): ``.npy``, ``.pkl`` (incl. latin-1 pickles) or a
            torch-saved tensor.
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

    Returns:
        ClassEmbeddings: Rows named by ``class_names``.

    Raises:
        ValueError: The row count differs from the number of names (the
            message says by how much: an offset list often has one name
            too many or too few), or the alignment check fails.
    """
    names = resolve_class_names(class_names)
    arr = load_array(array_path, key=key)
    if isinstance(arr, dict):
        missing = [n for n in names if n not in arr]
        if missing:
            raise ValueError(f'{array_path!r} has no vector for {missing}; '
                             f'it has {sorted(arr)}')
        arr = np.stack([arr[n] for n in names])
    if arr.shape[0] != len(names):
        diff = len(names) - arr.shape[0]
        raise ValueError(
            f'{array_path!r} has {arr.shape[0]} rows but {len(names)} class '
            f'names were given ({diff:+d}); first names {names[:3]}, last '
            f'{names[-3:]}. A list offset by one (e.g. a leading '
            f"'unlabeled'/'background') does not describe this array")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f'unknown normalization {normalize!r}; valid: '
                         f'{list(NORMALIZATIONS)}')
    vectors, divisor = normalize_vectors(arr.astype(np.float64), normalize)
    meta = dict(sources=[source or osp.basename(array_path)],
                normalization=normalize,
                imported_from=osp.abspath(array_path),
                classes=[dict(name=n, sources=[dict(strategy='imported')])
                         for n in names])
    if divisor is not None:
        meta['max_norm_divisor'] = divisor
    emb = ClassEmbeddings(names, vectors, meta)
    if reference is not None:
        emb.meta['alignment'] = check_alignment(emb, reference)
    return emb


def check_alignment(emb: ClassEmbeddings, reference, max_shift: int = 2,
                    margin: float = 0.05) -> dict:
    """Check that rows match their names, against reference embeddings.

    Compares the class-to-class cosine-similarity matrix of ``emb`` with that
    of the reference (for the same names) under row shifts of
    ``-max_shift..max_shift``; works across different vector spaces.

    Args:
        emb (ClassEmbeddings): The imported embeddings.
        reference (ClassEmbeddings | KeyedVectors): Reference class
            embeddings, or word vectors to build them from (tokens resolved
            as in :func:`~.builder.build_class_embeddings`, with
            ``allow_missing``).
        max_shift (int): Largest shift tried. Defaults to 2.
        margin (float): How much better a shift must correlate than no shift
            to be called an offset. Defaults to 0.05.

    Returns:
        dict: ``{'shift_correlations': {shift: r}, 'best_shift': int}``.

    Raises:
        ValueError: A non-zero shift fits clearly better: the class list is
            offset against the rows.
    """
    from .builder import build_class_embeddings
    if not isinstance(reference, ClassEmbeddings):
        import logging

        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            reference = build_class_embeddings(
                emb.names, reference, allow_missing=True)
        finally:
            logger.setLevel(level)
    ref = reference.reorder(emb.names, drop_extra=True).vectors.astype(np.float64)

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
        if len(rows) < 4:
            continue
        sa, sr = cos(a[rows]), cos(ref[rows + s])
        iu = np.triu_indices(len(rows), 1)
        scores[s] = float(np.corrcoef(sa[iu], sr[iu])[0, 1])
    best = max(scores, key=scores.get)
    if best != 0 and scores[best] > scores[0] + margin:
        raise ValueError(
            f'class list looks offset by {best:+d} against the array rows: '
            f'similarity-structure correlation {scores[best]:.2f} at shift '
            f'{best:+d} vs {scores[0]:.2f} as given (row i matches name '
            f'i{best:+d}); fix the class-name list')
    return dict(shift_correlations=scores, best_shift=best)
