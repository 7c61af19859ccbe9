"""Loading word vectors with gensim, with a memory-mapped cache.

Every data format (word2vec binary/text, GloVe text, fastText ``.bin``) is
read by gensim's own loader, once; the result is cached as plain arrays
(``.npy``, read with ``allow_pickle=False``) plus a JSON word list and
memory-mapped (``mmap_mode='r'``) on every later call, so a second run costs
about a second even for millions of words. Nothing in the cache is a pickle,
so a file planted in a cache folder cannot run code.

gensim's native ``.kv`` / ``.model`` files *are* pickles: they are read only
with ``trust_pickle=True`` (``--trust-pickle``), for files the user trusts.

The cache entry is keyed by the source's absolute path, size, modification
time and format. It is written into a temporary directory, with a manifest
of the file sizes written last, and renamed into place with ``os.replace``;
a load checks the manifest first. An entry that fails the check (cut short,
edited, left by a crash) is named in a warning and rebuilt, never trusted.
"""
import codecs
import hashlib
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from ..utils.cache_dir import user_cache_dir

WORD_VECTOR_FORMATS = ('word2vec_bin', 'word2vec_text', 'glove', 'fasttext',
                       'kv', 'auto')
# What the error for an unreadable file lists as accepted.
ACCEPTED_FORMATS = (
    'word2vec binary (.bin: a "count dim" header, then binary floats), '
    'word2vec text (a "count dim" header, then "word v1 v2 ..." lines), '
    'GloVe text ("word v1 v2 ..." lines, no header), fastText .bin models, '
    'and gensim .kv/.model files (pickles: only with --trust-pickle); '
    'text files may be .gz or .bz2')
CACHE_FORMAT = 'mmseg_zs3.word_vectors_cache'
CACHE_VERSION = 2
MANIFEST = 'manifest.json'
_FASTTEXT_MAGIC = (793712314).to_bytes(4, 'little')


class CacheEntryError(ValueError):
    """A word-vector cache entry is incomplete or inconsistent."""


def default_cache_dir(cache_dir: Optional[str] = None) -> str:
    """The word-vector cache directory.

    Args:
        cache_dir (str, optional): Used as is when given. Otherwise
            ``$MMSEG_ZS3_CACHE/word_vectors`` when that variable is set, else
            ``~/.cache/mmseg_zs3/word_vectors``.

    Returns:
        str: The directory (not created).
    """
    return user_cache_dir('word_vectors', cache_dir)


def _opener(path: str):
    if path.endswith('.gz'):
        import gzip
        return gzip.open
    if path.endswith('.bz2'):
        import bz2
        return bz2.open
    return open


def _head(path: str,
          skip_line: bool = False,
          size: int = 1 << 16,
          lines: int = 1) -> list:
    """The first ``lines`` lines (at most ``size`` bytes each), or, with
    ``skip_line``, the ``size`` bytes after the first line."""
    try:
        with _opener(path)(path, 'rb') as f:
            if skip_line:
                f.readline()
                return [f.read(size)]
            return [f.readline(size) for _ in range(lines)]
    except (OSError, EOFError) as e:  # e.g. a .gz that is not gzip
        raise _unreadable(path, f'{type(e).__name__}: {e}') from None


def _unreadable(path: str, reason: str) -> ValueError:
    return ValueError(f'{path!r} is not a word-vector file this package '
                      f'reads ({reason}). Accepted: {ACCEPTED_FORMATS}')


def _floats(tokens) -> bool:
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return bool(tokens)


def _text_line(path: str, line: bytes, what: str) -> list:
    try:  # incremental: a line cut at the read limit may end mid-character
        return codecs.getincrementaldecoder('utf-8')().decode(line).split()
    except UnicodeDecodeError:
        raise _unreadable(
            path, f'its {what} is not UTF-8 text, and it is not a fastText '
            'or word2vec binary file') from None


def detect_format(path: str) -> str:
    """Guess the format of a word-vector file from its name and first bytes.

    Args:
        path (str): The file.

    Returns:
        str: One of ``'kv'``, ``'fasttext'``, ``'word2vec_bin'``,
        ``'word2vec_text'`` (a ``"count dim"`` header line) or ``'glove'``
        (text without a header).

    Raises:
        ValueError: The file is none of these (binary data that is no
            fastText or word2vec file, JSON, an empty file, ...); the
            message names the file and the accepted formats.
    """
    if path.endswith(('.kv', '.model', '.kv.gz')):
        return 'kv'
    first, = _head(path)
    if first[:4] == _FASTTEXT_MAGIC:
        return 'fasttext'
    if not first.strip():
        raise _unreadable(
            path, 'it is empty' if not first else 'its first line is empty')
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        # word2vec header; binary files have raw float bytes after it.
        sample, = _head(path, skip_line=True, size=4096)
        try:  # incremental: a character cut at the sample's end is fine
            codecs.getincrementaldecoder('utf-8')().decode(sample)
            return 'word2vec_text'
        except UnicodeDecodeError:
            return 'word2vec_bin'
    return 'glove'


def check_word_vector_file(path: str, fmt: str) -> None:
    """Check the first lines of a word-vector file against its format.

    Cheap (reads a few lines), so a wrong file fails before any work with an
    error that names it, instead of deep inside gensim (``'utf-8' codec
    can't decode``, ``could not convert string to float``).

    Args:
        path (str): The file.
        fmt (str): Its format (not ``'auto'``).

    Raises:
        ValueError: The file does not look like ``fmt``.
    """
    if fmt == 'kv':
        return
    first, second = _head(path, size=1 << 20, lines=2)
    if fmt == 'fasttext':
        if first[:4] != _FASTTEXT_MAGIC:
            raise _unreadable(
                path, 'it does not start with the fastText '
                'magic number')
        return
    if fmt in ('word2vec_bin', 'word2vec_text'):
        header = _text_line(path, first, 'header')
        if len(header) != 2 or not all(t.isdigit() for t in header):
            raise _unreadable(
                path, f'{fmt} starts with a "count dim" '
                f'header line, not {first[:40]!r}')
        if fmt == 'word2vec_text' and int(header[0]) > 0:
            row = _text_line(path, second, 'second line')
            if len(row) != int(header[1]) + 1 or not _floats(row[1:]):
                raise _unreadable(
                    path, f'after the header "{header[0]} {header[1]}" '
                    f'each line is a word and {header[1]} numbers, not '
                    f'{second[:40]!r}')
        return
    row = _text_line(path, first, 'first line')
    if len(row) < 2 or not _floats(row[1:]):
        raise _unreadable(
            path, f'GloVe lines are a word and numbers, the '
            f'first line is {first[:40]!r}')


def _read_with_gensim(path: str, fmt: str):
    import struct

    from gensim.models import KeyedVectors
    try:
        if fmt == 'word2vec_bin':
            return KeyedVectors.load_word2vec_format(path, binary=True)
        if fmt == 'word2vec_text':
            return KeyedVectors.load_word2vec_format(path, binary=False)
        if fmt == 'glove':
            return KeyedVectors.load_word2vec_format(
                path, binary=False, no_header=True)
        if fmt == 'fasttext':
            # Keeps the n-gram buckets: out-of-vocabulary words get a vector
            # from their character n-grams.
            from gensim.models.fasttext import load_facebook_vectors
            return load_facebook_vectors(path)
    except (ValueError, EOFError, IndexError, OverflowError, MemoryError,
            struct.error) as e:
        raise _unreadable(
            path, f'gensim cannot read it as {fmt}: '
            f'{type(e).__name__}: {e}') from None
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


def _write_entry(kv, folder: str) -> None:
    """Write ``kv`` as arrays + word list; the manifest last."""
    arrays = {'vectors': np.asarray(kv.vectors, dtype=np.float32)}
    manifest = dict(
        format=CACHE_FORMAT,
        version=CACHE_VERSION,
        words=len(kv.index_to_key),
        vector_size=int(kv.vector_size),
        kind='keyed')
    if getattr(kv, 'bucket', 0) > 0 and hasattr(kv, 'vectors_ngrams'):
        arrays['vectors_ngrams'] = np.asarray(
            kv.vectors_ngrams, dtype=np.float32)
        manifest.update(
            kind='fasttext',
            min_n=int(kv.min_n),
            max_n=int(kv.max_n),
            bucket=int(kv.bucket))
    for name, arr in arrays.items():
        np.save(osp.join(folder, f'{name}.npy'), arr, allow_pickle=False)
    with open(osp.join(folder, 'words.json'), 'w', encoding='utf-8') as f:
        json.dump(list(kv.index_to_key), f, ensure_ascii=False)
    manifest['files'] = {
        name: osp.getsize(osp.join(folder, name))
        for name in sorted(os.listdir(folder))
    }
    with open(osp.join(folder, MANIFEST), 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _read_entry(folder: str):
    """Memory-map a cache entry written by :func:`_write_entry`.

    Raises:
        CacheEntryError: The manifest is missing or unreadable, a file is
            missing or of another size, or the arrays do not match it.
    """
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import FastTextKeyedVectors
    try:
        with open(osp.join(folder, MANIFEST), encoding='utf-8') as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise CacheEntryError('no manifest (left by a crash or an older '
                              'version)') from None
    except (ValueError, OSError) as e:
        raise CacheEntryError(f'unreadable manifest ({e})') from None
    if not isinstance(manifest, dict) or manifest.get('format') != \
            CACHE_FORMAT or manifest.get('version') != CACHE_VERSION:
        raise CacheEntryError('the manifest is not a version-'
                              f'{CACHE_VERSION} {CACHE_FORMAT} manifest')
    files = manifest.get('files')
    if not isinstance(files, dict) or not {'vectors.npy', 'words.json'
                                           } <= set(files):
        raise CacheEntryError('the manifest lists no vectors.npy and '
                              'words.json')
    for name, size in files.items():
        path = osp.join(folder, name)
        actual = osp.getsize(path) if osp.isfile(path) else None
        if actual != size:
            found = 'missing' if actual is None else f'{actual} bytes'
            raise CacheEntryError(f'{name} is {found}; the manifest says '
                                  f'{size} bytes')
    try:
        with open(osp.join(folder, 'words.json'), encoding='utf-8') as f:
            words = json.load(f)
        vectors = np.load(
            osp.join(folder, 'vectors.npy'), mmap_mode='r', allow_pickle=False)
        count, dim = int(manifest['words']), int(manifest['vector_size'])
        if vectors.shape != (count, dim) or len(words) != count:
            raise CacheEntryError(
                f'{len(words)} words and vectors of shape {vectors.shape}; '
                f'the manifest says {count} x {dim}')
        if manifest.get('kind') == 'fasttext':
            ngrams = np.load(
                osp.join(folder, 'vectors_ngrams.npy'),
                mmap_mode='r',
                allow_pickle=False)
            if ngrams.shape != (manifest['bucket'], dim):
                raise CacheEntryError(f'n-gram vectors of shape '
                                      f'{ngrams.shape}')
            kv = FastTextKeyedVectors(dim, manifest['min_n'],
                                      manifest['max_n'], manifest['bucket'])
            kv.vectors_ngrams = ngrams
        else:
            kv = KeyedVectors(dim)
    except CacheEntryError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as e:
        raise CacheEntryError(f'{type(e).__name__}: {e}') from None
    kv.index_to_key = words
    kv.key_to_index = {w: i for i, w in enumerate(words)}
    kv.vectors = vectors
    kv.allocate_vecattrs()
    return kv


def cached_keyed_vectors(key: str,
                         build,
                         cache_dir: Optional[str] = None,
                         description: str = ''):
    """Return cached KeyedVectors for ``key``, building them once.

    Args:
        key (str): The cache entry name (the cache version is appended).
        build (callable): Returns KeyedVectors; called on a cache miss, and
            when the entry fails its manifest check (then the entry is named
            in a warning and replaced).
        cache_dir (str, optional): See :func:`default_cache_dir`.
        description (str): What is loaded, for the log.

    Returns:
        gensim.models.KeyedVectors: Memory-mapped from the cache.
    """
    root = default_cache_dir(cache_dir)
    entry = osp.join(root, f'{key}-v{CACHE_VERSION}')
    if osp.isdir(entry):
        try:
            return _read_entry(entry)
        except CacheEntryError as e:
            print_log(
                f'Word-vector cache entry {entry} is corrupt ({e}); '
                'not trusted: rebuilding it',
                logger='current',
                level=logging.WARNING)
    os.makedirs(root, exist_ok=True)
    print_log(
        f'Reading word vectors {description} (one-time; cached '
        f'in {entry})',
        logger='current')
    t0 = time.perf_counter()
    kv = build()
    print_log(
        f'Read {len(kv.index_to_key)} words x {kv.vector_size} '
        f'dims in {time.perf_counter() - t0:.1f} s; writing cache',
        logger='current')
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(entry)}.tmp-', dir=root)
    try:
        _write_entry(kv, tmp)
        if osp.isdir(entry):  # the corrupt entry: move it aside, then drop
            old = tempfile.mkdtemp(
                prefix=f'.{osp.basename(entry)}.corrupt-', dir=root)
            os.replace(entry, osp.join(old, 'entry'))
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            # Another process finished the same entry first: use it.
            if not osp.isfile(osp.join(entry, MANIFEST)):
                raise
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return _read_entry(entry)


def _load_pickled_kv(path: str):
    """gensim's own ``.kv``/``.model`` loader (a pickle)."""
    from gensim.models import KeyedVectors
    obj = KeyedVectors.load(path, mmap='r')
    if not isinstance(obj, KeyedVectors) and hasattr(obj, 'wv'):
        obj = obj.wv  # a full Word2Vec / FastText model
    if not isinstance(obj, KeyedVectors):
        raise _unreadable(
            path, f'it holds a {type(obj).__name__}, not '
            'gensim KeyedVectors or a model with .wv')
    return obj


def check_word_vector_source(path: str,
                             fmt: str = 'auto',
                             trust_pickle: bool = False) -> str:
    """Everything :func:`load_word_vectors` checks before reading a file.

    Cheap (a few lines of the file), so a tool can check all its sources
    before it spends minutes reading the first one.

    Args:
        path (str): The vectors file.
        fmt (str): See :func:`load_word_vectors`. Defaults to ``'auto'``.
        trust_pickle (bool): See :func:`load_word_vectors`. Defaults to
            False.

    Returns:
        str: The resolved format.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Unknown ``fmt``; a pickle-based file without
            ``trust_pickle``; a file that is not of the format (the message
            names the file and the accepted formats).
    """
    if fmt not in WORD_VECTOR_FORMATS:
        raise ValueError(f'unknown word-vector format {fmt!r}; valid: '
                         f'{list(WORD_VECTOR_FORMATS)}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'word-vector file not found: {path!r}')
    if fmt == 'auto':
        fmt = detect_format(path)
    if fmt == 'kv' and not trust_pickle:
        raise ValueError(
            f'refusing to read {path!r}: gensim .kv/.model files are Python '
            f'pickles, and loading a pickle runs any code its author put in '
            f'it. Pass --trust-pickle (trust_pickle=True) only for a file '
            f'you made or trust, or use the vectors in a data format: '
            f'{ACCEPTED_FORMATS}')
    check_word_vector_file(path, fmt)
    return fmt


def load_word_vectors(path: str,
                      fmt: str = 'auto',
                      cache_dir: Optional[str] = None,
                      trust_pickle: bool = False):
    """Load word vectors with gensim, through a memory-mapped cache.

    Args:
        path (str): The vectors file: word2vec binary or text, GloVe text
            (no header), a fastText ``.bin`` model (gensim's facebook loader,
            which also embeds out-of-vocabulary words from character
            n-grams), or gensim's native KeyedVectors / model (``.kv``,
            ``.model``; only with ``trust_pickle``).
        fmt (str): ``'word2vec_bin'``, ``'word2vec_text'``, ``'glove'``,
            ``'fasttext'``, ``'kv'`` or ``'auto'`` (from the name and first
            bytes, see :func:`detect_format`). Defaults to ``'auto'``.
        cache_dir (str, optional): Where converted files are cached. Defaults
            to ``$MMSEG_ZS3_CACHE/word_vectors`` or
            ``~/.cache/mmseg_zs3/word_vectors``. Native ``.kv`` files are
            memory-mapped in place and not cached.
        trust_pickle (bool): Read gensim's native ``.kv``/``.model`` files.
            They are Python pickles: loading one runs whatever code its
            author put in it, so pass True only for a file you made or
            trust. Defaults to False.

    Returns:
        gensim.models.KeyedVectors: With an extra ``zs3_source`` attribute
        (``'<format>:<file name>'``) that class embeddings record.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Unknown ``fmt``; a pickle-based file without
            ``trust_pickle``; a file that is not of the format (the message
            names the file and the accepted formats).
    """
    fmt = check_word_vector_source(path, fmt, trust_pickle)
    if fmt == 'kv':
        kv = _load_pickled_kv(path)
    else:
        size_mb = os.path.getsize(path) / 2**20
        kv = cached_keyed_vectors(
            cache_key(path, fmt),
            lambda: _read_with_gensim(path, fmt),
            cache_dir,
            description=f'{path} ({fmt}, {size_mb:.1f} MB)')
    kv.zs3_source = f'{fmt}:{osp.basename(path)}'
    return kv
