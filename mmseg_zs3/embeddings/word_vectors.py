"""Loading word vectors with gensim, with a memory-mapped cache.

Every format is read by gensim's own loader, once; the result is saved as
gensim ``KeyedVectors`` (``vectors.kv`` + ``vectors.kv.vectors.npy``) in a
cache directory and memory-mapped (``mmap='r'``) on every later call, so a
second run costs well under a second even for millions of words.

The cache entry is keyed by the source's absolute path, size, modification
time and format. It is written into a temporary directory and renamed into
place with ``os.replace``, so a crash never leaves a half-written entry that a
later run would trust.
"""
import hashlib
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Optional

from mmengine.logging import print_log

WORD_VECTOR_FORMATS = ('word2vec_bin', 'word2vec_text', 'glove', 'fasttext',
                       'kv', 'auto')
CACHE_ENV = 'MMSEG_ZS3_CACHE'
_FASTTEXT_MAGIC = (793712314).to_bytes(4, 'little')


def default_cache_dir(cache_dir: Optional[str] = None) -> str:
    """The word-vector cache directory.

    Args:
        cache_dir (str, optional): Used as is when given. Otherwise
            ``$MMSEG_ZS3_CACHE/word_vectors`` when that variable is set, else
            ``~/.cache/mmseg_zs3/word_vectors``.

    Returns:
        str: The directory (not created).
    """
    if cache_dir:
        return osp.expanduser(cache_dir)
    root = os.environ.get(CACHE_ENV) or osp.join('~', '.cache', 'mmseg_zs3')
    return osp.join(osp.expanduser(root), 'word_vectors')


def detect_format(path: str) -> str:
    """Guess the format of a word-vector file from its name and first bytes.

    Args:
        path (str): The file.

    Returns:
        str: One of ``'kv'``, ``'fasttext'``, ``'word2vec_bin'``,
        ``'word2vec_text'`` (a ``"count dim"`` header line) or ``'glove'``
        (text without a header).
    """
    if path.endswith(('.kv', '.model', '.kv.gz')):
        return 'kv'
    opener = open
    if path.endswith('.gz'):
        import gzip
        opener = gzip.open
    elif path.endswith('.bz2'):
        import bz2
        opener = bz2.open
    with opener(path, 'rb') as f:
        first = f.readline(1 << 16)
    if first[:4] == _FASTTEXT_MAGIC:
        return 'fasttext'
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        # word2vec header; binary files have raw float bytes after it.
        with opener(path, 'rb') as f:
            f.readline()
            sample = f.read(4096)
        try:
            sample.decode('utf-8')
            return 'word2vec_text'
        except UnicodeDecodeError:
            return 'word2vec_bin'
    return 'glove'


def _read_with_gensim(path: str, fmt: str):
    from gensim.models import KeyedVectors
    if fmt == 'word2vec_bin':
        return KeyedVectors.load_word2vec_format(path, binary=True)
    if fmt == 'word2vec_text':
        return KeyedVectors.load_word2vec_format(path, binary=False)
    if fmt == 'glove':
        return KeyedVectors.load_word2vec_format(
            path, binary=False, no_header=True)
    if fmt == 'fasttext':
        # Keeps the n-gram buckets: out-of-vocabulary words get a vector from
        # their character n-grams.
        from gensim.models.fasttext import load_facebook_vectors
        return load_facebook_vectors(path)
    raise AssertionError(fmt)


def cache_key(path: str, fmt: str) -> str:
    """Cache entry name: file stem + hash of (abs path, size, mtime, format).

    Args:
        path (str): The source file.
        fmt (str): Its (resolved) format.

    Returns:
        str: A directory name.
    """
    st = os.stat(path)
    ident = f'{osp.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{fmt}'
    digest = hashlib.sha1(ident.encode('utf-8')).hexdigest()[:16]
    stem = osp.basename(path).split('.')[0] or 'vectors'
    return f'{stem}-{fmt}-{digest}'


def cached_keyed_vectors(key: str, build, cache_dir: Optional[str] = None,
                         description: str = ''):
    """Return cached KeyedVectors for ``key``, building them once.

    Args:
        key (str): The cache entry name.
        build (callable): Returns KeyedVectors; called on a cache miss.
        cache_dir (str, optional): See :func:`default_cache_dir`.
        description (str): What is loaded, for the log.

    Returns:
        gensim.models.KeyedVectors: Memory-mapped from the cache.
    """
    from gensim.models import KeyedVectors
    root = default_cache_dir(cache_dir)
    entry = osp.join(root, key)
    kv_file = osp.join(entry, 'vectors.kv')
    if not osp.isfile(kv_file):
        os.makedirs(root, exist_ok=True)
        print_log(f'Reading word vectors {description} (one-time; cached '
                  f'in {entry})', logger='current')
        t0 = time.perf_counter()
        kv = build()
        print_log(f'Read {len(kv.index_to_key)} words x {kv.vector_size} '
                  f'dims in {time.perf_counter() - t0:.1f} s; writing cache',
                  logger='current')
        tmp = tempfile.mkdtemp(prefix=f'.{key}.tmp-', dir=root)
        try:
            kv.save(osp.join(tmp, 'vectors.kv'), separately=['vectors'])
            try:
                os.replace(tmp, entry)
            except OSError:
                # Another process finished the same entry first: keep it.
                if not osp.isfile(kv_file):
                    raise
        finally:
            if osp.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    return KeyedVectors.load(kv_file, mmap='r')


def load_word_vectors(path: str, fmt: str = 'auto',
                      cache_dir: Optional[str] = None):
    """Load word vectors with gensim, through a memory-mapped cache.

    Args:
        path (str): The vectors file: word2vec binary or text, GloVe text
            (no header), a fastText ``.bin`` model (gensim's facebook loader,
            which also embeds out-of-vocabulary words from character
            n-grams), or gensim's native KeyedVectors (``.kv``).
        fmt (str): ``'word2vec_bin'``, ``'word2vec_text'``, ``'glove'``,
            ``'fasttext'``, ``'kv'`` or ``'auto'`` (from the name and first
            bytes, see :func:`detect_format`). Defaults to ``'auto'``.
        cache_dir (str, optional): Where converted files are cached. Defaults
            to ``$MMSEG_ZS3_CACHE/word_vectors`` or
            ``~/.cache/mmseg_zs3/word_vectors``. Native ``.kv`` files are
            memory-mapped in place and not cached.

    Returns:
        gensim.models.KeyedVectors: With an extra ``zs3_source`` attribute
        (``'<format>:<file name>'``) that class embeddings record.
    """
    from gensim.models import KeyedVectors
    if fmt not in WORD_VECTOR_FORMATS:
        raise ValueError(f'unknown word-vector format {fmt!r}; valid: '
                         f'{list(WORD_VECTOR_FORMATS)}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'word-vector file not found: {path!r}')
    if fmt == 'auto':
        fmt = detect_format(path)
    if fmt == 'kv':
        kv = KeyedVectors.load(path, mmap='r')
    else:
        size_mb = os.path.getsize(path) / 2**20
        kv = cached_keyed_vectors(
            cache_key(path, fmt), lambda: _read_with_gensim(path, fmt),
            cache_dir, description=f'{path} ({fmt}, {size_mb:.1f} MB)')
    kv.zs3_source = f'{fmt}:{osp.basename(path)}'
    return kv
