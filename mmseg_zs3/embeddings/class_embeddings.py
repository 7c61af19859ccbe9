"""``ClassEmbeddings``: class names, their vectors and how they were made.

File format (``.npz``, read with ``allow_pickle=False``, so loading a file
never runs code):

- ``format``: the string ``'mmseg_zs3.class_embeddings'``;
- ``version``: int, currently 1;
- ``names``: unicode array ``[C]``, the class names in row order;
- ``vectors``: float32 ``[C, D]``;
- ``meta``: a JSON string: ``sources`` (list), ``dim``, ``normalization``,
  and ``classes`` (per class: the phrase, tokens and strategy used for each
  source), plus whatever the producer adds (``imported_from``, ...).
"""
import io
import json
import os.path as osp
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmseg_zs3.fileio import atomic_open

FILE_FORMAT = 'mmseg_zs3.class_embeddings'
FILE_VERSION = 1
_CONVERT_HINT = ('convert published arrays with '
                 'tools/convert_class_embeddings.py')


def unusable_rows(names: Sequence[str],
                  vectors: np.ndarray) -> Dict[str, list]:
    """Classes whose rows cannot serve as class embeddings.

    A row with a NaN or an infinity poisons every loss it enters (stage 2
    logs ``loss: nan`` forever); an all-zero row has no direction, so cosine
    classifiers and L2 normalisation are undefined for it.

    Args:
        names (Sequence[str]): One name per row.
        vectors (np.ndarray): ``[C, D]``.

    Returns:
        dict[str, list[str]]: ``{'non-finite': [...], 'all-zero': [...]}``,
        only the kinds that occur; empty when every row is usable.
    """
    vectors = np.asarray(vectors)
    bad = {}
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad['non-finite'] = [n for n, ok in zip(names, finite) if not ok]
    zero = finite & ~vectors.any(axis=1)
    if zero.any():
        bad['all-zero'] = [n for n, z in zip(names, zero) if z]
    return bad


def format_unusable_rows(bad: Dict[str, list]) -> str:
    """``'non-finite (NaN/inf) rows for [...]; all-zero rows for [...]'``."""
    labels = {
        'non-finite': 'non-finite (NaN/inf) rows',
        'all-zero': 'all-zero rows'
    }
    return '; '.join(f'{labels[k]} for {v}' for k, v in bad.items())


def check_output_path(path: str,
                      option: str = '--out',
                      inputs: Sequence[str] = ()) -> None:
    """Check, before any work, that :meth:`ClassEmbeddings.save` can write
    ``path``.

    The nearest existing folder on the way to ``path`` must be a folder in
    which a file can be created (probed with a temporary file, removed at
    once: permission bits do not tell for root or read-only mounts).
    Nothing is created otherwise.

    Args:
        path (str): The output file.
        option (str): How the caller names it (``--out``). Defaults to
            ``'--out'``.
        inputs (Sequence[str]): Files the command reads; ``path`` may not be
            one of them. Defaults to ``()``.

    Raises:
        ValueError: ``path`` is empty, a folder or one of ``inputs``, or its
            folder cannot be created or written; the message names
            ``option`` and the path.
    """
    if not path:
        raise ValueError(f'{option} is empty: give an output .npz file')
    path = osp.abspath(osp.expanduser(path))
    for src in inputs:
        if osp.exists(src) and osp.exists(path) and osp.samefile(src, path):
            raise ValueError(f'{option} {path!r} is also an input: writing '
                             'it would overwrite that input')
    if osp.isdir(path):
        raise ValueError(f'{option} {path!r} is a folder; give a file name '
                         f'(e.g. {osp.join(path, "embeddings.npz")!r})')
    folder = osp.dirname(path)
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        raise ValueError(f'{option} {path!r} cannot be written: {folder!r} '
                         'is a file, not a folder')
    import tempfile
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise ValueError(
            f'{option} {path!r} cannot be written: the folder {folder!r} is '
            f'not writable ({e.strerror or e})') from None


class ClassEmbeddings:
    """A ``[C, D]`` class-embedding matrix whose rows are named.

    Args:
        names (Sequence[str]): The class names, one per row, unique.
        vectors (np.ndarray): ``[C, D]``; stored as float32.
        meta (dict, optional): JSON-serialisable provenance: ``sources``,
            ``dim``, ``normalization``, per-class ``classes``. Defaults to
            ``{}`` plus ``dim``.

    Raises:
        ValueError: ``vectors`` is not 2-D, its row count differs from the
            number of names, a name repeats, or a row is non-finite or
            all-zero (see :func:`unusable_rows`; the classes are named).
    """

    def __init__(self,
                 names: Sequence[str],
                 vectors: np.ndarray,
                 meta: Optional[dict] = None):
        names = [str(n) for n in names]
        with np.errstate(over='ignore'):  # overflow -> inf, refused below
            vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f'class embeddings must be a 2-D [classes, dim] '
                             f'array, got shape {vectors.shape}')
        if vectors.shape[0] != len(names):
            raise ValueError(f'{len(names)} class names for '
                             f'{vectors.shape[0]} rows')
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f'duplicate class names: {dup}')
        bad = unusable_rows(names, vectors)
        if bad:
            raise ValueError(
                f'class embeddings have {format_unusable_rows(bad)}: every '
                'class needs a finite, non-zero vector')
        self.names: List[str] = names
        self.vectors: np.ndarray = vectors
        self.meta: dict = dict(meta or {})
        self.meta['dim'] = int(vectors.shape[1])

    @property
    def dim(self) -> int:
        """int: The embedding dimension D."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self)} classes x {self.dim}, '
                f'normalization={self.meta.get("normalization")!r}, '
                f'sources={self.meta.get("sources")})')

    def __getitem__(self, name: str) -> np.ndarray:
        return self.vectors[self.index(name)]

    def index(self, name: str) -> int:
        """Row of ``name``; a KeyError names the close spellings."""
        try:
            return self.names.index(name)
        except ValueError:
            import difflib
            near = difflib.get_close_matches(name, self.names, n=3)
            raise KeyError(f'class {name!r} is not in the embeddings' +
                           (f'; close: {near}' if near else '')) from None

    def class_info(self, name: str) -> Optional[dict]:
        """The per-class record of ``meta['classes']`` for ``name``."""
        for rec in self.meta.get('classes', []):
            if rec.get('name') == name:
                return rec
        return None

    def reorder(self,
                classes: Sequence[str],
                drop_extra: bool = False) -> 'ClassEmbeddings':
        """Return a copy whose rows follow ``classes``, matched by name.

        Args:
            classes (Sequence[str]): The target class order (e.g. a dataset's
                ``METAINFO['classes']``).
            drop_extra (bool): Drop rows whose names are not in ``classes``
                (recorded in ``meta['dropped']``) instead of raising, e.g. the
                11 unused ids of a 182-row COCO-Stuff array for mmseg's 171
                classes. Defaults to False.

        Returns:
            ClassEmbeddings: The reordered embeddings.

        Raises:
            ValueError: A class of ``classes`` has no row, or (unless
                ``drop_extra``) a row has no class; both lists are named.
        """
        classes = [str(c) for c in classes]
        have = set(self.names)
        missing = [c for c in classes if c not in have]
        wanted = set(classes)
        extra = [n for n in self.names if n not in wanted]
        if len(wanted) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f'target class list has duplicates: {dup}')
        if missing or (extra and not drop_extra):
            import difflib
            lines = []
            for c in missing:
                near = difflib.get_close_matches(c, extra or self.names, n=3)
                lines.append(f'  missing {c!r}' +
                             (f' (embeddings have {near})' if near else ''))
            if not drop_extra:
                lines += [f'  extra {n!r}' for n in extra]
            raise ValueError(
                f'class embeddings ({len(self)} classes) do not match the '
                f'target class list ({len(classes)} classes):\n' +
                '\n'.join(lines))
        rows = [self.names.index(c) for c in classes]
        meta = json.loads(json.dumps(self.meta))
        if 'classes' in meta:
            by_name = {r.get('name'): r for r in meta['classes']}
            meta['classes'] = [by_name[c] for c in classes if c in by_name]
        if extra:
            meta['dropped'] = list(meta.get('dropped', [])) + extra
        return ClassEmbeddings(classes, self.vectors[rows], meta)

    def save(self, path: str) -> None:
        """Write the file atomically (temporary file + ``os.replace``).

        Args:
            path (str): Output path; ``.npz`` is the conventional suffix.
        """
        buf = io.BytesIO()
        np.savez(
            buf,
            format=np.array(FILE_FORMAT),
            version=np.array(FILE_VERSION),
            names=np.array(self.names, dtype=str),
            vectors=self.vectors,
            meta=np.array(json.dumps(self.meta, sort_keys=True)))
        with atomic_open(path) as f:
            f.write(buf.getvalue())

    @classmethod
    def load(cls, path: str) -> 'ClassEmbeddings':
        """Read a file written by :meth:`save`.

        Args:
            path (str): The ``.npz`` file.

        Returns:
            ClassEmbeddings: The embeddings.

        Raises:
            FileNotFoundError: No such file.
            ValueError: The file is not a complete class-embedding file
                (truncated, another ``.npz``/``.npy``, a pickle, a newer
                version) or holds unusable rows; the message names the file
                and what is wrong.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(f'class-embedding file not found: '
                                    f'{path!r}')
        if osp.getsize(path) == 0:
            raise ValueError(f'class-embedding file {path!r} is empty '
                             '(0 bytes)')
        if not zipfile.is_zipfile(path):
            with open(path, 'rb') as f:
                head = f.read(6)
            what = ('a .npy array' if head == b'\x93NUMPY' else
                    'truncated (its zip archive has no central directory)'
                    if head.startswith(b'PK') else 'not an .npz archive')
            raise ValueError(
                f'{path!r} is not a class-embedding file: it is {what}. '
                f'Build one with tools/build_class_embeddings.py, or '
                f'{_CONVERT_HINT}')
        try:
            with np.load(path, allow_pickle=False) as z:
                data: Dict[str, np.ndarray] = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(
                f'{path!r} is not a readable class-embedding file written by '
                f'ClassEmbeddings.save ({type(e).__name__}: {e}); '
                f'{_CONVERT_HINT}') from None
        if str(data.get('format', '')) != FILE_FORMAT:
            raise ValueError(f'{path!r} is not a {FILE_FORMAT} file (keys '
                             f'{sorted(data)}); {_CONVERT_HINT}')
        missing = [
            k for k in ('version', 'names', 'vectors', 'meta') if k not in data
        ]
        if missing:
            raise ValueError(f'{path!r} lacks the entries {missing} of a '
                             f'{FILE_FORMAT} file')
        version = int(data['version'])
        if version > FILE_VERSION:
            raise ValueError(f'{path!r} has format version {version}; this '
                             f'code reads up to {FILE_VERSION}')
        try:
            meta = json.loads(str(data['meta']))
        except ValueError as e:
            raise ValueError(f'{path!r}: its meta entry is not JSON '
                             f'({e})') from None
        try:
            return cls([str(n) for n in data['names']], data['vectors'], meta)
        except (ValueError, TypeError) as e:
            raise ValueError(f'{path!r}: {e}') from None
